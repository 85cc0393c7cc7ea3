// The page e2e/model.spec.ts drives: whole models on the GPU (GpuModel), loaded from converted folders
// that the spec prepared, returning logits rows and tokens as plain arrays.
import { WebmoeError, acquireGpu, loadGpuModelFromUrl, type GpuContext, type GpuModel, type KernelShape, type MlaDecodeKernel } from 'webmoe';
import { greedyRows } from '../lib/greedy';

export interface ModelHarness {
  /** `shape`: every kernel family in that shape (no autotune), e.g. 'workgroup' for the GPU arrangement on a software adapter. */
  load(url: string, contextLength: number, prefillChunk?: number, shape?: KernelShape, mlaDecode?: MlaDecodeKernel): Promise<void>;
  /** Feeds ids after what the cache holds; returns the logits after the last one. */
  logitsAfter(ids: number[]): Promise<number[]>;
  /** Greedy continuation from a fresh cache: logits[0] after the prompt, logits[i] after tokens[i-1]. */
  greedy(prompt: number[], n: number): Promise<{ tokens: number[]; logits: number[][] }>;
  /** Same through prefill/decode with GPU sampling at temperature 0 (4-byte readback per step). */
  sampleGreedy(prompt: number[], n: number): Promise<number[]>;
  reset(): void;
  /** prefill() keeping `reuse` cached positions, then the logits after the prompt and the reused count. */
  prefillLogits(ids: number[], reuse: number): Promise<{ logits: number[]; reused: number }>;
  /** Runs `f` and returns the error's code and message (or null). */
  errorOf(what: 'logits' | 'prefill', ids: number[]): Promise<{ code: string; message: string } | null>;
}

let gpu: GpuContext | null = null;
let model: GpuModel | null = null;

const greedyParams = (step: number) => ({ temperature: 0, topP: 1, topK: 0, seed: 0, step });

const harness: ModelHarness = {
  async load(path, contextLength, prefillChunk, shape, mlaDecode) {
    model?.dispose();
    gpu ??= await acquireGpu();
    model = (await loadGpuModelFromUrl(gpu, path, { contextLength, ...(prefillChunk ? { prefillChunk } : {}), ...(shape ? { shape } : {}), ...(mlaDecode ? { mlaDecode } : {}) })).model;
  },
  async logitsAfter(ids) {
    return Array.from(await model!.logitsAfter(ids));
  },
  greedy: (prompt, n) => greedyRows(model!, prompt, n),
  async sampleGreedy(prompt, n) {
    model!.reset();
    const tokens = [(await model!.prefill(prompt, { reusePrefix: 0, sampling: greedyParams(0) })).next];
    while (tokens.length < n) tokens.push(...await model!.decode(tokens.at(-1)!, greedyParams(tokens.length)));
    tokens.length = n;
    return tokens;
  },
  reset() {
    model!.reset();
  },
  async prefillLogits(ids, reuse) {
    const r = await model!.prefill(ids, { reusePrefix: reuse, sampling: greedyParams(0) });
    return { logits: Array.from(await model!.readLogits()), reused: r.reusedTokens };
  },
  async errorOf(what, ids) {
    try {
      if (what === 'logits') await model!.logitsAfter(ids);
      else await model!.prefill(ids, { reusePrefix: 0, sampling: greedyParams(0) });
      return null;
    } catch (e) {
      return e instanceof WebmoeError ? { code: e.code, message: e.message } : { code: 'not-a-webmoe-error', message: String(e) };
    }
  },
};

(window as unknown as { modelHarness: ModelHarness }).modelHarness = harness;
