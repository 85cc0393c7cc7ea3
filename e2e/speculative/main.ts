// The page e2e/speculative.spec.ts drives: a model loaded with speculation on or off (GpuModelOptions
// .speculative) at a draft depth, replies decoded through prefill and decode as the runtime does (a step
// may give several tokens), and what the steps did.
import { loadGpuModelFromUrl, RequestSampler, type DecodingStats, type GpuModel } from 'webmoe';
import { pageGpu } from '../lib/page-gpu';

export interface Reply {
  tokens: number[];
  decoding: DecodingStats;
  /** Decode time per reply token after the first. */
  msPerToken: number;
}

export interface SpeculativeHarness {
  load(url: string, contextLength: number, speculative: 'mtp' | 'off', depth?: 1 | 2 | 3): Promise<'mtp' | 'off'>;
  /** A reply of n tokens to `prompt` (the cache reused as far as it holds the prompt). */
  reply(prompt: number[], n: number, temperature: number, seed: number): Promise<Reply>;
  /** Replies of n tokens for each seed, returning only the tokens. */
  replies(prompt: number[], n: number, temperature: number, seeds: number[]): Promise<number[][]>;
}

let model: GpuModel | null = null;

async function reply(prompt: number[], n: number, temperature: number, seed: number): Promise<Reply> {
  const m = model!;
  const sampler = new RequestSampler({ temperature, seed });
  m.resetStats();
  let pending = [(await m.prefill(prompt, { reusePrefix: Math.min(m.cachedTokens, prompt.length - 1), sampling: sampler.next() })).next];
  const tokens: number[] = [];
  const t0 = performance.now();
  while (tokens.length < n) {
    const t = pending.shift()!;
    tokens.push(t);
    if (tokens.length === n || pending.length) continue;
    pending = await m.decode(t, sampler.next());
    sampler.skip(pending.length - 1);
  }
  return { tokens, decoding: m.decodingStats(), msPerToken: (performance.now() - t0) / Math.max(1, n - 1) };
}

const harness: SpeculativeHarness = {
  async load(url, contextLength, speculative, depth) {
    model?.dispose();
    model = (await loadGpuModelFromUrl(await pageGpu(), url, { contextLength, speculative, ...(depth ? { speculativeDepth: depth } : {}) })).model;
    return model.speculative;
  },
  reply,
  async replies(prompt, n, temperature, seeds) {
    const out: number[][] = [];
    for (const seed of seeds) out.push((await reply(prompt, n, temperature, seed)).tokens);
    return out;
  },
};

(window as unknown as { speculativeHarness: SpeculativeHarness }).speculativeHarness = harness;
