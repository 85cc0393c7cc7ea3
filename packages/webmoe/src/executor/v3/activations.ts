// The activations of one forward call, sized once for the largest chunk of tokens the model will be
// fed at a time, and reused by every call and every layer (no allocation per token).
import { BufferGroup } from '../../gpu/buffers';
import type { ModelConfig } from '../../model/config';
import { headsScratchBytes, type LatentCacheLayout } from '../../kernels/mla';

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
  /** Decode attention's partial records over position splits (kernels/mla.ts headsScratchBytes). */
  mlaPartials: GPUBuffer;
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

/** Activation floats per token of a chunk, and the largest single buffer's floats per token. */
export function activationFloatsPerToken(c: ModelConfig): { total: number; largest: number } {
  const sizes = Object.values(activationSizes(c));
  return { total: sizes.reduce((a, b) => a + b, 0), largest: Math.max(...sizes) };
}

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

export function createActivations(device: GPUDevice, c: ModelConfig, maxTokens: number, cache: LatentCacheLayout): Activations {
  const g = new BufferGroup(device, 'act:');
  const T = maxTokens;
  const n = activationSizes(c);
  const K = c.moe?.topK ?? 0;
  const E = c.moe?.nRoutedExperts ?? 0;
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
    mlaPartials: g.f32('mla_partials', headsScratchBytes(device.limits, cache, c.numHeads) / 4),
    o: g.f32('o', T * n.o),
    delta: g.f32('delta', T * n.delta),
    hidden: g.f32('hidden', Math.max(T * n.hidden, (K + 1) * (c.moe?.intermediateSize ?? 0))),
    routerLogits: K ? g.f32('router_logits', T * n.routerLogits) : null,
    routerIds: K ? g.f32('router_ids', T * n.routerIds) : null,
    routerWeights: K ? g.f32('router_weights', T * n.routerWeights) : null,
    offsets: K ? g.f32('offsets', E + 1) : null,
    slot: K ? g.f32('slot', T * n.slot) : null,
    xGrouped: K ? g.f32('x_grouped', T * n.xGrouped) : null,
    yGrouped: K ? g.f32('y_grouped', T * n.yGrouped) : null,
    logits: g.f32('logits', c.vocabSize),
    sampled: g.f32('sampled', 4),
    buffers: g,
  };
}
