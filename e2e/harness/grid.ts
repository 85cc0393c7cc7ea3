// The kernel grids outside a browser: every family of lib/families.ts (and the real-width cases) on a GPU
// object the caller brings, such as Dawn's in Node (`webmoe kernels`, packages/cli/src/kernels.ts). It is
// how the grids reach adapters Chromium here cannot offer: a real GPU with its subgroup size and
// shader-f16 (scripts/gpu-bench.sh carries it to one).
import { acquireGpu, createKernelContext, type AdapterSummary } from 'webmoe';
import type { CaseResult, KernelCase } from '../lib/cases';
import { FAMILY_FEATURES, KERNEL_FAMILIES, type KernelFamilyName } from '../lib/families';
import { runCase } from '../lib/run-case';
import { registry } from '../kernels/index';
import { REAL_WIDTH_CASES } from '../real-width/cases';

/** The families this grid knows: the browser harness's, and `real-width`. */
export const GRID_FAMILIES: readonly string[] = [...KERNEL_FAMILIES, 'real-width'];

export interface GridFamilyReport {
  family: string;
  passed: number;
  total: number;
  ms: number;
  /** Every failed case with its one-line summary (tolerance, worst element, or what it threw). */
  failures: { name: string; summary: string }[];
}

export interface GridReport {
  adapter: AdapterSummary;
  families: GridFamilyReport[];
  /** Families not run: the device lacks the feature they need (lib/families.ts FAMILY_FEATURES). */
  skipped: { family: string; reason: string }[];
  passed: number;
  total: number;
  ms: number;
}

export interface GridOptions {
  gpu: GPU;
  /** Families to run (default: all of GRID_FAMILIES); an unknown name is an error that lists the known. */
  families?: readonly string[];
  /** Only cases whose name contains this text. */
  filter?: string;
  /** One line per finished family and per failure. */
  log?: (line: string) => void;
}

function familyCases(family: string): KernelCase[] {
  if (family === 'real-width') return REAL_WIDTH_CASES;
  return registry[family as keyof typeof registry].cases();
}

export async function runKernelGrid(o: GridOptions): Promise<GridReport> {
  const families = o.families ?? GRID_FAMILIES;
  const unknown = families.filter((f) => !GRID_FAMILIES.includes(f));
  if (unknown.length) throw new Error(`unknown kernel family ${unknown.join(', ')}; the families are ${GRID_FAMILIES.join(', ')}`);
  const log = o.log ?? (() => undefined);
  const gpu = await acquireGpu({ gpu: o.gpu });
  const ctx = createKernelContext(gpu);
  const t0 = performance.now();
  const reports: GridFamilyReport[] = [];
  const skipped: GridReport['skipped'] = [];
  try {
    for (const family of families) {
      const needs = FAMILY_FEATURES[family as KernelFamilyName];
      if (needs && !gpu.device.features.has(needs)) {
        skipped.push({ family, reason: `the device has no ${needs}` });
        log(`${family}: skipped (the device has no ${needs})`);
        continue;
      }
      const cases = familyCases(family).filter((c) => !o.filter || c.name.includes(o.filter));
      const results: CaseResult[] = [];
      for (const c of cases) {
        const r = await runCase(ctx, c);
        if (!r.ok) log(`  FAIL ${family}/${r.name}: ${r.summary}`);
        results.push(r);
      }
      const report: GridFamilyReport = {
        family, total: results.length, passed: results.filter((r) => r.ok).length,
        ms: results.reduce((a, r) => a + r.ms, 0), failures: results.filter((r) => !r.ok).map((r) => ({ name: r.name, summary: r.summary })),
      };
      log(`${family}: ${report.passed}/${report.total} cases passed (${(report.ms / 1000).toFixed(1)} s)`);
      reports.push(report);
    }
  } finally {
    gpu.destroy();
  }
  return {
    adapter: gpu.summary, families: reports, skipped, ms: performance.now() - t0,
    passed: reports.reduce((a, r) => a + r.passed, 0), total: reports.reduce((a, r) => a + r.total, 0),
  };
}
