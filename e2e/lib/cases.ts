// The shape of a GPU test: a kernel family offers named cases (a parameter grid with stable names);
// each case runs on the page and reports a comparison against its CPU reference.
import type { KernelContext } from 'webmoe';
import type { Comparison } from './compare';

export interface CaseResult {
  name: string;
  ok: boolean;
  /** One line for the log: tolerance, worst error, what was compared. */
  summary: string;
  comparisons: Record<string, Comparison>;
  ms: number;
}

export interface KernelCase {
  /** Stable across runs, e.g. "rows=7,cols=33,shape=row". */
  name: string;
  run(ctx: KernelContext): Promise<Record<string, Comparison>>;
}

export interface KernelFamily {
  cases(): KernelCase[];
}

/** Builds the cartesian product of a parameter grid, in a fixed order. */
export function grid<T extends Record<string, readonly unknown[]>>(axes: T): { [K in keyof T]: T[K][number] }[] {
  let rows: Record<string, unknown>[] = [{}];
  for (const [key, values] of Object.entries(axes)) {
    rows = rows.flatMap((r) => values.map((v) => ({ ...r, [key]: v })));
  }
  return rows as { [K in keyof T]: T[K][number] }[];
}

export function caseName(params: Record<string, unknown>): string {
  return Object.entries(params).map(([k, v]) => `${k}=${String(v)}`).join(',');
}
