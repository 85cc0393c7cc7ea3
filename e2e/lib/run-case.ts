// One kernel case run against its CPU reference, as the browser harness (harness/main.ts) and the Node grid
// (harness/grid.ts, `webmoe kernels`) both report it: an exception is a failed case, not a failed run.
import { isWebmoeError, type KernelContext } from 'webmoe';
import { describeComparison } from './compare';
import type { CaseResult, KernelCase } from './cases';

export async function runCase(ctx: KernelContext, c: KernelCase): Promise<CaseResult> {
  const t0 = performance.now();
  try {
    const comparisons = await c.run(ctx);
    const entries = Object.entries(comparisons);
    const ok = entries.length > 0 && entries.every(([, v]) => v.ok);
    const summary = entries.map(([k, v]) => `${k}: ${v.ok ? `max |err| ${v.maxAbsErr.toExponential(2)}` : describeComparison(v)}`).join('; ');
    return { name: c.name, ok, summary, comparisons, ms: performance.now() - t0 };
  } catch (e) {
    const msg = isWebmoeError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    return { name: c.name, ok: false, summary: `threw ${msg}`, comparisons: {}, ms: performance.now() - t0 };
  }
}
