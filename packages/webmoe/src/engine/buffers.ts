// The activations of one forward call, sized once for the largest chunk of tokens the model will be
// fed at a time, and reused by every call and every layer (no allocation per token).
import { createStorage } from '../gpu/buffers';
import type { ModelConfig } from '../model/config';

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
  /** Per-head values [T, H, v]. */
  o: GPUBuffer;
  /** Output of a sub-block before the residual add [T, d]. */
  delta: GPUBuffer;
  /** SwiGLU hidden [T, max(intermediate, shared intermediate)] or, for routed experts, [T·K, moe intermediate]. */
  hidden: GPUBuffer;
  /** Router logits [T, E] (the matmul family's output, read by the selection). */
  routerLogits: GPUBuffer | null;
  routerIds: GPUBuffer | null;
  routerWeights: GPUBuffer | null;
  offsets: GPUBuffer | null;
  slot: GPUBuffer | null;
  pairOf: GPUBuffer | null;
  xGrouped: GPUBuffer | null;
  yGrouped: GPUBuffer | null;
  /** Logits of the call's last token [vocab]. */
  logits: GPUBuffer;
  /** u32 [4]: [0] the sampled id. */
  sampled: GPUBuffer;
  bytes: number;
}

export function createActivations(device: GPUDevice, c: ModelConfig, maxTokens: number): Activations {
  let bytes = 0;
  const f32 = (label: string, n: number) => {
    const b = createStorage(device, `act:${label}`, n * 4);
    bytes += b.size;
    return b;
  };
  const T = maxTokens;
  const H = c.numHeads;
  const K = c.moe?.topK ?? 0;
  const E = c.moe?.nRoutedExperts ?? 0;
  const sharedInter = c.moe ? c.moe.intermediateSize * c.moe.nSharedExperts : 0;
  const hiddenWidth = Math.max(c.intermediateSize, sharedInter, c.moe ? K * c.moe.intermediateSize : 0);
  return {
    ids: f32('ids', T),
    positions: f32('positions', 4),
    h: f32('h', T * c.hiddenSize),
    xn: f32('xn', T * c.hiddenSize),
    qa: c.qLoraRank ? f32('qa', T * c.qLoraRank) : null,
    qaNorm: c.qLoraRank ? f32('qa_norm', T * c.qLoraRank) : null,
    q: f32('q', T * H * (c.qkNopeHeadDim + c.qkRopeHeadDim)),
    kva: f32('kva', T * (c.kvLoraRank + c.qkRopeHeadDim)),
    qt: f32('qt', T * H * c.kvLoraRank),
    olat: f32('olat', T * H * c.kvLoraRank),
    o: f32('o', T * H * c.vHeadDim),
    delta: f32('delta', T * c.hiddenSize),
    hidden: f32('hidden', T * hiddenWidth),
    routerLogits: K ? f32('router_logits', T * E) : null,
    routerIds: K ? f32('router_ids', T * K) : null,
    routerWeights: K ? f32('router_weights', T * K) : null,
    offsets: K ? f32('offsets', E + 1) : null,
    slot: K ? f32('slot', T * K) : null,
    pairOf: K ? f32('pair_of', T * K) : null,
    xGrouped: K ? f32('x_grouped', T * K * c.hiddenSize) : null,
    yGrouped: K ? f32('y_grouped', T * K * c.hiddenSize) : null,
    logits: f32('logits', c.vocabSize),
    sampled: f32('sampled', 4),
    get bytes() {
      return bytes;
    },
  };
}

export function destroyActivations(a: Activations): void {
  for (const v of Object.values(a)) if (v && typeof v === 'object' && 'destroy' in v) (v as GPUBuffer).destroy();
}
