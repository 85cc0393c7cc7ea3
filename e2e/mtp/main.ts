// The page e2e/mtp.spec.ts drives: a V4 model with its MTP module on the GPU, fed through prefill (GPU
// sampling), decode and logitsWithMtp in any order, returning the MTP rows as plain arrays.
import { loadGpuModelFromUrl, type GpuModel } from 'webmoe';
import { pageGpu } from '../lib/page-gpu';

export interface MtpHarness {
  /** With speculation (docs/speculative.md) the module runs ahead of the main model instead of behind. */
  load(url: string, contextLength: number, prefillChunk: number, speculative: 'mtp' | 'off'): Promise<void>;
  /** prefill() keeping up to `reuse` cached positions; returns how many it kept. */
  prefill(ids: number[], reuse: number): Promise<number>;
  /** decode() feeding `token` (whatever was sampled before). */
  decode(token: number): Promise<void>;
  /** logitsWithMtp(ids): the MTP rows of the positions whose next token these ids bring. */
  mtpRows(ids: number[]): Promise<number[][]>;
}

let model: GpuModel | null = null;
const greedy = { temperature: 0, topP: 1, topK: 0, seed: 0, step: 0 };

const harness: MtpHarness = {
  async load(url, contextLength, prefillChunk, speculative) {
    model?.dispose();
    model = (await loadGpuModelFromUrl(await pageGpu(), url, { contextLength, prefillChunk, mtp: true, speculative })).model;
  },
  async prefill(ids, reuse) {
    return (await model!.prefill(ids, { reusePrefix: reuse, sampling: greedy })).reusedTokens;
  },
  async decode(token) {
    await model!.decode(token, greedy);
  },
  async mtpRows(ids) {
    return (await model!.logitsWithMtp(ids)).mtp.map((r) => Array.from(r));
  },
};

(window as unknown as { mtpHarness: MtpHarness }).mtpHarness = harness;
