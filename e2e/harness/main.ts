// The page Playwright drives: it acquires the GPU once, then runs named kernel cases on request and
// returns plain results (no GPU objects cross into Node).
import { acquireGpu, createKernelContext, isWebmoeError, type AdapterSummary, type KernelContext } from 'webmoe';
import { describeComparison } from '../lib/compare';
import type { CaseResult, KernelCase } from '../lib/cases';
import { KERNEL_FAMILIES, type KernelFamilyName } from '../lib/families';
import { registry } from '../kernels/index';

export interface HarnessApi {
  ready: Promise<AdapterSummary>;
  families(): readonly string[];
  list(family: KernelFamilyName): string[];
  run(family: KernelFamilyName, name: string): Promise<CaseResult>;
}

const log = document.getElementById('log')!;
let ctx: KernelContext | null = null;
const casesByFamily = new Map<string, KernelCase[]>();

function cases(family: KernelFamilyName): KernelCase[] {
  let c = casesByFamily.get(family);
  if (!c) {
    const fam = registry[family];
    if (!fam) throw new Error(`kernel family ${family} is not in the harness registry`);
    c = fam.cases();
    casesByFamily.set(family, c);
  }
  return c;
}

const api: HarnessApi = {
  ready: (async () => {
    const missing = KERNEL_FAMILIES.filter((f) => !(f in registry));
    if (missing.length) throw new Error(`families without cases: ${missing.join(', ')}`);
    const gpu = await acquireGpu();
    ctx = createKernelContext(gpu);
    log.textContent = `adapter: ${gpu.summary.vendor} ${gpu.summary.architecture} ${gpu.summary.description}\n`;
    return gpu.summary;
  })(),
  families: () => KERNEL_FAMILIES,
  list: (family) => cases(family).map((c) => c.name),
  async run(family, name) {
    await api.ready;
    const c = cases(family).find((k) => k.name === name);
    if (!c) throw new Error(`no case ${family}/${name}`);
    const t0 = performance.now();
    try {
      const comparisons = await c.run(ctx!);
      const entries = Object.entries(comparisons);
      const ok = entries.length > 0 && entries.every(([, v]) => v.ok);
      const summary = entries.map(([k, v]) => `${k}: ${v.ok ? `max |err| ${v.maxAbsErr.toExponential(2)}` : describeComparison(v)}`).join('; ');
      log.textContent += `${family}/${name}: ${ok ? 'ok' : 'FAIL'} ${summary}\n`;
      return { name, ok, summary, comparisons, ms: performance.now() - t0 };
    } catch (e) {
      const msg = isWebmoeError(e) ? `${e.code}: ${e.message}` : e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      log.textContent += `${family}/${name}: ERROR ${msg}\n`;
      return { name, ok: false, summary: `threw ${msg}`, comparisons: {}, ms: performance.now() - t0 };
    }
  },
};

(window as unknown as { webmoeHarness: HarnessApi }).webmoeHarness = api;
