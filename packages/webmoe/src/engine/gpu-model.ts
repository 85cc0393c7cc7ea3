// The model on the GPU: weights, the latent KV cache, activations, and the recorded forward pass,
// driven as a runtime Generator (prefill a prompt, then decode token by token). A decode step is one
// queue submission whose only readback is the sampled token id (4 bytes).
import { WebmoeError } from '../errors';
import type { GpuContext } from '../gpu/device';
import { createKernelContext, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { createStorage, readBuffer, readF32, uploadStorage, USAGE } from '../gpu/buffers';
import { recordDispatches, type Dispatch } from '../gpu/pipelines';
import type { ModelConfig } from '../model/config';
import type { Manifest } from '../model/manifest';
import { ropeTable } from '../model/rope';
import { createLatentCache, kvCacheBytesPerToken, latentCacheLayout, type LatentCacheLayout } from '../kernels/mla';
import { sample } from '../kernels/sample';
import type { Generator, GeneratorStats, PrefillOptions, PrefillResult, SamplingParams } from '../runtime/generator';
import { activationFloatsPerToken, createActivations, destroyActivations, type Activations } from './buffers';
import { recordForward } from './forward';
import { GpuWeights } from './weights';
import { autotune, uniformTuning, type KernelTuning } from './autotune';

export interface GpuModelOptions {
  /** Positions the KV cache holds (prompt + reply). Default min(4096, the model's maximum). */
  contextLength?: number;
  /** Most tokens fed to one forward call during prefill. Default: defaultPrefillChunk. */
  prefillChunk?: number;
  /** One kernel shape for every family, skipping the measurement; default: chosen per family (autotune). */
  shape?: KernelShape;
  /** Measure the hot kernels' shapes at load (cached per adapter). Default true; false: the adapter heuristic. */
  autotune?: boolean;
  /** Count expert choices per MoE layer on the GPU (read with expertUsage()). Default true. */
  collectExpertUsage?: boolean;
  /** Called when the weights are on the GPU and pipelines start compiling. */
  onCompile?: () => void;
}

export interface GpuMemory {
  weights: number;
  kvCache: number;
  scratch: number;
}

export interface StepStats {
  /** Dispatches recorded for one decode step (forward + sampling). */
  dispatchesPerToken: number;
  submitsPerToken: number;
  readbackBytesPerToken: number;
}

const MAX_PLANS = 8;

export class GpuModel implements Generator {
  readonly contextLength: number;
  readonly config: ModelConfig;
  readonly cacheLayout: LatentCacheLayout;
  readonly memory: GpuMemory;
  /** The kernel shape each hot family uses, and how it was chosen. */
  readonly tuning: KernelTuning;
  private readonly ctx: KernelContext;
  private readonly act: Activations;
  private readonly cache: GPUBuffer[];
  private readonly ropeTable: GPUBuffer;
  private readonly samplerState: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly usage = new Map<number, GPUBuffer>();
  private readonly plans = new Map<number, Recorded<Dispatch[]>>();
  private readonly samplers = new Map<string, Recorded<Dispatch>>();
  /** Most tokens one prefill submission feeds. */
  readonly prefillChunk: number;
  /** Tokens held in the KV cache (positions 0 … length-1). */
  private length = 0;
  private disposed = false;

  private constructor(private readonly gpu: GpuContext, readonly weights: GpuWeights, config: ModelConfig, opts: GpuModelOptions,
    ctx: KernelContext, tuning: KernelTuning) {
    this.config = config;
    const device = gpu.device;
    this.ctx = { ...ctx, shapes: tuning.shapes };
    this.tuning = tuning;
    this.contextLength = contextLengthOf(config, opts);
    this.prefillChunk = Math.max(1, Math.min(opts.prefillChunk ?? defaultPrefillChunk(config, device.limits.maxStorageBufferBindingSize), this.contextLength));
    this.cacheLayout = latentCacheLayout(config, this.contextLength);
    this.cache = createLatentCache(device, this.cacheLayout, config.numLayers);
    this.act = createActivations(device, config, this.prefillChunk);
    this.ropeTable = uploadStorage(device, 'rope_table', ropeTable(config.rope));
    this.samplerState = createStorage(device, 'sampler_state', 16);
    this.staging = device.createBuffer({ label: 'sampled:readback', size: 16, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    if (opts.collectExpertUsage !== false && config.moe) {
      config.layers.forEach((l, i) => {
        if (l.ffn === 'moe') this.usage.set(i, createStorage(device, `expert_usage:${i}`, config.moe!.nRoutedExperts * 4));
      });
    }
    let scratch = this.act.bytes + this.ropeTable.size + this.samplerState.size;
    for (const u of this.usage.values()) scratch += u.size;
    this.memory = { weights: weights.bytes, kvCache: this.cacheLayout.bytesPerLayer * config.numLayers, scratch };
  }

  /** Uploads the weights shard by shard (`loadShards` calls back once per shard) and builds the model. */
  static async load(gpu: GpuContext, manifest: Manifest,
    loadShards: (onShard: (index: number, data: Uint8Array) => void) => Promise<void>, opts: GpuModelOptions = {}): Promise<GpuModel> {
    const config = manifest.model.config;
    checkLimits(gpu, manifest, opts);
    const uploader = GpuWeights.uploader(gpu.device, manifest);
    let weights: GpuWeights;
    try {
      await loadShards((i, data) => uploader.write(i, data));
      weights = uploader.finish();
    } catch (e) {
      uploader.abort();
      throw e;
    }
    opts.onCompile?.();
    const ctx = createKernelContext(gpu, opts.shape);
    const contextLength = contextLengthOf(config, opts);
    const tuning = opts.shape ? uniformTuning(opts.shape, 'override')
      : opts.autotune === false ? uniformTuning(ctx.shape, 'default')
      : await autotune(gpu, ctx, weights, config, { contextLength });
    const model = new GpuModel(gpu, weights, config, opts, ctx, tuning);
    // Record the decode plan and a full prefill chunk's now, so that pipeline compilation happens during
    // loading rather than on the first prompt and the first token.
    model.plan(1);
    model.plan(model.prefillChunk);
    await gpu.device.queue.onSubmittedWorkDone();
    gpu.check();
    return model;
  }

  get kvBytesPerToken() {
    return kvCacheBytesPerToken(this.config);
  }

  get cachedTokens(): number {
    return this.length;
  }

  /**
   * The recorded forward pass for a call of `tokens` tokens (no sampling), for profiling and the
   * benchmark's probes. Replaying it right after a call of that size recomputes that call (same ids and
   * positions: the cache rows are rewritten with the same values).
   */
  recordedPlan(tokens = 1): readonly Dispatch[] {
    return this.plan(tokens);
  }

  stepStats(): StepStats {
    return { dispatchesPerToken: this.plan(1).length + 1, submitsPerToken: 1, readbackBytesPerToken: 4 };
  }

  private plan(T: number): Dispatch[] {
    let p = this.plans.get(T);
    if (!p) {
      p = this.record((ctx) => recordForward({
        ctx, config: this.config, weights: this.weights, act: this.act, cache: this.cache,
        cacheLayout: this.cacheLayout, ropeTable: this.ropeTable, usage: this.usage,
      }, T));
      if (this.plans.size >= MAX_PLANS) {
        // Every prompt length gets its own plan; the oldest besides decode's makes room.
        const oldest = [...this.plans.keys()].find((k) => k !== 1);
        if (oldest !== undefined) drop(this.plans, oldest);
      }
      this.plans.set(T, p);
    }
    return p.value;
  }

  private sampler(s: SamplingParams): Dispatch {
    const key = `${s.temperature}/${s.topK}/${s.topP}/${s.seed}`;
    let d = this.samplers.get(key);
    if (!d) {
      d = this.record((ctx) => sample(ctx, {
        logits: this.act.logits, vocab: this.config.vocabSize, ids: this.act.sampled, state: this.samplerState,
        temperature: s.temperature, topK: s.topK, topP: s.topP, seed: s.seed,
      }, 'sample'));
      if (this.samplers.size >= MAX_PLANS) for (const k of [...this.samplers.keys()]) drop(this.samplers, k);
      this.samplers.set(key, d);
    }
    return d.value;
  }

  /** Runs launchers with a context that collects the buffers they create (params blocks, scratch). */
  private record<V>(build: (ctx: KernelContext) => V): Recorded<V> {
    const owned: GPUBuffer[] = [];
    return { value: build({ ...this.ctx, track: (b) => owned.push(b) }), owned };
  }

  private checkUsable(): void {
    if (this.disposed) throw new WebmoeError('invalid-request', 'this model was disposed');
    this.gpu.check();
  }

  private checkIds(ids: readonly number[]): void {
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 0 || id >= this.config.vocabSize) {
        throw new WebmoeError('invalid-request', `token id ${id} is outside the vocabulary (0 … ${this.config.vocabSize - 1})`, { detail: { id } });
      }
    }
  }

  private checkContext(total: number): void {
    if (total > this.contextLength) {
      throw new WebmoeError('context-overflow', `${total} tokens do not fit the ${this.contextLength}-token context`, {
        detail: { tokens: total, contextLength: this.contextLength },
      });
    }
  }

  /**
   * Runs the forward pass over `ids` at positions length … length+n-1, chunk by chunk, leaving the last
   * token's logits in act.logits. With `sampling`, the last submission also samples into act.sampled.
   */
  private feed(ids: readonly number[], sampling: SamplingParams | null, signal?: AbortSignal): void {
    const device = this.gpu.device;
    for (let start = 0; start < ids.length; start += this.prefillChunk) {
      if (signal?.aborted) throw new WebmoeError('aborted', 'the prompt was aborted during prefill');
      const chunk = ids.slice(start, start + this.prefillChunk);
      const last = start + chunk.length >= ids.length;
      device.queue.writeBuffer(this.act.ids, 0, new Uint32Array(chunk));
      device.queue.writeBuffer(this.act.positions, 0, new Uint32Array([this.length, 0, 0, 0]));
      const encoder = device.createCommandEncoder({ label: `forward T=${chunk.length}` });
      const pass = encoder.beginComputePass({ label: `forward T=${chunk.length}` });
      recordDispatches(pass, this.plan(chunk.length));
      if (last && sampling) {
        device.queue.writeBuffer(this.samplerState, 0, new Uint32Array([sampling.step, 0, 0, 0]));
        recordDispatches(pass, [this.sampler(sampling)]);
      }
      pass.end();
      if (last && sampling) encoder.copyBufferToBuffer(this.act.sampled, 0, this.staging, 0, 4);
      device.queue.submit([encoder.finish()]);
      this.length += chunk.length;
    }
  }

  private async readSampled(): Promise<number> {
    await this.staging.mapAsync(1 /* GPUMapMode.READ */);
    const id = new Uint32Array(this.staging.getMappedRange(0, 4))[0];
    this.staging.unmap();
    this.gpu.check();
    return id;
  }

  async prefill(ids: readonly number[], options: PrefillOptions): Promise<PrefillResult> {
    this.checkUsable();
    if (ids.length === 0) throw new WebmoeError('invalid-request', 'the prompt is empty');
    this.checkIds(ids);
    this.checkContext(ids.length);
    const keep = Math.max(0, Math.min(options.reusePrefix, this.length, ids.length - 1));
    this.length = keep;
    try {
      this.feed(ids.slice(keep), options.sampling, options.signal);
      return { reusedTokens: keep, next: await this.readSampled() };
    } catch (e) {
      this.length = 0;
      throw e;
    }
  }

  async decode(token: number, sampling: SamplingParams): Promise<number> {
    this.checkUsable();
    this.checkIds([token]);
    this.checkContext(this.length + 1);
    this.feed([token], sampling);
    return this.readSampled();
  }

  /** Feeds `ids` after what the cache holds and returns the logits after the last one (tests, `webmoe run --logits`). */
  async logitsAfter(ids: readonly number[]): Promise<Float32Array> {
    this.checkUsable();
    this.checkIds(ids);
    this.checkContext(this.length + ids.length);
    this.feed(ids, null);
    return this.readLogits();
  }

  /** The logits after the last token fed (by prefill, decode or logitsAfter), read back whole: tests and tools only. */
  async readLogits(): Promise<Float32Array> {
    const out = await readF32(this.gpu.device, this.act.logits, this.config.vocabSize);
    this.gpu.check();
    return out;
  }


  /**
   * Debugging aid: feeds `ids` from position 0 running the recorded plan only up to and including the
   * dispatch labelled `label`, then returns the named activation buffer. Leaves the cache reset.
   */
  async trace(ids: readonly number[], label: string, buffer: keyof Activations, count: number): Promise<Float32Array> {
    this.checkIds(ids);
    const device = this.gpu.device;
    const plan = this.plan(ids.length);
    const end = plan.findIndex((d) => d.label === label);
    if (end < 0) throw new WebmoeError('invalid-request', `no dispatch labelled ${label}; labels: ${plan.map((d) => d.label).join(' ')}`);
    device.queue.writeBuffer(this.act.ids, 0, new Uint32Array(ids));
    device.queue.writeBuffer(this.act.positions, 0, new Uint32Array([0, 0, 0, 0]));
    const encoder = device.createCommandEncoder({ label: 'trace' });
    const pass = encoder.beginComputePass({ label: 'trace' });
    recordDispatches(pass, plan.slice(0, end + 1));
    pass.end();
    device.queue.submit([encoder.finish()]);
    this.length = 0;
    const out = await readF32(device, this.act[buffer] as GPUBuffer, count);
    this.gpu.check();
    return out;
  }

  /** Expert choices per MoE layer since the last reset, read back once: layer → counts [E]. */
  async expertUsage(): Promise<Map<number, Uint32Array>> {
    const device = this.gpu.device;
    const out = new Map<number, Uint32Array>();
    if (!this.usage.size) return out;
    const E = this.config.moe!.nRoutedExperts;
    // One copy of every layer's counters into one buffer, then a single readback.
    const layers = [...this.usage.keys()];
    const all = createStorage(device, 'usage:all', layers.length * E * 4);
    const encoder = device.createCommandEncoder({ label: 'usage:gather' });
    layers.forEach((l, i) => encoder.copyBufferToBuffer(this.usage.get(l)!, 0, all, i * E * 4, E * 4));
    device.queue.submit([encoder.finish()]);
    const counts = new Uint32Array(await readBuffer(device, all, layers.length * E * 4));
    all.destroy();
    layers.forEach((l, i) => out.set(l, counts.slice(i * E, (i + 1) * E)));
    return out;
  }

  resetExpertUsage(): void {
    const encoder = this.gpu.device.createCommandEncoder({ label: 'usage:clear' });
    for (const u of this.usage.values()) encoder.clearBuffer(u);
    this.gpu.device.queue.submit([encoder.finish()]);
  }

  /** Generator.resetStats: a new reply's expert counters. */
  resetStats(): void {
    this.resetExpertUsage();
  }

  /** Generator.stats: sizes, and the expert counters read back once. */
  async stats(): Promise<GeneratorStats> {
    this.checkUsable();
    const usage = await this.expertUsage();
    const { latent, mha } = this.kvBytesPerToken;
    return {
      memory: { ...this.memory },
      kvBytesPerToken: { latent, mha },
      cachedTokens: this.length,
      experts: this.config.moe?.nRoutedExperts ?? 0,
      expertUsage: [...usage].map(([layer, counts]) => ({ layer, counts: [...counts] })),
      adapter: this.gpu.summary,
    };
  }

  reset(): void {
    this.length = 0;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.weights.destroy();
    for (const c of this.cache) c.destroy();
    destroyActivations(this.act);
    for (const u of this.usage.values()) u.destroy();
    this.ropeTable.destroy();
    this.samplerState.destroy();
    this.staging.destroy();
    for (const k of [...this.plans.keys()]) drop(this.plans, k);
    for (const k of [...this.samplers.keys()]) drop(this.samplers, k);
  }
}

/** Recorded dispatches and the buffers their launchers created for them. */
interface Recorded<V> {
  value: V;
  owned: GPUBuffer[];
}

/** Forgets a recording and destroys its buffers (work already submitted still completes). */
function drop<K>(map: Map<K, Recorded<unknown>>, key: K): void {
  for (const b of map.get(key)?.owned ?? []) b.destroy();
  map.delete(key);
}

// Bigger chunks read each weight once for more tokens (a 64-token chunk of a 256-expert model touches
// nearly every expert for 2 tokens each; 512 gives them 16) at the cost of activation memory.
const MAX_PREFILL_CHUNK = 512;
const PREFILL_SCRATCH_BYTES = 256 * 2 ** 20;

/** The largest power of two ≤ 512 whose activations fit 256 MiB and every buffer one binding. */
export function defaultPrefillChunk(config: ModelConfig, maxBinding: number): number {
  const { total, largest } = activationFloatsPerToken(config);
  let chunk = MAX_PREFILL_CHUNK;
  while (chunk > 1 && (chunk * total * 4 > PREFILL_SCRATCH_BYTES || chunk * largest * 4 > maxBinding)) chunk /= 2;
  return chunk;
}

function contextLengthOf(config: ModelConfig, opts: GpuModelOptions): number {
  return Math.max(1, Math.min(opts.contextLength ?? 4096, config.maxPositionEmbeddings));
}

/** Fails early, in plain words, when a buffer the model needs exceeds what this adapter can bind. */
function checkLimits(gpu: GpuContext, manifest: Manifest, opts: GpuModelOptions): void {
  const limit = gpu.device.limits.maxStorageBufferBindingSize;
  const maxBuffer = gpu.device.limits.maxBufferSize;
  const plan = GpuWeights.plan(manifest);
  const ctxLen = Math.min(opts.contextLength ?? 4096, manifest.model.config.maxPositionEmbeddings);
  const kvLayer = latentCacheLayout(manifest.model.config, ctxLen).bytesPerLayer;
  const biggest = Math.max(plan.largestBinding, kvLayer);
  if (biggest > Math.min(limit, maxBuffer)) {
    throw new WebmoeError('insufficient-limits',
      `This model needs GPU buffers of ${(biggest / 2 ** 20).toFixed(1)} MiB (largest weight group or KV cache layer); this GPU binds at most ${(Math.min(limit, maxBuffer) / 2 ** 20).toFixed(1)} MiB.`,
      { detail: { needed: biggest, limit: Math.min(limit, maxBuffer) } });
  }
}
