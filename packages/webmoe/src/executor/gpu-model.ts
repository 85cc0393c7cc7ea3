// The model on the GPU: weights, the latent KV cache, activations, and the recorded forward pass,
// driven as a runtime Generator (prefill a prompt, then decode token by token). A decode step is one
// queue submission whose only readback is the sampled token id; stepStats() reports what the last step
// actually recorded, submitted and read back.
import { WebmoeError } from '../errors';
import type { GpuContext } from '../gpu/device';
import { createKernelContext, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { createStorage, readF32, USAGE } from '../gpu/buffers';
import { recordDispatches, type Dispatch } from '../gpu/pipelines';
import type { AnyModelConfig } from '../model/config';
import type { Manifest } from '../model/manifest';
import { sample } from '../kernels/sample';
import type { Generator, GeneratorStats, PrefillOptions, PrefillResult, SamplingParams } from './generator';
import type { BoundFamily, FamilyState, KvBytes } from './family';
import { familyOf } from './families';
import { GpuWeights } from './weights';
import { autotune, uniformTuning, type KernelTuning } from './autotune';
import { Recordings } from './recordings';
import { checkLimits, contextLengthOf, defaultPrefillChunk } from './sizing';

export interface GpuModelOptions {
  /** Positions the KV cache holds (prompt + reply). Default min(DEFAULT_CONTEXT, the model's maximum). */
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

/** What one decode step did, counted as it ran. */
export interface StepStats {
  /** Dispatches recorded into the step's compute pass (forward + sampling). */
  dispatchesPerToken: number;
  /** Queue submissions of the step. */
  submitsPerToken: number;
  /** Bytes mapped back to the CPU by the step. */
  readbackBytesPerToken: number;
}

/** Plans kept at once: every prompt length gets its own; decode's is never dropped. */
const MAX_PLANS = 8;
const DECODE = 1;

export class GpuModel implements Generator {
  readonly contextLength: number;
  readonly config: AnyModelConfig;
  readonly memory: GpuMemory;
  /** The kernel shape each hot family uses, and how it was chosen. */
  readonly tuning: KernelTuning;
  /** Most tokens one prefill submission feeds. */
  readonly prefillChunk: number;
  private readonly family: FamilyState;
  private readonly samplerState: GPUBuffer;
  private readonly staging: GPUBuffer;
  private readonly plans: Recordings<number, Dispatch[]>;
  private readonly samplers: Recordings<string, Dispatch>;
  /** Counts of the step in progress, and of the last complete decode step. */
  private counting: StepStats = emptyStep();
  private lastStep: StepStats | null = null;
  /** Tokens held in the KV cache (positions 0 … length-1). */
  private length = 0;
  private disposed = false;

  private constructor(private readonly gpu: GpuContext, readonly weights: GpuWeights, config: AnyModelConfig, family: BoundFamily,
    sizes: { contextLength: number; prefillChunk: number }, opts: GpuModelOptions, ctx: KernelContext, tuning: KernelTuning) {
    this.config = config;
    const device = gpu.device;
    const tuned = { ...ctx, shapes: tuning.shapes };
    this.tuning = tuning;
    this.contextLength = sizes.contextLength;
    this.prefillChunk = sizes.prefillChunk;
    this.family = family.create(device, weights, {
      contextLength: this.contextLength, maxTokens: this.prefillChunk, collectExpertUsage: opts.collectExpertUsage !== false,
    });
    this.samplerState = createStorage(device, 'sampler_state', 16);
    this.staging = device.createBuffer({ label: 'sampled:readback', size: 16, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.plans = new Recordings(tuned, MAX_PLANS, (tokens) => tokens === DECODE);
    this.samplers = new Recordings(tuned, MAX_PLANS);
    this.memory = { weights: weights.bytes, kvCache: this.family.kvCacheBytes, scratch: this.family.scratchBytes + this.samplerState.size };
  }

  /** Uploads the weights shard by shard (`loadShards` calls back once per shard) and builds the model. */
  static async load(gpu: GpuContext, manifest: Manifest,
    loadShards: (onShard: (index: number, data: Uint8Array) => void) => Promise<void>, opts: GpuModelOptions = {}): Promise<GpuModel> {
    const config = manifest.model.config;
    const family = familyOf(config);
    const contextLength = contextLengthOf(config, opts.contextLength);
    const maxBinding = gpu.device.limits.maxStorageBufferBindingSize;
    const prefillChunk = Math.max(1, Math.min(opts.prefillChunk ?? defaultPrefillChunk(family, contextLength, maxBinding), contextLength));
    checkLimits(gpu, manifest, family, contextLength, prefillChunk);
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
    const tuning = opts.shape ? uniformTuning(opts.shape, 'override')
      : opts.autotune === false ? uniformTuning(ctx.shape, 'default')
      // V4's kernels are not in the measured workloads yet: its families keep the adapter heuristic.
      : config.family === 'v4' ? uniformTuning(ctx.shape, 'default')
      : await autotune(gpu, ctx, weights, config, { contextLength });
    const model = new GpuModel(gpu, weights, config, family, { contextLength, prefillChunk }, opts, ctx, tuning);
    // Record the decode plan and a full prefill chunk's now, so that pipeline compilation happens during
    // loading rather than on the first prompt and the first token.
    model.plan(DECODE);
    model.plan(model.prefillChunk);
    await gpu.device.queue.onSubmittedWorkDone();
    gpu.check();
    return model;
  }

  get kvBytesPerToken(): KvBytes {
    return this.family.kvBytesPerToken;
  }

  get cachedTokens(): number {
    return this.length;
  }

  /**
   * The recorded forward pass for a call of `tokens` tokens (no sampling), for profiling and the
   * benchmark's probes. Replaying it right after a call of that size recomputes that call (same ids and
   * positions: the cache rows are rewritten with the same values).
   */
  recordedPlan(tokens = DECODE): readonly Dispatch[] {
    return this.plan(tokens);
  }

  /** The counts of the last decode step (null before the first). */
  stepStats(): StepStats | null {
    return this.lastStep && { ...this.lastStep };
  }

  private plan(T: number): Dispatch[] {
    return this.plans.get(T, (ctx) => this.family.record(ctx, T));
  }

  private sampler(s: SamplingParams): Dispatch {
    return this.samplers.get(`${s.temperature}/${s.topK}/${s.topP}/${s.seed}`, (ctx) => sample(ctx, {
      logits: this.family.io.logits, vocab: this.config.vocabSize, ids: this.family.io.sampled, state: this.samplerState,
      temperature: s.temperature, topK: s.topK, topP: s.topP, seed: s.seed,
    }, 'sample'));
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
   * token's logits in io.logits. With `sampling`, the last submission also samples into io.sampled.
   */
  private feed(ids: readonly number[], sampling: SamplingParams | null, signal?: AbortSignal): void {
    const device = this.gpu.device;
    for (let start = 0; start < ids.length; start += this.prefillChunk) {
      if (signal?.aborted) throw new WebmoeError('aborted', 'the prompt was aborted during prefill');
      const chunk = ids.slice(start, start + this.prefillChunk);
      const last = start + chunk.length >= ids.length;
      device.queue.writeBuffer(this.family.io.ids, 0, new Uint32Array(chunk));
      device.queue.writeBuffer(this.family.io.positions, 0, new Uint32Array([this.length, 0, 0, 0]));
      const dispatches = [...this.plan(chunk.length)];
      if (last && sampling) {
        device.queue.writeBuffer(this.samplerState, 0, new Uint32Array([sampling.step, 0, 0, 0]));
        dispatches.push(this.sampler(sampling));
      }
      const encoder = device.createCommandEncoder({ label: `forward T=${chunk.length}` });
      const pass = encoder.beginComputePass({ label: `forward T=${chunk.length}` });
      recordDispatches(pass, dispatches);
      pass.end();
      if (last && sampling) encoder.copyBufferToBuffer(this.family.io.sampled, 0, this.staging, 0, 4);
      device.queue.submit([encoder.finish()]);
      this.counting.dispatchesPerToken += dispatches.length;
      this.counting.submitsPerToken++;
      this.length += chunk.length;
    }
  }

  private async readSampled(): Promise<number> {
    await this.staging.mapAsync(1 /* GPUMapMode.READ */);
    const mapped = this.staging.getMappedRange(0, 4);
    const id = new Uint32Array(mapped)[0];
    this.counting.readbackBytesPerToken += mapped.byteLength;
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
    this.counting = emptyStep();
    this.feed([token], sampling);
    const next = await this.readSampled();
    this.lastStep = this.counting;
    return next;
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
    const out = await readF32(this.gpu.device, this.family.io.logits, this.config.vocabSize);
    this.gpu.check();
    return out;
  }

  /** Expert choices per MoE layer since the last reset, read back once: layer → counts [E]. */
  expertUsage(): Promise<Map<number, Uint32Array>> {
    return this.family.expertUsage.read();
  }

  resetExpertUsage(): void {
    this.family.expertUsage.reset();
  }

  /** Generator.resetStats: a new reply's expert counters. */
  resetStats(): void {
    this.family.expertUsage.reset();
  }

  /** Generator.stats: sizes, and the expert counters read back once. */
  async stats(): Promise<GeneratorStats> {
    this.checkUsable();
    const usage = await this.family.expertUsage.read();
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
    this.family.destroy();
    this.samplerState.destroy();
    this.staging.destroy();
    this.plans.clear();
    this.samplers.clear();
  }
}

function emptyStep(): StepStats {
  return { dispatchesPerToken: 0, submitsPerToken: 0, readbackBytesPerToken: 0 };
}
