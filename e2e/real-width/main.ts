// The page e2e/kernels-real-width.spec.ts drives: the cases of ./cases.ts, one at a time on request.
import { adapterName, acquireGpu, createKernelContext, type KernelContext } from 'webmoe';
import type { CaseResult } from '../lib/cases';
import { runCase } from '../lib/run-case';
import { REAL_WIDTH_CASES } from './cases';

export interface RealWidthApi {
  ready: Promise<string>;
  list(): string[];
  run(name: string): Promise<CaseResult>;
}

let ctx: KernelContext | null = null;
const log = document.getElementById('log')!;

const api: RealWidthApi = {
  ready: (async () => {
    const gpu = await acquireGpu();
    ctx = createKernelContext(gpu);
    return adapterName(gpu.summary);
  })(),
  list: () => REAL_WIDTH_CASES.map((c) => c.name),
  async run(name) {
    await api.ready;
    const c = REAL_WIDTH_CASES.find((k) => k.name === name);
    if (!c) throw new Error(`no case ${name}`);
    const r = await runCase(ctx!, c);
    log.textContent += `${name}: ${r.ok ? 'ok' : 'FAIL'} ${r.summary}\n`;
    return r;
  },
};

(window as unknown as { realWidth: RealWidthApi }).realWidth = api;
