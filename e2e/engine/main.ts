// What e2e/engine.spec.ts drives in the engine harness page: the public Engine API over the real WebGPU backend
// (GpuModel) on the bundled demo model, in this page and in a Worker (the engines of ./engines.ts, which the
// page's chat-api harness shares), and fresh engines where a scenario needs its own.
import { acquireGpu, createEngine, isWebmoeError, type ChatMessage, type GpuContext, type GpuModel } from 'webmoe';
import { onSharedDevice } from '../lib/shared-device';
import { CONTEXT, MODEL, engine } from './engines';

// TEST ONLY: every device this page creates, so that a scenario can destroy one mid-reply as a driver
// reset would take it.
const devices: GPUDevice[] = [];
const requestDevice = GPUAdapter.prototype.requestDevice;
GPUAdapter.prototype.requestDevice = async function (this: GPUAdapter, descriptor?: GPUDeviceDescriptor) {
  const device = await requestDevice.call(this, descriptor);
  devices.push(device);
  return device;
};

// The fresh engines of the NaN and paging scenarios load on one device of this page (lib/shared-device.ts),
// which compiles the model's pipelines once for all of them instead of once per engine (15-25 s a device on
// SwiftShader); each engine still loads and uploads its own weights. The device-loss scenario destroys its
// engine's device and so keeps a device per engine (createEngine's own backend).
let scratch: Promise<GpuContext> | null = null;
const scratchDevice = () => (scratch ??= acquireGpu());

async function failureCode(f: () => Promise<unknown>): Promise<{ code: string; message: string } | null> {
  try {
    await f();
    return null;
  } catch (err) {
    return { code: isWebmoeError(err) ? err.code : `not a WebmoeError: ${String(err)}`, message: String((err as Error)?.message) };
  }
}

const api = {
  async complete(where: 'page' | 'worker', messages: ChatMessage[], maxTokens: number) {
    const e = await engine(where);
    const r = await e.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0 });
    return { text: r.choices[0].message.content ?? '', usage: r.usage };
  },
  async stream(where: 'page' | 'worker', messages: ChatMessage[], maxTokens: number) {
    const e = await engine(where);
    const parts: string[] = [];
    let usage: unknown = null;
    for await (const chunk of await e.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0, stream: true })) {
      parts.push(chunk.choices[0]?.delta?.content ?? '');
      if (chunk.usage) usage = chunk.usage;
    }
    return { text: parts.join(''), chunks: parts.length, usage };
  },
  async abortMidReply(where: 'page' | 'worker', messages: ChatMessage[]) {
    const e = await engine(where);
    const ctl = new AbortController();
    let pieces = 0;
    try {
      for await (const chunk of await e.chat.completions.create({ messages, max_tokens: 400, temperature: 0, stream: true, signal: ctl.signal })) {
        if (chunk.choices[0]?.delta?.content && ++pieces === 3) ctl.abort();
      }
      return { aborted: false, pieces };
    } catch (err) {
      return { aborted: isWebmoeError(err, 'aborted'), pieces };
    }
  },
  /** A greedy reply with extra request fields; a refusal comes back as its code and message. */
  async completeWith(where: 'page' | 'worker', messages: ChatMessage[], maxTokens: number, extra: Record<string, unknown>) {
    const e = await engine(where);
    try {
      const r = await e.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0, ...extra });
      return { text: r.choices[0].message.content ?? '', error: null };
    } catch (err) {
      if (!isWebmoeError(err)) throw err;
      return { text: '', error: { code: err.code, message: err.message } };
    }
  },
  /** A greedy reply with logprobs, non-streamed and streamed. */
  async logprobs(where: 'page' | 'worker', messages: ChatMessage[], maxTokens: number, top: number) {
    const e = await engine(where);
    const ask = { messages, max_tokens: maxTokens, temperature: 0, logprobs: true, top_logprobs: top } as const;
    const r = await e.chat.completions.create(ask);
    const streamed = [];
    for await (const c of await e.chat.completions.create({ ...ask, stream: true })) streamed.push(...(c.choices[0]?.logprobs?.content ?? []));
    return { text: r.choices[0].message.content ?? '', finish: r.choices[0].finish_reason, usage: r.usage, content: r.choices[0].logprobs?.content ?? null, streamed };
  },
  /** Loses the device of a fresh in-page engine mid-reply, then loads the model again from the cache. */
  async deviceLossMidReply(messages: ChatMessage[]) {
    const e = await createEngine({ model: MODEL, contextLength: 256 });
    const device = devices[devices.length - 1]!;
    let pieces = 0;
    const midReply = await failureCode(async () => {
      for await (const chunk of await e.chat.completions.create({ messages, max_tokens: 200, temperature: 0, stream: true })) {
        if (chunk.choices[0]?.delta?.content && ++pieces === 3) device.destroy();
      }
    });
    const afterLoss = await failureCode(() => e.chat.completions.create({ messages, max_tokens: 4, temperature: 0 }));
    await e.dispose();
    const phases: string[] = [];
    const again = await createEngine({ model: MODEL, contextLength: 256, onProgress: (p) => phases.push(p.phase) });
    const r = await again.chat.completions.create({ messages, max_tokens: 12, temperature: 0 });
    await again.dispose();
    return { midReply, pieces, afterLoss, reloadPhases: [...new Set(phases)], text: r.choices[0].message.content ?? '' };
  },
  /**
   * An in-page engine whose final norm weights are NaN (written over the uploaded ones, as a broken
   * checkpoint would hold them): the reply must end in a named error, and a fresh engine still answers.
   */
  /**
   * A greedy reply from an engine whose GPU memory budget leaves room for about 40 % of the routed experts
   * (docs/paging.md): the resident engine's memory less 60 % of the experts' bytes. Its reply and paging stats.
   */
  async paged(messages: ChatMessage[], maxTokens: number) {
    const mem = (await (await engine('page')).stats()).model!.memory;
    const manifest = (await (await fetch(new URL('manifest.json', MODEL))).json()) as { experts: { bytes: number; mtp: boolean }[] };
    const experts = manifest.experts.filter((x) => !x.mtp).reduce((n, x) => n + x.bytes, 0);
    const budget = Math.floor(mem.weights + mem.kvCache + mem.scratch - 0.6 * experts);
    const e = await createEngine({ model: MODEL, contextLength: CONTEXT, gpuMemoryBudget: budget, generator: onSharedDevice(scratchDevice) });
    try {
      const r = await e.chat.completions.create({ messages, max_tokens: maxTokens, temperature: 0 });
      return { text: r.choices[0].message.content ?? '', paging: (await e.stats()).model?.paging ?? null, budget };
    } finally {
      await e.dispose();
    }
  },
  /**
   * Per speculative mode, an engine whose final norm holds NaN: its greedy and sampled errors. Then one new
   * engine, after every broken one is disposed: the tokens it answers with.
   */
  async nanWeights(messages: ChatMessage[], modes: ('mtp' | 'off')[]) {
    const errors: { speculative: string; error: { code: string; message: string } | null; sampledError: { code: string; message: string } | null }[] = [];
    for (const speculative of modes) {
      const broken = await createEngine({
        model: MODEL, contextLength: 256, speculative,
        generator: async (ctx) => {
          const model = (await onSharedDevice(scratchDevice)(ctx)) as GpuModel;
          const norm = model.weights.tensor('model.norm.weight');
          (await scratchDevice()).device.queue.writeBuffer(norm.buffer, norm.byteOffset, new Float32Array(norm.layout.rows * norm.layout.cols).fill(NaN));
          return model;
        },
      });
      const error = await failureCode(() => broken.chat.completions.create({ messages, max_tokens: 8, temperature: 0 }));
      const sampledError = await failureCode(() => broken.chat.completions.create({ messages, max_tokens: 8, temperature: 0.8, top_p: 0.9 }));
      await broken.dispose();
      errors.push({ speculative, error, sampledError });
    }
    const fresh = await createEngine({ model: MODEL, contextLength: 256, generator: onSharedDevice(scratchDevice) });
    const r = await fresh.chat.completions.create({ messages, max_tokens: 8, temperature: 0 });
    await fresh.dispose();
    return { errors, freshTokens: r.usage?.completion_tokens ?? 0 };
  },
  async resetChat(where: 'page' | 'worker') {
    await (await engine(where)).resetChat();
  },
};

(window as unknown as { engineHarness: typeof api }).engineHarness = api;
