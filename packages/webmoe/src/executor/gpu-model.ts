// The model on the GPU: weights, the latent KV cache, activations, and the recorded forward pass,
// driven as a runtime Generator (prefill a prompt, then decode token by token). A decode step is one
// queue submission whose only readback is the sampled token id; stepStats() reports what the last step
// actually recorded, submitted and read back. With the MTP module loaded (GpuModelOptions.mtp), every call
// also advances it, one position behind the main model (family.ts FamilyMtp), so that its cache has seen
// every position whose next token is known. With speculation (GpuModelOptions.speculative), the module
// runs ahead instead and drafts the next k tokens (GpuModelOptions.speculativeDepth, chained), and a decode
// step feeds [token, drafts] and gives 1 … k+1 tokens, still in one submission with one small readback
// (docs/speculative.md). With GpuModelOptions.decodeAhead, plain steps are queued several ahead, each fed
// the id the one before drew without leaving the GPU (decode-ahead.ts, docs/decode-loop.md).
import { WebmoeError } from '../errors';
import { mapForReading, type GpuContext } from '../gpu/device';
import { createKernelContext, type KernelContext, type KernelShape, type MatmulPrefill, type MlaDecodeKernel, type MlaPrefillKernel } from '../gpu/kernel-context';
import { createStorage, readF32, USAGE } from '../gpu/buffers';
import { recordDispatches, type Dispatch } from '../gpu/pipelines';
import type { AnyModelConfig } from '../model/config';
import type { Manifest } from '../model/manifest';
import { logitBiasWords, MAX_BIAS_ENTRIES, sample, tokenCountWords } from '../kernels/sample';
import { logprobs, logprobsWords, MAX_TOP_LOGPROBS, readLogprobs } from '../kernels/logprobs';
import { MAX_SPECULATIVE_DEPTH, speculative, SPECULATIVE_CHAIN_WORDS, SPECULATIVE_RESULT, SPECULATIVE_RESULT_WORDS } from '../kernels/speculative';
import type { KvCacheFormat } from '../kernels/mla';
import type { DecodingStats, Generator, GeneratorStats, PrefillOptions, PrefillResult, SampledLogprobs, SamplingParams } from './generator';
import type { BoundFamily, FamilyMtp, FamilyState, KvBytes } from './family';
import { familyOf } from './families';
import { GpuWeights } from './weights';
import { autotune, uniformTuning, type KernelTuning } from './autotune';
import { Recordings } from './recordings';
import { checkLimits, contextLengthOf, defaultPrefillChunk } from './sizing';
import { planPaging } from './paging-plan';
import { ExpertPager, type PagingStats, type ReadShardRange } from './expert-pager';
import { PagedForward } from './paged-forward';
import { aheadKey, checkDecodeAhead, DecodeAhead, defaultDecodeAhead } from './decode-ahead';

export interface GpuModelOptions {
  /** Positions the KV cache holds (prompt + reply). Default min(DEFAULT_CONTEXT, the model's maximum). */
  contextLength?: number;
  /** Most tokens fed to one forward call during prefill. Default: defaultPrefillChunk. */
  prefillChunk?: number;
  /** One kernel shape for every family, skipping the measurement; default: chosen per family (autotune). */
  shape?: KernelShape;
  /** Measure the hot kernels' shapes at load (cached per adapter). Default true; false: the adapter heuristic. */
  autotune?: boolean;
  /** MLA decode's kernel in the 'workgroup' shape (tests and benchmarks); default kernels/mla.ts defaultDecodeKernel. */
  mlaDecode?: MlaDecodeKernel;
  /**
   * Prefill products' entry (benchmarks and tests): 'tile', 'gemm', or 'gemm-f16' (f16 arithmetic; needs
   * shader-f16). Default: 'gemm' on the 'workgroup' shape, 'tile' on 'row' (kernels/product-gemm.ts).
   */
  matmulPrefill?: MatmulPrefill;
  /** The fewest tokens per weight for which prefill products take product_gemm (benchmarks); default 64 (kernels/product-gemm.ts). */
  gemmMinTokens?: number;
  /** MLA attention of prefill chunks (benchmarks and tests): 'tile', 'heads' or 'latent-gemm'; default kernels/mla.ts prefillKernel. */
  mlaPrefill?: MlaPrefillKernel;
  /** Count expert choices per MoE layer on the GPU (read with expertUsage()). Default true. */
  collectExpertUsage?: boolean;
  /**
   * Load the MTP module (the folder must be converted with it) and run it on every call, for its logits
   * (logitsWithMtp) and later drafts. Default false: its tensors are not uploaded.
   */
  mtp?: boolean;
  /**
   * Speculative decoding with the MTP module as the drafter (docs/speculative.md): 'mtp' loads the module
   * and lets a decode step verify its draft and give one or two tokens; 'off' gives one per step. Default
   * 'off': it measured slower on SwiftShader and, in four of five runs, on an H200 (docs/speculative.md#speed).
   */
  speculative?: Speculation;
  /**
   * Drafts per speculative step (docs/speculative.md#chained-drafts): 1, the module's own prediction, or 2
   * and 3, the module fed its own output for each further one. Default 1. Needs a prefill chunk of at
   * least 2 · depth + 1.
   */
  speculativeDepth?: SpeculativeDepth;
  /**
   * V2/V3 latent KV cache format: 'f32' (default, exact), 'f16' (half the bytes) or 'fp8' (E4M3 with a
   * scale per row, about a quarter). V4 models ignore it.
   */
  kvCacheFormat?: KvCacheFormat;
  /** Called when the weights are on the GPU and pipelines start compiling. */
  onCompile?: () => void;
  /**
   * GPU bytes the model may take (weights, KV cache, scratch). A model larger than that runs with its routed
   * experts paged (docs/paging.md), which needs readShardRange; one that cannot fit even so is refused before
   * any weight is requested. Default: no limit.
   */
  gpuMemoryBudget?: number;
  /** Expert slots per MoE layer (paging with exactly this many; tests and the bench). */
  expertSlots?: number;
  /**
   * Bytes one weight buffer may bind, below the adapter's own limit (never above): tests run the split
   * tensors and paged pools of a model larger than one binding (docs/model-folder.md#split-tensors) with a small model.
   */
  maxBindingBytes?: number;
  /** Host memory for paged-in experts' bytes (expert-pager.ts); default 512 MiB. */
  hostCacheBytes?: number;
  /** Reads a byte range of a stored shard: where paged experts come from. */
  readShardRange?: ReadShardRange;
  /**
   * Plain decode steps kept in flight (docs/decode-loop.md): each feeds the id the one before drew, on the
   * GPU, so a token does not wait for a readback. 1 … 16; default 4 on hardware adapters, 1 (off) on software
   * ones (decode-ahead.ts defaultDecodeAhead). Steps that ask for logprobs or a
   * token mask, speculation, a loaded MTP module and paged experts decode one step at a time regardless.
   */
  decodeAhead?: number;
}

export interface GpuMemory {
  weights: number;
  kvCache: number;
  scratch: number;
}

export type Speculation = 'mtp' | 'off';
export type SpeculativeDepth = 1 | 2 | 3;

/** What one decode step did, counted as it ran. */
export interface StepStats {
  /** Tokens the step gave: 1, or 1 + the drafts it accepted. */
  tokens: number;
  /** Whether the step verified drafts, and whether the first was accepted (null: a step without one). */
  draftAccepted: boolean | null;
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
/** Where the logprobs words sit in the readback buffer, after the sampled id. */
const LOGPROBS_AT = 16;
/** The MTP plan of a carried row without logits: every decode step's. */
const CARRIED = 'carried';
/** The sampler's id for a row whose logits are not all finite. */
const SAMPLED_NONFINITE = 0xffffffff;
/** Where the speculative result words sit in the readback buffer (after the sampled id). */
const RESULT_AT = 16;

export class GpuModel implements Generator {
  readonly contextLength: number;
  readonly config: AnyModelConfig;
  readonly vocabSize: number;
  readonly memory: GpuMemory;
  /** The kernel shape each hot family uses, and how it was chosen. */
  readonly tuning: KernelTuning;
  /** Most tokens one prefill submission feeds. */
  readonly prefillChunk: number;
  private readonly family: FamilyState;
  private readonly samplerState: GPUBuffer;
  /** What a request's penalties read: token counts (kernels/sample.ts) and its logit-bias list, written at prefill. */
  private readonly tokenCounts: GPUBuffer;
  private readonly biasList: GPUBuffer;
  /** Constrained decoding's token mask (kernels/sample.ts `allowed`), made on the first request that has one. */
  private tokenMask: GPUBuffer | null = null;
  /** The logprobs kernel's output; read back after the id, only for requests that ask. */
  private readonly logprobsOut: GPUBuffer;
  /** Top alternatives the step in flight reports (null: no logprobs), and the last step's. */
  private logprobsTop: number | null = null;
  private lastLogprobs: SampledLogprobs | null = null;
  private readonly staging: GPUBuffer;
  private readonly plans: Recordings<number, Dispatch[]>;
  private readonly samplers: Recordings<string, Dispatch>;
  /**
   * The logprobs kernels per `top`, apart from the samplers: a step takes one of each, and a recording made
   * when its cache is full drops the others (their buffers destroyed), so in one cache the second would
   * destroy the first before the step is submitted.
   */
  private readonly logprobsKernels: Recordings<number, Dispatch>;
  private readonly mtpPlans: Recordings<string, Dispatch[]>;
  /** Counts of the step in progress, and of the last complete decode step. */
  private counting: StepStats = emptyStep();
  private lastStep: StepStats | null = null;
  /** Tokens held in the KV cache (positions 0 … length-1). */
  private length = 0;
  /**
   * Positions the MTP module's cache holds (0 … mtpLength-1): length-1 after a plain call, the carry holding
   * h_{length-1}; length after a drafting one, its row length-1 fed the draft's `after` token.
   */
  private mtpLength = 0;
  /** 'mtp': decode steps verify drafts. */
  readonly speculative: Speculation;
  /** Drafts a speculative step verifies (k); 0 when speculation is off. */
  readonly speculativeDepth: number;
  /**
   * The main model's logits of the k+1 fed rows, the speculative kernels' result words and their word to
   * the chained module rows (kernels/speculative.ts).
   */
  private readonly spec: { depth: number; logits: GPUBuffer; result: GPUBuffer; chain: GPUBuffer; plans: Recordings<string, Dispatch[]> } | null;
  /** The drafts on the GPU (result words): drawn after `after` with this temperature and seed. */
  private draft: { after: number; ids: number[]; temperature: number; seed: number } | null = null;
  /** The token at position length-1: a step that must feed that position again. */
  private lastCached = -1;
  /** Decode steps since resetStats(). */
  private decoding = emptyDecoding();
  private disposed = false;
  /** With paged experts (docs/paging.md): the step runner; null when every expert is resident. */
  private readonly paged: PagedForward | null = null;
  /** Decode steps in flight (docs/decode-loop.md), their staging slots and the settings they draw with; null: off. */
  private ahead: { run: DecodeAhead; slots: GPUBuffer[]; sampling: SamplingParams | null } | null = null;
  /** The reach of a run dropped by setDecodeAhead (positions its steps wrote), until the next prefill. */
  private droppedReach = 0;

  private constructor(private readonly gpu: GpuContext, readonly weights: GpuWeights, config: AnyModelConfig, family: BoundFamily,
    sizes: { contextLength: number; prefillChunk: number; speculative: Speculation; depth: number }, opts: GpuModelOptions, ctx: KernelContext, tuning: KernelTuning,
    pager: ExpertPager | null = null) {
    this.config = config;
    this.vocabSize = config.vocabSize;
    const device = gpu.device;
    const tuned = {
      ...ctx, shapes: tuning.shapes, matmulReduce: tuning.matmulReduce,
      ...(opts.mlaDecode ? { mlaDecode: opts.mlaDecode } : {}), ...(opts.matmulPrefill ? { matmulPrefill: opts.matmulPrefill } : {}),
      ...(opts.mlaPrefill ? { mlaPrefill: opts.mlaPrefill } : {}), ...(opts.gemmMinTokens ? { gemmMinTokens: opts.gemmMinTokens } : {}),
    };
    this.tuning = tuning;
    this.contextLength = sizes.contextLength;
    this.prefillChunk = sizes.prefillChunk;
    this.family = family.create(device, weights, {
      contextLength: this.contextLength, maxTokens: this.prefillChunk, collectExpertUsage: opts.collectExpertUsage !== false,
      mtp: opts.mtp === true || sizes.speculative === 'mtp', kvCacheFormat: opts.kvCacheFormat, mlaDecode: opts.mlaDecode, mlaShape: tuning.shapes.mla, pagedExperts: pager !== null,
    });
    const pagedIo = this.family.pagedExperts;
    if (pager && pagedIo) this.paged = new PagedForward(gpu, pager, pagedIo, config.moe!.topK, this.prefillChunk);
    this.samplerState = createStorage(device, 'sampler_state', 16);
    this.tokenCounts = createStorage(device, 'sampler_token_counts', 4 * config.vocabSize);
    this.biasList = createStorage(device, 'sampler_logit_bias', 8 * MAX_BIAS_ENTRIES);
    this.logprobsOut = createStorage(device, 'sampler_logprobs', 4 * logprobsWords(MAX_TOP_LOGPROBS));
    this.staging = device.createBuffer({ label: 'sampled:readback', size: LOGPROBS_AT + this.logprobsOut.size, usage: USAGE.MAP_READ | USAGE.COPY_DST });
    this.plans = new Recordings(tuned, MAX_PLANS, (tokens) => tokens === DECODE);
    this.samplers = new Recordings(tuned, MAX_PLANS);
    this.logprobsKernels = new Recordings(tuned, MAX_PLANS);
    this.mtpPlans = new Recordings(tuned, 2 * MAX_PLANS, (key) => key === CARRIED);
    this.memory = { weights: weights.bytes, kvCache: this.family.kvCacheBytes, scratch: this.family.scratchBytes + this.samplerState.size + this.tokenCounts.size + this.biasList.size + this.logprobsOut.size };
    // The family verifies drafts when it records every row's logits and its module drafts (family.ts).
    const verifies = this.family.recordAllLogits !== undefined && this.family.mtp?.recordDraft !== undefined;
    if (sizes.speculative === 'mtp' && !verifies && opts.speculative === 'mtp') {
      this.family.destroy();
      throw new WebmoeError('invalid-request', `speculative: 'mtp' needs a family whose MTP module drafts on the GPU; ${config.modelType}'s does not yet`);
    }
    this.speculative = verifies ? sizes.speculative : 'off';
    this.speculativeDepth = this.speculative === 'mtp' ? sizes.depth : 0;
    this.spec = null;
    if (this.speculative === 'mtp') {
      const k = sizes.depth, mtp = this.family.mtp!;
      // Chained rows need the module's recordChain and logits rows past the step's k+1 (2k in all).
      if (k > 1 && (!mtp.recordChain || mtp.logitRows < 2 * k)) {
        this.family.destroy();
        throw new WebmoeError('invalid-request', `speculativeDepth ${k}: ${config.modelType}'s MTP module cannot chain ${k} drafts (logits rows ${mtp.logitRows})`);
      }
      const logits = createStorage(device, 'speculative_logits', 4 * (k + 1) * config.vocabSize);
      const result = createStorage(device, 'speculative_result', 4 * SPECULATIVE_RESULT_WORDS);
      const chain = createStorage(device, 'speculative_chain', 4 * SPECULATIVE_CHAIN_WORDS);
      // The step's recordings stay; the kernels per temperature and seed come and go.
      const pinned = (key: string) => key === 'verify' || key === 'step' || key.startsWith('chain ');
      this.spec = { depth: k, logits, result, chain, plans: new Recordings(tuned, 2 * MAX_PLANS, pinned) };
      this.memory.scratch += logits.size + result.size + chain.size;
    }
    this.ahead = this.aheadOf(checkDecodeAhead(opts.decodeAhead ?? defaultDecodeAhead(gpu.summary.isSoftware)));
  }

  /** Steps in flight for decodeAhead `n`: null when off (n = 1) or where it does not apply (paged experts, an MTP module). */
  private aheadOf(n: number): GpuModel['ahead'] {
    if (n === 1 || this.paged || this.family.mtp) return null;
    const slots = Array.from({ length: n }, (_, i) => this.gpu.device.createBuffer({ label: `sampled:ahead ${i}`, size: 4, usage: USAGE.MAP_READ | USAGE.COPY_DST }));
    const stepper = { submit: this.submitAhead.bind(this), read: this.readAhead.bind(this) };
    return { run: new DecodeAhead(stepper, n, this.contextLength), slots, sampling: null };
  }

  /**
   * Changes GpuModelOptions.decodeAhead after load (benchmarks compare depths on one loaded model): the
   * steps in flight finish first, and the cache is then as the last decode() call left it.
   */
  async setDecodeAhead(n: number): Promise<void> {
    this.checkUsable();
    checkDecodeAhead(n);
    const old = this.ahead;
    if (old) {
      await old.run.drain();
      this.droppedReach = Math.max(this.droppedReach, old.run.reach);
      old.slots.forEach((b) => b.destroy());
    }
    this.ahead = this.aheadOf(n);
  }

  /** Uploads the weights piece by piece (`loadShards` calls back with each piece of each shard at its offset) and builds the model. */
  static async load(gpu: GpuContext, manifest: Manifest,
    loadShards: (onPiece: (index: number, data: Uint8Array, offset: number) => void) => Promise<void>, opts: GpuModelOptions = {}): Promise<GpuModel> {
    const config = manifest.model.config;
    const family = familyOf(config);
    const contextLength = contextLengthOf(config, opts.contextLength);
    const maxBinding = gpu.device.limits.maxStorageBufferBindingSize;
    let prefillChunk = Math.max(1, Math.min(opts.prefillChunk ?? defaultPrefillChunk(family, contextLength, maxBinding), contextLength));
    const paging = planPaging(manifest, family, opts, { contextLength, prefillChunk, kvCacheFormat: opts.kvCacheFormat, mtp: opts.mtp === true || opts.speculative === 'mtp' });
    if (paging && !opts.readShardRange) throw new WebmoeError('invalid-request', 'expert paging needs readShardRange: where the experts\' bytes are read from');
    prefillChunk = paging?.prefillChunk ?? prefillChunk;
    const depth = depthOf(opts);
    if (opts.gemmMinTokens !== undefined && !(Number.isInteger(opts.gemmMinTokens) && opts.gemmMinTokens >= 1)) {
      throw new WebmoeError('invalid-request', `gemmMinTokens must be a positive integer (got ${String(opts.gemmMinTokens)})`);
    }
    const speculation = paging ? 'off' : speculationOf(manifest, opts, prefillChunk, depth);
    const weightOpts = { mtp: opts.mtp === true || speculation === 'mtp', maxBindingBytes: opts.maxBindingBytes, ...(paging ? { expertSlots: paging.slots } : {}) };
    checkLimits(gpu, manifest, family, contextLength, prefillChunk, weightOpts);
    const uploader = GpuWeights.uploader(gpu.device, manifest, weightOpts);
    let weights: GpuWeights;
    try {
      await loadShards((i, data, offset) => uploader.write(i, data, offset));
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
    let model: GpuModel;
    try {
      const pager = paging ? new ExpertPager(gpu.device, manifest, weights, paging.slots, opts.readShardRange!, opts.hostCacheBytes) : null;
      model = new GpuModel(gpu, weights, config, family, { contextLength, prefillChunk, speculative: speculation, depth }, opts, ctx, tuning, pager);
    } catch (e) {
      weights.destroy();
      throw e;
    }
    // Record the decode plan and a full prefill chunk's now, so that pipeline compilation happens during
    // loading rather than on the first prompt and the first token.
    model.plan(DECODE);
    model.plan(model.prefillChunk);
    const mtp = model.family.mtp;
    if (mtp) {
      model.mtpCarried(mtp, false);
      if (model.prefillChunk > 1) model.mtpRows(mtp, model.prefillChunk - 1, null);
    }
    if (model.spec) {
      const k = model.spec.depth;
      model.verifyPlan();
      model.draftRows(k + 1, k + 1);
      model.draftRows(1, 1);
      model.draftRows(model.prefillChunk - 1, 1);
      for (let c = 1; c < k; c++) model.chainRow(c);
    }
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

  private mtpCarried(mtp: FamilyMtp, logits: boolean): Dispatch[] {
    return this.mtpPlans.get(logits ? `${CARRIED}+logits` : CARRIED, (ctx) => mtp.recordCarried(ctx, logits));
  }

  private mtpRows(mtp: FamilyMtp, rows: number, logitsRow: number | null): Dispatch[] {
    return this.mtpPlans.get(`rows ${rows} @${logitsRow}`, (ctx) => mtp.recordRows(ctx, rows, logitsRow));
  }

  /** A speculative step's forward pass: [token, d_1 … d_k], every row's logits into spec.logits. */
  private verifyPlan(): Dispatch[] {
    const spec = this.spec!;
    return spec.plans.get('verify', (ctx) => this.family.recordAllLogits!(ctx, spec.depth + 1, spec.logits));
  }

  /** The module's draft rows (FamilyMtp.recordDraft) over a call of `rows` tokens. */
  private draftRows(rows: number, logitsRows: number): Dispatch[] {
    const mtp = this.family.mtp!, step = this.spec!.depth + 1;
    return this.spec!.plans.get(rows === step && logitsRows === step ? 'step' : `draft ${rows}/${logitsRows}`, (ctx) => mtp.recordDraft!(ctx, rows, logitsRows));
  }

  /** Chained module row c (1 … k-1): its logits into row k + c, past the step's module rows. */
  private chainRow(c: number): Dispatch[] {
    const spec = this.spec!, mtp = this.family.mtp!;
    return spec.plans.get(`chain ${c}`, (ctx) => mtp.recordChain!(ctx, spec.chain, spec.depth + c));
  }

  /** What follows a submission's module rows: the first draft, then each chained row and its draft. */
  private drafting(s: SamplingParams): Dispatch[] {
    const out = [this.specKernel('draft', s, 0)];
    for (let c = 1; c < this.spec!.depth; c++) out.push(...this.chainRow(c), this.specKernel('draft', s, c));
    return out;
  }

  /** Speculative decoding's verify kernel, or draft kernel `chain`, for a request's temperature and seed. */
  private specKernel(mode: 'verify' | 'draft', s: SamplingParams, chain = 0): Dispatch {
    const spec = this.spec!, mtp = this.family.mtp!;
    return spec.plans.get(`${mode}/${chain}/${s.temperature}/${s.seed}`, (ctx) => [speculative(ctx, {
      mode, drafts: spec.depth, draftIndex: chain, mainLogits: spec.logits, draftLogits: mtp.logits, draftRows: mtp.logitRows, vocab: this.config.vocabSize,
      state: this.samplerState, ids: this.family.io.ids, result: spec.result, chain: spec.chain, temperature: s.temperature, seed: s.seed,
    })])[0];
  }

  /**
   * Whether a submission that leaves `length` positions cached may draft: its chained rows run at positions
   * length … length+k-2, which must lie in the context.
   */
  private draftFits(length: number): boolean {
    return length + this.speculativeDepth - 1 <= this.contextLength;
  }

  /**
   * Whether a step with these settings may verify a draft: the kernel applies greedy decoding and plain
   * temperature, not top-k, top-p, min-p, penalties, a token mask or logprobs (those steps decode plainly).
   */
  private verifiable(s: SamplingParams): boolean {
    if (!this.spec || s.penalties || s.logprobs !== undefined || s.allowed) return false;
    return s.temperature <= 0 || (s.topK === 0 && s.topP >= 1 && !s.minP);
  }

  /**
   * Tokens to feed before `first`: when the module ran ahead, its row at length-1 was fed the draft's
   * `after` token; a call that starts with another token feeds position length-1 again (a rewind of one
   * position, which every family's caches allow) so that the row is run anew with `first`.
   */
  private rewindFor(first: number): number[] {
    const d = this.draft;
    this.draft = null;
    if (!d || d.after === first || this.mtpLength !== this.length || this.length === 0) return [];
    this.length--;
    this.mtpLength--;
    return [this.lastCached];
  }

  private sampler(s: SamplingParams): Dispatch {
    const pen = s.penalties;
    const mask = s.allowed ? this.writeTokenMask(s.allowed) : null;
    const key = (mask ? 'mask/' : '') + `${s.temperature}/${s.topK}/${s.topP}/${s.minP ?? 0}/${s.seed}` + (pen ? `/${pen.logitBias.length}/${pen.repetition}/${pen.presence}/${pen.frequency}` : '');
    return this.samplers.get(key, (ctx) => sample(ctx, {
      logits: this.family.io.logits, vocab: this.config.vocabSize, ids: this.family.io.sampled, state: this.samplerState,
      temperature: s.temperature, topK: s.topK, topP: s.topP, minP: s.minP ?? 0, seed: s.seed, ...(mask ? { allowed: mask } : {}),
      ...(pen ? {
        bias: { buffer: this.biasList, count: pen.logitBias.length },
        penalties: { counts: this.tokenCounts, repetition: pen.repetition, presence: pen.presence, frequency: pen.frequency },
      } : {}),
    }, 'sample'));
  }

  /** Writes the mask the next draw reads; the buffer is made once and kept (one bit per token). */
  private writeTokenMask(words: Uint32Array): GPUBuffer {
    const size = 4 * Math.ceil(this.config.vocabSize / 32);
    if (words.length * 4 !== size) throw new WebmoeError('invalid-request', `token mask: ${words.length} words for a vocabulary of ${this.config.vocabSize} (need ${size / 4})`);
    this.tokenMask ??= createStorage(this.gpu.device, 'sampler_token_mask', size);
    this.gpu.device.queue.writeBuffer(this.tokenMask, 0, words as Uint32Array<ArrayBuffer>);
    return this.tokenMask;
  }

  private logprobsKernel(top: number): Dispatch {
    return this.logprobsKernels.get(top, (ctx) => logprobs(ctx, {
      logits: this.family.io.logits, vocab: this.config.vocabSize, ids: this.family.io.sampled, top, out: this.logprobsOut,
    }));
  }

  /** A reply's penalties start from its prompt's tokens and its bias list; the sampler counts its draws. */
  private startPenalties(ids: readonly number[], s: SamplingParams): void {
    const pen = s.penalties;
    if (!pen) return;
    if (pen.logitBias.length > MAX_BIAS_ENTRIES) throw new WebmoeError('invalid-request', `logit_bias holds ${pen.logitBias.length} tokens; at most ${MAX_BIAS_ENTRIES}`);
    this.checkIds(pen.logitBias.map(([id]) => id));
    this.gpu.device.queue.writeBuffer(this.tokenCounts, 0, tokenCountWords(ids, this.config.vocabSize));
    this.gpu.device.queue.writeBuffer(this.biasList, 0, logitBiasWords(pen.logitBias));
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
  private async feed(ids: readonly number[], sampling: SamplingParams | null, signal?: AbortSignal): Promise<void> {
    ids = [...this.rewindFor(ids[0]), ...ids];
    for (let start = 0; start < ids.length; start += this.prefillChunk) {
      if (signal?.aborted) throw new WebmoeError('aborted', 'the prompt was aborted during prefill');
      const chunk = ids.slice(start, start + this.prefillChunk);
      const last = start + chunk.length >= ids.length ? sampling : null;
      if (this.paged) await this.submitPaged(this.paged, chunk, last);
      else this.submit(chunk, last, false);
    }
  }

  /**
   * One submission: the forward pass over `chunk` at position `length`, then the sampler when `sampling`.
   * With the MTP module, its carried row first and this call's rows after the forward (family.ts FamilyMtp);
   * with `mtpLogits`, their logits into the module's logits rows. Returns how many MTP rows it ran.
   */
  private submit(chunk: readonly number[], sampling: SamplingParams | null, mtpLogits: boolean): number {
    const device = this.gpu.device;
    const T = chunk.length, p = this.length;
    const mtp = this.family.mtp ?? null;
    device.queue.writeBuffer(this.family.io.ids, 0, new Uint32Array(chunk));
    device.queue.writeBuffer(this.family.io.positions, 0, new Uint32Array([p, 0, 0, 0]));
    const dispatches: Dispatch[] = [];
    let mtpRows = 0;
    if (mtp) {
      if (this.mtpLength === p - 1) {
        device.queue.writeBuffer(mtp.carryPositions, 0, new Uint32Array([p - 1, 0, 0, 0]));
        dispatches.push(...this.mtpCarried(mtp, mtpLogits));
        mtpRows++;
      } else if (this.mtpLength !== p) {
        throw new WebmoeError('internal', `the MTP module holds ${this.mtpLength} positions; a call at position ${p} needs ${p - 1} or ${p}`);
      }
    }
    dispatches.push(...this.plan(T));
    if (mtp && T > 1) {
      const at = mtpLogits ? mtpRows : null;
      dispatches.push(...this.mtpRows(mtp, T - 1, at));
      mtpRows += T - 1;
    }
    if (sampling) dispatches.push(...this.samplingDispatches(sampling));
    const encoder = device.createCommandEncoder({ label: `forward T=${T}` });
    const pass = encoder.beginComputePass({ label: `forward T=${T}` });
    recordDispatches(pass, dispatches);
    pass.end();
    mtp?.encodeCarry(encoder, T);
    if (sampling) this.encodeSampledReadback(encoder);
    device.queue.submit([encoder.finish()]);
    this.counting.dispatchesPerToken += dispatches.length;
    this.counting.submitsPerToken++;
    this.length += T;
    this.lastCached = chunk[T - 1];
    this.draft = null;
    if (mtp) this.mtpLength = this.length - 1;
    return mtpRows;
  }

  /** The sampler (and the logprobs kernel when asked) after a call's forward pass. */
  private samplingDispatches(sampling: SamplingParams): Dispatch[] {
    this.gpu.device.queue.writeBuffer(this.samplerState, 0, new Uint32Array([sampling.step, 0, 0, 0]));
    this.logprobsTop = sampling.logprobs ?? null;
    return this.logprobsTop === null ? [this.sampler(sampling)] : [this.sampler(sampling), this.logprobsKernel(this.logprobsTop)];
  }

  private encodeSampledReadback(encoder: GPUCommandEncoder): void {
    encoder.copyBufferToBuffer(this.family.io.sampled, 0, this.staging, 0, 4);
    if (this.logprobsTop !== null) encoder.copyBufferToBuffer(this.logprobsOut, 0, this.staging, LOGPROBS_AT, 4 * logprobsWords(this.logprobsTop));
  }

  /** submit() with paged experts (paged-forward.ts): one submission per MoE layer; no MTP module. */
  private async submitPaged(paged: PagedForward, chunk: readonly number[], sampling: SamplingParams | null): Promise<void> {
    const device = this.gpu.device;
    const T = chunk.length;
    device.queue.writeBuffer(this.family.io.ids, 0, new Uint32Array(chunk));
    device.queue.writeBuffer(this.family.io.positions, 0, new Uint32Array([this.length, 0, 0, 0]));
    const dispatches = sampling ? [...this.plan(T), ...this.samplingDispatches(sampling)] : this.plan(T);
    const r = await paged.run(dispatches, T, (encoder) => {
      if (sampling) this.encodeSampledReadback(encoder);
    });
    this.counting.dispatchesPerToken += dispatches.length;
    this.counting.submitsPerToken += r.submits;
    this.counting.readbackBytesPerToken += r.readback;
    this.length += T;
    this.lastCached = chunk[T - 1];
    this.draft = null;
  }

  /** Expert paging's counters since resetStats() (docs/paging.md); null when every expert is resident. */
  pagingStats(): PagingStats | null {
    return this.paged?.pager.stats() ?? null;
  }

  /**
   * A submission that ends with a draft (docs/speculative.md): the forward pass over `chunk` at `length`
   * (after the module's carried row when it is one behind), the sampler on its last row, then the sampled
   * id copied into ids[T] and the module's rows over every position of the chunk, the last one's logits
   * drafting the next token. `chunk` must leave room in ids for that one (T < prefillChunk).
   */
  private submitDrafting(chunk: readonly number[], sampling: SamplingParams): void {
    const device = this.gpu.device, io = this.family.io, mtp = this.family.mtp!, spec = this.spec!;
    const T = chunk.length, p = this.length;
    device.queue.writeBuffer(io.ids, 0, new Uint32Array(chunk));
    device.queue.writeBuffer(io.positions, 0, new Uint32Array([p, 0, 0, 0]));
    // The first draft's logits row 0 is the module's row T-1, at position p+T-1.
    device.queue.writeBuffer(this.samplerState, 0, new Uint32Array([sampling.step, p, T - 1, 0]));
    // n = 1: the draft kernel takes logits row 0, at step + 1.
    device.queue.writeBuffer(spec.result, 0, new Uint32Array(SPECULATIVE_RESULT_WORDS).fill(1, 0, 1));
    const forward: Dispatch[] = [];
    if (this.mtpLength === p - 1) {
      device.queue.writeBuffer(mtp.carryPositions, 0, new Uint32Array([p - 1, 0, 0, 0]));
      forward.push(...this.mtpCarried(mtp, false));
    } else if (this.mtpLength !== p) {
      throw new WebmoeError('internal', `the MTP module holds ${this.mtpLength} positions; a call at position ${p} needs ${p - 1} or ${p}`);
    }
    forward.push(...this.plan(T), this.sampler(sampling));
    const drafting = [...this.draftRows(T, 1), ...this.drafting(sampling)];
    const encoder = device.createCommandEncoder({ label: `forward T=${T} + draft` });
    const pass = encoder.beginComputePass({ label: `forward T=${T}` });
    recordDispatches(pass, forward);
    pass.end();
    encoder.copyBufferToBuffer(io.sampled, 0, io.ids, 4 * T, 4);
    const draftPass = encoder.beginComputePass({ label: `draft T=${T}` });
    recordDispatches(draftPass, drafting);
    draftPass.end();
    encoder.copyBufferToBuffer(io.sampled, 0, this.staging, 0, 4);
    encoder.copyBufferToBuffer(spec.result, 0, this.staging, RESULT_AT, 4 * SPECULATIVE_RESULT_WORDS);
    device.queue.submit([encoder.finish()]);
    this.counting.dispatchesPerToken += forward.length + drafting.length;
    this.counting.submitsPerToken++;
    this.length += T;
    this.mtpLength = this.length;
    this.lastCached = chunk[T - 1];
    this.draft = null;
    this.logprobsTop = null;
  }

  /**
   * A speculative step (docs/speculative.md), one submission: the forward pass over [token, d_1 … d_k] with
   * every row's logits, the verify kernel (the step's tokens into ids[1 …]), the module's rows at all k+1
   * positions, then the first draft and the chained rows and drafts; the result words are its only readback.
   */
  private submitVerify(token: number, drafts: readonly number[], sampling: SamplingParams): void {
    const device = this.gpu.device, io = this.family.io, spec = this.spec!, k = spec.depth;
    device.queue.writeBuffer(io.ids, 0, new Uint32Array([token, ...drafts]));
    device.queue.writeBuffer(io.positions, 0, new Uint32Array([this.length, 0, 0, 0]));
    device.queue.writeBuffer(this.samplerState, 0, new Uint32Array([sampling.step, this.length, 0, 0]));
    const dispatches = [...this.verifyPlan(), this.specKernel('verify', sampling), ...this.draftRows(k + 1, k + 1), ...this.drafting(sampling)];
    const encoder = device.createCommandEncoder({ label: 'speculative step' });
    const pass = encoder.beginComputePass({ label: 'speculative step' });
    recordDispatches(pass, dispatches);
    pass.end();
    encoder.copyBufferToBuffer(spec.result, 0, this.staging, RESULT_AT, 4 * SPECULATIVE_RESULT_WORDS);
    device.queue.submit([encoder.finish()]);
    this.counting.dispatchesPerToken += dispatches.length;
    this.counting.submitsPerToken++;
    this.draft = null;
    this.logprobsTop = null;
  }

  /** Maps the readback: the sampled id (word 0) and the speculative result words. */
  private async readResult(): Promise<{ sampled: number; result: Uint32Array }> {
    const bytes = RESULT_AT + 4 * SPECULATIVE_RESULT_WORDS;
    await mapForReading(this.gpu, this.staging, 0, bytes);
    const words = new Uint32Array(this.staging.getMappedRange(0, bytes).slice(0));
    this.staging.unmap();
    this.counting.readbackBytesPerToken += bytes;
    this.gpu.check();
    this.lastLogprobs = null;
    return { sampled: words[0], result: words.subarray(RESULT_AT / 4) };
  }

  /** After submitDrafting: the sampled id, and the drafts that follow it. */
  private async readDrafted(s: SamplingParams): Promise<number> {
    const { sampled: word, result } = await this.readResult();
    const sampled = this.checkSampled(word);
    this.keepDrafts(sampled, result, s);
    return sampled;
  }

  /** The drafts the last submission drew after `after` (result words). */
  private keepDrafts(after: number, result: Uint32Array, s: SamplingParams): void {
    const at = SPECULATIVE_RESULT.drafts;
    this.draft = { after, ids: [...result.subarray(at, at + this.speculativeDepth)], temperature: s.temperature, seed: s.seed };
  }

  private async readSampled(): Promise<number> {
    const top = this.logprobsTop;
    const bytes = top === null ? 4 : LOGPROBS_AT + 4 * logprobsWords(top);
    await mapForReading(this.gpu, this.staging, 0, bytes);
    const mapped = this.staging.getMappedRange(0, bytes);
    const id = new Uint32Array(mapped)[0];
    this.lastLogprobs = top === null ? null : readLogprobs(new Uint32Array(mapped.slice(LOGPROBS_AT)), top);
    this.counting.readbackBytesPerToken += mapped.byteLength;
    this.staging.unmap();
    this.gpu.check();
    return this.checkSampled(id);
  }

  /** The samplers write NONE for a row of logits with a NaN or +inf (shaders/sample.wgsl, speculative.wgsl). */
  private checkSampled(id: number): number {
    if (id === SAMPLED_NONFINITE) {
      throw new WebmoeError('model-output', `the model's logits at position ${this.length - 1} are not finite (NaN or +infinity): a weight is broken or a value overflowed; no token was drawn`, {
        detail: { position: this.length - 1 },
      });
    }
    return id;
  }

  async prefill(ids: readonly number[], options: PrefillOptions): Promise<PrefillResult> {
    this.checkUsable();
    if (ids.length === 0) throw new WebmoeError('invalid-request', 'the prompt is empty');
    this.checkIds(ids);
    this.checkContext(ids.length);
    let keep = Math.max(0, Math.min(options.reusePrefix, this.length, ids.length - 1));
    // A family whose caches cannot go back that far starts again from position 0. Speculative steps leave
    // rows past the cache (rejected drafts, chained module rows: up to k-1 more positions than depth 1's),
    // and so do decode steps run ahead (up to their reach).
    const rewind = this.family.maxRewind;
    const slack = Math.max(0, this.speculativeDepth - 1);
    const written = Math.max(this.length, this.ahead?.run.reach ?? 0, this.droppedReach);
    this.ahead?.run.forget();
    this.droppedReach = 0;
    if (rewind !== undefined && written - keep > rewind - slack) keep = 0;
    // The MTP row at keep-1 pairs h_{keep-1} with the new ids[keep]. Only when the whole cache is kept does
    // the carry hold h_{keep-1}, or the row ran ahead with that very token; otherwise position keep-1 is
    // fed again to get it.
    const ranAhead = this.mtpLength === this.length && this.draft?.after === ids[keep];
    if (this.family.mtp && keep > 0 && (keep < this.length || (this.mtpLength === this.length && !ranAhead))) keep--;
    this.length = keep;
    this.mtpLength = Math.min(this.mtpLength, keep);
    this.draft = null;
    const s = options.sampling;
    try {
      this.startPenalties(ids, s);
      if (!this.verifiable(s) || !this.draftFits(ids.length)) {
        await this.feed(ids.slice(keep), s, options.signal);
        return { reusedTokens: keep, next: await this.readSampled() };
      }
      // The last submission drafts, its chunk leaving room in ids for the sampled token.
      const rest = ids.slice(keep);
      const last = Math.min(rest.length, this.prefillChunk - 1);
      await this.feed(rest.slice(0, rest.length - last), null, options.signal);
      if (options.signal?.aborted) throw new WebmoeError('aborted', 'the prompt was aborted during prefill');
      this.submitDrafting(rest.slice(rest.length - last), s);
      return { reusedTokens: keep, next: await this.readDrafted(s) };
    } catch (e) {
      this.reset();
      throw e;
    }
  }

  takeLogprobs(): SampledLogprobs {
    if (!this.lastLogprobs) throw new WebmoeError('internal', 'no logprobs: the last step did not ask for them');
    const r = this.lastLogprobs;
    this.lastLogprobs = null;
    return r;
  }

  async decode(token: number, sampling: SamplingParams): Promise<number[]> {
    this.checkUsable();
    this.checkIds([token]);
    this.checkContext(this.length + 1);
    this.counting = emptyStep();
    let out: number[];
    const d = this.draft, k = this.speculativeDepth;
    if (this.ahead && sampling.logprobs === undefined && !sampling.allowed) {
      out = await this.decodeAhead(this.ahead, token, sampling);
    // Drafting leaves at most length+1 positions cached; near the context's end steps decode plainly.
    } else if (!this.verifiable(sampling) || !this.draftFits(this.length + 1)) {
      this.ahead?.run.abandon();
      await this.feed([token], sampling);
      out = [await this.readSampled()];
    } else if (d && d.after === token && d.temperature === sampling.temperature && d.seed === sampling.seed
      && this.mtpLength === this.length && this.length + 2 * k <= this.contextLength) {
      // The step's main rows reach length+k, its chained module rows length+2k-1.
      this.submitVerify(token, d.ids, sampling);
      const { result } = await this.readResult();
      const n = result[0], at = SPECULATIVE_RESULT.tokens;
      out = n === 1 ? [this.checkSampled(result[at])] : [...result.subarray(at, at + n)];
      this.length += n;
      this.mtpLength = this.length;
      this.lastCached = n > 1 ? d.ids[n - 2] : token;
      this.keepDrafts(out[n - 1], result, sampling);
      this.counting.tokens = n;
      this.counting.draftAccepted = n > 1;
      this.decoding.verified++;
      this.decoding.drafted += k;
      this.decoding.accepted += n - 1;
      for (let j = 0; j < n - 1; j++) this.decoding.acceptedAt[j]++;
    } else {
      // No draft to verify (the first step after a plain one, another request's draft): draft one.
      const chunk = [...this.rewindFor(token), token];
      this.submitDrafting(chunk, sampling);
      out = [await this.readDrafted(sampling)];
    }
    this.decoding.steps++;
    this.decoding.tokens += out.length;
    this.lastStep = this.counting;
    return out;
  }

  /**
   * decode() with steps in flight (decode-ahead.ts): the ids drawn after `token`, all but the last then
   * cached. The tokens after the first came from steps queued by earlier calls, or read back with it.
   */
  private async decodeAhead(ahead: NonNullable<GpuModel['ahead']>, token: number, sampling: SamplingParams): Promise<number[]> {
    ahead.sampling = sampling;
    let out: number[];
    try {
      out = await ahead.run.decode({ token, position: this.length, step: sampling.step, key: aheadKey(sampling) });
      this.gpu.check();
      // Each id's step fed the position before it: `token` at length, then every id but the last.
      for (const id of out) {
        this.length++;
        this.checkSampled(id);
      }
    } catch (e) {
      ahead.run.abandon();
      throw e;
    }
    this.lastCached = out.length > 1 ? out[out.length - 2] : token;
    this.counting.tokens = out.length;
    this.lastLogprobs = null;
    this.logprobsTop = null;
    return out;
  }

  /** One step run ahead (DecodeAhead's stepper): the forward pass at `position`, the sampler, its id fed on and staged. */
  private submitAhead(slot: number, position: number, step: number, token: number | null): void {
    const device = this.gpu.device, io = this.family.io, ahead = this.ahead!;
    if (token !== null) device.queue.writeBuffer(io.ids, 0, new Uint32Array([token]));
    device.queue.writeBuffer(io.positions, 0, new Uint32Array([position, 0, 0, 0]));
    device.queue.writeBuffer(this.samplerState, 0, new Uint32Array([step, 0, 0, 0]));
    const dispatches = [...this.plan(DECODE), this.sampler(ahead.sampling!)];
    const encoder = device.createCommandEncoder({ label: 'decode ahead' });
    const pass = encoder.beginComputePass({ label: 'decode ahead' });
    recordDispatches(pass, dispatches);
    pass.end();
    // The drawn id is the next step's token: it goes on without the CPU.
    encoder.copyBufferToBuffer(io.sampled, 0, io.ids, 0, 4);
    encoder.copyBufferToBuffer(io.sampled, 0, ahead.slots[slot], 0, 4);
    device.queue.submit([encoder.finish()]);
    this.counting.dispatchesPerToken += dispatches.length;
    this.counting.submitsPerToken++;
    this.draft = null;
  }

  private async readAhead(slot: number): Promise<number> {
    const buffer = this.ahead!.slots[slot];
    await mapForReading(this.gpu, buffer, 0, 4);
    const id = new Uint32Array(buffer.getMappedRange(0, 4))[0];
    buffer.unmap();
    this.counting.readbackBytesPerToken += 4;
    return id;
  }

  /** Decode steps kept in flight (GpuModelOptions.decodeAhead); 1 when decoding ahead is off. */
  get decodeAheadSteps(): number {
    return this.ahead?.run.depth ?? 1;
  }

  /** Decode steps since resetStats(), and what speculation made of them. */
  decodingStats(): DecodingStats {
    const { acceptedAt, ...counts } = this.decoding;
    return { speculative: this.speculative, depth: this.speculativeDepth, ...counts, acceptedAt: acceptedAt.slice(0, this.speculativeDepth) };
  }

  /** Feeds `ids` after what the cache holds and returns the logits after the last one (tests, `webmoe run --logits`). */
  async logitsAfter(ids: readonly number[]): Promise<Float32Array> {
    this.checkUsable();
    this.checkIds(ids);
    this.checkContext(this.length + ids.length);
    this.ahead?.run.abandon();
    await this.feed(ids, null);
    return this.readLogits();
  }

  /**
   * Like logitsAfter, and the MTP module's logits rows (GpuModelOptions.mtp) for every position whose next
   * token this call brings: the position before the call's first token (none at 0), then each but the last
   * of the call's own. Row i of a prompt fed at position 0 is the module at position i fed ids[i+1],
   * predicting ids[i+2]. Chunks are at most the module's logits rows (read back after each): tests and tools.
   */
  async logitsWithMtp(ids: readonly number[]): Promise<{ logits: Float32Array; mtp: Float32Array[] }> {
    this.checkUsable();
    const mtp = this.family.mtp;
    if (!mtp) throw new WebmoeError('invalid-request', 'logitsWithMtp needs the MTP module: load the model with the option mtp: true');
    if (ids.length === 0) throw new WebmoeError('invalid-request', 'logitsWithMtp: no token ids');
    this.checkIds(ids);
    this.checkContext(this.length + ids.length);
    const V = this.config.vocabSize;
    const rows: Float32Array[] = [];
    const step = Math.min(this.prefillChunk, mtp.logitRows);
    // A module that ran ahead computes its row at length-1 again, for its logits (-1: no token matches).
    ids = [...this.rewindFor(-1), ...ids];
    for (let start = 0; start < ids.length; start += step) {
      const n = this.submit(ids.slice(start, start + step), null, true);
      if (n === 0) continue;
      const flat = await readF32(this.gpu.device, mtp.logits, n * V);
      for (let r = 0; r < n; r++) rows.push(flat.slice(r * V, (r + 1) * V));
    }
    return { logits: await this.readLogits(), mtp: rows };
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
    this.paged?.pager.resetStats();
    this.decoding = emptyDecoding();
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
      decoding: this.decodingStats(),
      ...(this.paged ? { paging: this.paged.pager.stats() } : {}),
    };
  }

  reset(): void {
    this.ahead?.run.forget();
    this.droppedReach = 0;
    this.length = 0;
    this.mtpLength = 0;
    this.draft = null;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.weights.destroy();
    this.family.destroy();
    this.samplerState.destroy();
    this.tokenCounts.destroy();
    this.biasList.destroy();
    this.tokenMask?.destroy();
    this.logprobsOut.destroy();
    this.staging.destroy();
    this.ahead?.slots.forEach((b) => b.destroy());
    this.paged?.destroy();
    this.plans.clear();
    this.samplers.clear();
    this.logprobsKernels.clear();
    this.mtpPlans.clear();
    this.spec?.plans.clear();
    this.spec?.logits.destroy();
    this.spec?.result.destroy();
    this.spec?.chain.destroy();
  }
}

/** The speculative depth asked for (GpuModelOptions.speculativeDepth), 1 by default. */
function depthOf(opts: GpuModelOptions): number {
  const k = opts.speculativeDepth ?? 1;
  if (!Number.isInteger(k) || k < 1 || k > MAX_SPECULATIVE_DEPTH) {
    throw new WebmoeError('invalid-request', `speculativeDepth must be 1, 2 or 3 (got ${String(k)})`);
  }
  return k;
}

/**
 * Speculation asked for or by default: 'mtp' needs the folder's MTP module and room in a call for the
 * token, its k drafts and the token after (ids[k+1]), and caches that take back the k+1 rows a step may
 * reject plus the chained rows (a prefill chunk of 2k+1). By default it is on when both are there and the adapter is
 * a GPU: a software adapter computes rather than waits on memory, so a two-row step costs it 1.6-3.3× a
 * one-row step (measured on SwiftShader, docs/speculative.md), more than a draft accepted 60 % of the time gains.
 */
function speculationOf(manifest: Manifest, opts: GpuModelOptions, prefillChunk: number, depth: number): Speculation {
  if (opts.speculative !== 'mtp') return 'off';
  const chunk = 2 * depth + 1;
  if (!(manifest.mtp && manifest.model.config.numMtpLayers > 0)) {
    throw new WebmoeError('invalid-request', 'speculative: \'mtp\' needs the MTP module: this model folder has none (convert the checkpoint with --mtp)');
  }
  if (prefillChunk < chunk) throw new WebmoeError('invalid-request', `speculative: 'mtp' at depth ${depth} needs a prefill chunk of at least ${chunk} tokens; it is ${prefillChunk}`);
  return 'mtp';
}

function emptyDecoding() {
  return { steps: 0, tokens: 0, verified: 0, drafted: 0, accepted: 0, acceptedAt: new Array<number>(MAX_SPECULATIVE_DEPTH).fill(0) };
}

function emptyStep(): StepStats {
  return { dispatchesPerToken: 0, submitsPerToken: 0, readbackBytesPerToken: 0, tokens: 1, draftAccepted: null };
}
