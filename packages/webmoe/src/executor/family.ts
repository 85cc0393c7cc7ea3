// What GpuModel needs from an architecture family (V2/V3's MLA, V4's compressed sparse attention): its
// GPU state (activations, KV caches, tables), the recorder of its forward pass, and its sizes. GpuModel
// owns what every family shares — the weights, the sampler, plans, the decode loop — so that a reader
// sees one model at a time in the family's own folder.
import type { KernelContext, KernelShape, MlaDecodeKernel } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import type { KvCacheFormat } from '../kernels/mla';
import type { ExpertUsage } from './expert-usage';
import type { GpuWeights } from './weights';

/** The buffers GpuModel drives every call through. */
export interface FamilyIo {
  /** u32 [maxTokens]: the token ids of the call. */
  ids: GPUBuffer;
  /** u32 [4]: [0] = position of the call's first token. */
  positions: GPUBuffer;
  /** f32 [vocab]: logits after the call's last token. */
  logits: GPUBuffer;
  /** u32 [4]: [0] = the sampled id. */
  sampled: GPUBuffer;
}

/** KV-cache bytes per cached token: the cache this family keeps, and a standard multi-head cache of the same model. */
export interface KvBytes {
  latent: number;
  mha: number;
}

export interface FamilyState {
  readonly io: FamilyIo;
  /** GPU bytes of the KV caches (all layers) and of everything else the family allocated. */
  readonly kvCacheBytes: number;
  readonly scratchBytes: number;
  readonly kvBytesPerToken: KvBytes;
  /** Per MoE layer, the expert counters the router adds to (read for the demo's heatmap). */
  readonly expertUsage: ExpertUsage;
  /** The forward pass of a call of `tokens` tokens at positions[0] …, leaving the last token's logits in io.logits. */
  record(ctx: KernelContext, tokens: number): Dispatch[];
  /**
   * The same forward pass with every row's logits into `logits` rows 0 … tokens-1 (io.logits untouched):
   * speculative decoding verifies a draft with it (docs/speculative.md). Absent: the family cannot.
   */
  recordAllLogits?(ctx: KernelContext, tokens: number, logits: GPUBuffer): Dispatch[];
  /** The MTP module's state, when FamilyOptions.mtp asked for it (families without GPU MTP leave it out). */
  readonly mtp?: FamilyMtp | null;
  /**
   * How many cached positions a prompt may take back and still reuse the rest: V4's window and compressor
   * rings hold only the last chunk or so, so going back further than they cover needs a fresh prefill.
   * Absent: any (V2/V3's latent cache keeps every position).
   */
  readonly maxRewind?: number;
  /**
   * With FamilyOptions.pagedExperts (docs/paging.md): the router's ids [maxTokens·K] u32, which the pager
   * reads back per MoE layer, and the slots buffer it writes for the expert kernels.
   */
  readonly pagedExperts?: { routerIds: GPUBuffer; slots: GPUBuffer } | null;
  destroy(): void;
}

/**
 * A multi-token-prediction module on the GPU (docs/architecture-v4.md#mtp). Its row at position i reads
 * the main model's last hidden state there, h_i, and the token t_{i+1} that follows, and predicts t_{i+2}.
 * Like any attention layer it must see every position in order. GpuModel keeps it one position behind the
 * main model: a call at positions p … p+T-1 first runs the row p-1 from the carried h_{p-1} (its next token,
 * ids[0], arrives with this call), then after the main forward the rows p … p+T-2 from this call's hidden
 * states, and copies h_{p+T-1} into the carry for the next call.
 */
export interface FamilyMtp {
  /** f32 [logitRows, vocab]: the MTP logits of the last call's rows, when it asked for them. */
  readonly logits: GPUBuffer;
  readonly logitRows: number;
  /** u32 [4]: [0] = the carried row's position (written before a call that runs it). */
  readonly carryPositions: GPUBuffer;
  /** The carried row p-1, its next token ids[0]; logits into row 0 when `logits`. */
  recordCarried(ctx: KernelContext, logits: boolean): Dispatch[];
  /** Rows p … p+rows-1 of the call (after its main forward), next tokens ids[1 …]; logits from row `logitsRow` when not null. */
  recordRows(ctx: KernelContext, rows: number, logitsRow: number | null): Dispatch[];
  /** Copies the hidden state of the call's last token (row tokens-1) into the carry, after the call's pass. */
  encodeCarry(encoder: GPUCommandEncoder, tokens: number): void;
  /**
   * Speculative decoding's draft rows (docs/speculative.md): like recordRows, rows p … p+rows-1 of the call
   * from the main model's hidden states of this call's rows 0 … rows-1 with next tokens ids[1 … rows]
   * (GpuModel writes the last of them on the GPU: the sampled or verified token), so rows may equal the
   * call's length; then the head on the last `logitsRows` rows only, into logits rows 0 … logitsRows-1.
   * It leaves the carry as it was: after it the module holds every position of the call (GpuModel's
   * mtpLength = length), and the next call has no carried row. Optional: a module without it cannot draft.
   */
  recordDraft?(ctx: KernelContext, rows: number, logitsRows: number): Dispatch[];
  /**
   * A chained draft row (docs/speculative.md#chained-drafts): one row of the module at position chain[0],
   * fed its own output of row chain[1] of the module's last step (before the head's norm) and the token
   * chain[2], the head into logits row `logitsRow`. `chain` is what the draft kernel wrote on the GPU.
   */
  recordChain?(ctx: KernelContext, chain: GPUBuffer, logitsRow: number): Dispatch[];
}

export interface FamilyOptions {
  /** Positions the KV caches hold. */
  contextLength: number;
  /** Most tokens of one call (the prefill chunk). */
  maxTokens: number;
  collectExpertUsage: boolean;
  /** Allocate the MTP module's caches and activations (the weights hold its tensors). */
  mtp: boolean;
  /** V2/V3 latent cache format (kernels/mla.ts KvCacheFormat); default f32. Other families ignore it. */
  kvCacheFormat?: KvCacheFormat;
  /** V2/V3 decode attention's kernel when forced (GpuModelOptions.mlaDecode): its scratch is sized for it. */
  mlaDecode?: MlaDecodeKernel;
  /** The shape decode attention runs in (the tuning's 'mla'): 'row' needs no decode scratch. Default 'workgroup'. */
  mlaShape?: KernelShape;
  /** The routed experts are paged (weights.ts WeightOptions.expertSlots): the kernels read slots the pager writes. */
  pagedExperts?: boolean;
}

/** A family's sizes before anything is allocated, and the constructor of its state. */
export interface Family<C> {
  /**
   * Activation floats per token of a chunk (all buffers), and the largest single buffer's, at this context;
   * fixedBytes: scratch that does not grow with the chunk (V3's decode attention, executor/v3/activations.ts).
   */
  activationFloatsPerToken(config: C, contextLength: number): { total: number; largest: number; fixedBytes?: number };
  /** The largest KV-cache buffer (bytes) one layer needs for `contextLength` positions. */
  largestCacheBinding(config: C, contextLength: number, maxTokens: number): number;
  create(device: GPUDevice, config: C, weights: GpuWeights, opts: FamilyOptions): FamilyState;
}

/** A family together with the config it serves: what GpuModel and the sizing code hold. */
export interface BoundFamily {
  activationFloatsPerToken(contextLength: number): { total: number; largest: number; fixedBytes?: number };
  largestCacheBinding(contextLength: number, maxTokens: number): number;
  create(device: GPUDevice, weights: GpuWeights, opts: FamilyOptions): FamilyState;
}

export function bindFamily<C>(family: Family<C>, config: C): BoundFamily {
  return {
    activationFloatsPerToken: (contextLength) => family.activationFloatsPerToken(config, contextLength),
    largestCacheBinding: (contextLength, maxTokens) => family.largestCacheBinding(config, contextLength, maxTokens),
    create: (device, weights, opts) => family.create(device, config, weights, opts),
  };
}
