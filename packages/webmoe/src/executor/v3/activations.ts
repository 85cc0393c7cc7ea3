// The activations of one forward call, sized once for the largest chunk of tokens the model will be
// fed at a time, and reused by every call and every layer (no allocation per token).
import { BufferGroup } from '../../gpu/buffers';
import { ENGINE_MIN_LIMITS } from '../../gpu/device';
import type { KernelShape, MlaDecodeKernel } from '../../gpu/kernel-context';
import type { ModelConfig } from '../../model/config';
import { decodeScratchBytes, latentCacheLayout, type LatentCacheLayout } from '../../kernels/mla';

export interface Activations {
  /** u32 [maxTokens]: the token ids of the call. */
  ids: GPUBuffer;
  /** u32 [4]: [0] = position of the call's first token (read by rope, kv store and attention). */
  positions: GPUBuffer;
  /** Residual stream [T, d]. */
  h: GPUBuffer;
  /** Normalized input of the current sub-block [T, d]. */
  xn: GPUBuffer;
  qa: GPUBuffer | null;
  qaNorm: GPUBuffer | null;
  /** [T, H, nope + rope]. */
  q: GPUBuffer;
  /** kv_a output [T, kvLoraRank + rope]. */
  kva: GPUBuffer;
  /** Absorbed queries q̃ [T, H, kvLoraRank]. */
  qt: GPUBuffer;
  /** Latent attention output [T, H, kvLoraRank]. */
  olat: GPUBuffer;
  /** Decode attention's partial records over position splits (kernels/mla.ts decodeScratchBytes). */
  mlaPartials: GPUBuffer;
  /** Decode attention's scores [H, context] when the latent GEMM runs it (kernels/mla.ts decodeScratchBytes); else 16 bytes. */
  mlaScores: GPUBuffer;
  /** Per-head values [T, H, v]. */
  o: GPUBuffer;
  /** Output of a sub-block before the residual add [T, d]. */
  delta: GPUBuffer;
  /**
   * SwiGLU hidden [T, max(intermediate, shared intermediate)] or, for routed experts, [T·K, moe intermediate];
   * in decode K + 1 slots when the shared expert runs as one (executor/fused-weights.ts).
   */
  hidden: GPUBuffer;
  /** Router logits [T, E] (the matmul family's output, read by the selection). */
  routerLogits: GPUBuffer | null;
  routerIds: GPUBuffer | null;
  routerWeights: GPUBuffer | null;
  offsets: GPUBuffer | null;
  slot: GPUBuffer | null;
  xGrouped: GPUBuffer | null;
  yGrouped: GPUBuffer | null;
  /** Logits of the call's last token [vocab]. */
  logits: GPUBuffer;
  /** u32 [4]: [0] the sampled id. */
  sampled: GPUBuffer;
  /** Every buffer above: their bytes, and one destroy. */
  buffers: BufferGroup;
}

/**
 * Activation floats per token of a chunk, the largest single buffer's floats per token, and the decode
 * attention's scratch at this context (fixed bytes, kernels/mla.ts decodeScratchBytes).
 */
export function activationFloatsPerToken(c: ModelConfig, contextLength: number): { total: number; largest: number; fixedBytes: number } {
  const sizes = Object.values(activationSizes(c));
  const mla = decodeScratchBytes(PLAN_LIMITS, latentCacheLayout(c, contextLength), c.numHeads);
  return { total: sizes.reduce((a, b) => a + b, 0), largest: Math.max(...sizes), fixedBytes: mla.partials + mla.scores };
}

// What the memory plan assumes before a device exists: the engine's minimum limits, and scores of any size
// bindable (the latent GEMM counted whenever the heads would pick it: an estimate from above).
const PLAN_LIMITS = { ...ENGINE_MIN_LIMITS, maxStorageBufferBindingSize: Number.MAX_SAFE_INTEGER } as unknown as GPUSupportedLimits;

/** Floats per token of every activation that grows with the chunk. */
function activationSizes(c: ModelConfig) {
  const H = c.numHeads;
  const K = c.moe?.topK ?? 0;
  const E = c.moe?.nRoutedExperts ?? 0;
  const sharedInter = c.moe ? c.moe.intermediateSize * c.moe.nSharedExperts : 0;
  const hiddenWidth = Math.max(c.intermediateSize, sharedInter, c.moe ? K * c.moe.intermediateSize : 0);
  return {
    ids: 1, h: c.hiddenSize, xn: c.hiddenSize, qa: c.qLoraRank ?? 0, qaNorm: c.qLoraRank ?? 0,
    q: H * (c.qkNopeHeadDim + c.qkRopeHeadDim), kva: c.kvLoraRank + c.qkRopeHeadDim, qt: H * c.kvLoraRank,
    olat: H * c.kvLoraRank, o: H * c.vHeadDim, delta: c.hiddenSize, hidden: hiddenWidth,
    routerLogits: E, routerIds: K, routerWeights: K, slot: K,
    xGrouped: K * c.hiddenSize, yGrouped: K * c.hiddenSize,
  };
}

/**
 * `decode`: the shape decode attention runs in and its forced kernel. `mla_attend_row` (the 'row' shape) needs
 * neither partial records nor scores, which at 128 heads and a long context are megabytes.
 */
export function createActivations(device: GPUDevice, c: ModelConfig, maxTokens: number, cache: LatentCacheLayout,
  decode: { shape?: KernelShape; kernel?: MlaDecodeKernel } = {}): Activations {
  const g = new BufferGroup(device, 'act:');
  const T = maxTokens;
  const n = activationSizes(c);
  const K = c.moe?.topK ?? 0;
  const E = c.moe?.nRoutedExperts ?? 0;
  const mla = decode.shape === 'row' ? { partials: 0, scores: 0 } : decodeScratchBytes(device.limits, cache, c.numHeads, decode.kernel);
  return {
    ids: g.f32('ids', T * n.ids),
    positions: g.f32('positions', 4),
    h: g.f32('h', T * n.h),
    xn: g.f32('xn', T * n.xn),
    // One token's q_a row is followed by kv_a's when decode runs them as one product (fused-weights.ts).
    qa: c.qLoraRank ? g.f32('qa', Math.max(T * n.qa, n.qa + n.kva)) : null,
    qaNorm: c.qLoraRank ? g.f32('qa_norm', T * n.qaNorm) : null,
    q: g.f32('q', T * n.q),
    kva: g.f32('kva', T * n.kva),
    qt: g.f32('qt', T * n.qt),
    olat: g.f32('olat', T * n.olat),
    mlaPartials: g.f32('mla_partials', Math.max(4, mla.partials / 4)),
    mlaScores: g.f32('mla_scores', Math.max(4, mla.scores / 4)),
    o: g.f32('o', T * n.o),
    delta: g.f32('delta', T * n.delta),
    hidden: g.f32('hidden', Math.max(T * n.hidden, (K + 1) * (c.moe?.intermediateSize ?? 0))),
    routerLogits: K ? g.f32('router_logits', T * n.routerLogits) : null,
    routerIds: K ? g.f32('router_ids', T * n.routerIds) : null,
    routerWeights: K ? g.f32('router_weights', T * n.routerWeights) : null,
    offsets: K ? g.f32('offsets', 2 * (E + 1)) : null,
    slot: K ? g.f32('slot', T * n.slot) : null,
    xGrouped: K ? g.f32('x_grouped', T * n.xGrouped) : null,
    yGrouped: K ? g.f32('y_grouped', T * n.yGrouped) : null,
    logits: g.f32('logits', c.vocabSize),
    sampled: g.f32('sampled', 4),
    buffers: g,
  };
}
