// The page Playwright drives: it acquires the GPU once, then runs named kernel cases on request and
// returns plain results (no GPU objects cross into Node).
import { adapterName, acquireGpu, createKernelContext, type AdapterSummary, type KernelContext } from 'webmoe';
import { runCase } from '../lib/run-case';
import type { CaseResult, KernelCase } from '../lib/cases';
import { KERNEL_FAMILIES, type KernelFamilyName } from '../lib/families';
import { registry } from '../kernels/index';

export interface HarnessApi {
  ready: Promise<AdapterSummary>;
  families(): readonly string[];
  list(family: KernelFamilyName): string[];
  run(family: KernelFamilyName, name: string): Promise<CaseResult>;
  /**
   * The family's cases from index `from` of list(family) on, in order, until `budgetMs` has passed (at least
   * one): one page call for many cheap cases, where a call per case cost ~7 ms of round trip beside cases
   * of 1-10 ms.
   */
  runFrom(family: KernelFamilyName, from: number, budgetMs: number): Promise<CaseResult[]>;
}

const log = document.getElementById('log')!;
// The page shows the adapter, every failure and the last case, not a line per case: a log that grows by
// thousands of lines is laid out again on each frame, which cost cheap cases 20× their time (120 rope
// cases: 0.7 s beside an empty log, 12-16 s beside 3000 lines).
const last = document.createTextNode('');
function report(line: string, keep: boolean): void {
  if (keep) log.insertBefore(document.createTextNode(`${line}\n`), last);
  else last.data = line;
}
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

async function runOne(family: KernelFamilyName, c: KernelCase): Promise<CaseResult> {
  const r = await runCase(ctx!, c);
  report(`${family}/${c.name}: ${r.ok ? 'ok' : r.summary.startsWith('threw') ? 'ERROR' : 'FAIL'} ${r.summary}`, !r.ok);
  return r;
}

const api: HarnessApi = {
  ready: (async () => {
    const missing = KERNEL_FAMILIES.filter((f) => !(f in registry));
    if (missing.length) throw new Error(`families without cases: ${missing.join(', ')}`);
    const gpu = await acquireGpu();
    ctx = createKernelContext(gpu);
    log.textContent = `adapter: ${adapterName(gpu.summary)}\n`;
    log.append(last);
    return gpu.summary;
  })(),
  families: () => KERNEL_FAMILIES,
  list: (family) => cases(family).map((c) => c.name),
  async run(family, name) {
    await api.ready;
    const c = cases(family).find((k) => k.name === name);
    if (!c) throw new Error(`no case ${family}/${name}`);
    return runOne(family, c);
  },
  async runFrom(family, from, budgetMs) {
    await api.ready;
    const all = cases(family);
    const out: CaseResult[] = [];
    const t0 = performance.now();
    for (let i = from; i < all.length && (!out.length || performance.now() - t0 < budgetMs); i++) out.push(await runOne(family, all[i]));
    return out;
  },
};

(window as unknown as { webmoeHarness: HarnessApi }).webmoeHarness = api;
