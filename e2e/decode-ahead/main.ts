// The page e2e/decode-ahead.spec.ts drives: a model loaded with decode steps in flight or not
// (GpuModelOptions.decodeAhead), replies decoded through prefill and decode as the runtime does (a call may
// give several tokens), what the CPU waited per token, and the Engine API over the same option.
import { createEngine, loadGpuModelFromUrl, recordDispatches, RequestSampler, type ChatMessage, type Engine, type GpuModel, type SamplingPenalties } from 'webmoe';
import { pageGpu } from '../lib/page-gpu';
import { onSharedDevice } from '../lib/shared-device';

export interface Reply {
  tokens: number[];
  /** Wall time per reply token after the first, over the decode calls. */
  msPerToken: number;
  /** Time per reply token after the first spent awaiting decode() (the readback and whatever the GPU had left). */
  waitMsPerToken: number;
  /** decode() calls the reply took. */
  calls: number;
}

export interface Completion {
  text: string;
  finish: string | null;
  reused: number;
}

export interface DecodeAheadHarness {
  load(url: string, contextLength: number, decodeAhead: number): Promise<number>;
  /** The loaded model's decodeAhead changed in place (GpuModel.setDecodeAhead); the depth it then has. */
  setDecodeAhead(n: number): Promise<number>;
  reply(prompt: number[], n: number, temperature: number, seed: number, penalties?: SamplingPenalties): Promise<Reply>;
  /** GPU time of one decode forward pass: `steps` replays queued back to back, one wait at the end. */
  busyMsPerStep(steps: number): Promise<number>;
  /** An engine over `url` with decodeAhead `n` (replacing any before it). */
  engine(url: string, n: number): Promise<void>;
  complete(messages: ChatMessage[], maxTokens: number, stop?: string): Promise<Completion>;
}

let model: GpuModel | null = null;
let engine: Engine | null = null;

const harness: DecodeAheadHarness = {
  async load(url, contextLength, decodeAhead) {
    model?.dispose();
    model = (await loadGpuModelFromUrl(await pageGpu(), url, { contextLength, speculative: 'off', decodeAhead })).model;
    return model.decodeAheadSteps;
  },
  async setDecodeAhead(n) {
    await model!.setDecodeAhead(n);
    return model!.decodeAheadSteps;
  },
  async reply(prompt, n, temperature, seed, penalties) {
    const m = model!;
    const sampler = new RequestSampler({ temperature, seed, ...(penalties ? { penalties } : {}) });
    let pending = [(await m.prefill(prompt, { reusePrefix: Math.min(m.cachedTokens, prompt.length - 1), sampling: sampler.next() })).next];
    const tokens: number[] = [];
    let waited = 0, calls = 0;
    const t0 = performance.now();
    while (tokens.length < n) {
      const t = pending.shift()!;
      tokens.push(t);
      if (tokens.length === n || pending.length) continue;
      const w = performance.now();
      pending = [...await m.decode(t, sampler.next())];
      waited += performance.now() - w;
      calls++;
      sampler.skip(pending.length - 1);
    }
    const per = Math.max(1, n - 1);
    return { tokens, msPerToken: (performance.now() - t0) / per, waitMsPerToken: waited / per, calls };
  },
  async busyMsPerStep(steps) {
    const device = (await pageGpu()).device, plan = model!.recordedPlan(1);
    await device.queue.onSubmittedWorkDone();
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) {
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      recordDispatches(pass, plan);
      pass.end();
      device.queue.submit([encoder.finish()]);
    }
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / steps;
  },
  async engine(url, n) {
    model?.dispose();
    model = null;
    await engine?.dispose();
    // The engines on this page's one device (lib/shared-device.ts): a device per engine would compile every
    // pipeline again, minutes on SwiftShader.
    engine = await createEngine({ model: new URL(url, location.href).href, contextLength: 256, decodeAhead: n, generator: onSharedDevice(pageGpu, { speculative: 'off' }) });
  },
  async complete(messages, maxTokens, stop) {
    const r = await engine!.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0, ...(stop ? { stop } : {}) });
    return { text: r.choices[0].message.content ?? '', finish: r.choices[0].finish_reason, reused: r.usage.reused_tokens ?? 0 };
  },
};

(window as unknown as { decodeAheadHarness: DecodeAheadHarness }).decodeAheadHarness = harness;
