// The activations of one V4 forward call (docs/architecture-v4.md), sized once for the largest chunk and
// reused by every call and layer. The residual is hc streams per token, kept in two buffers that the
// mHC post step alternates between.
import { BufferGroup } from '../../gpu/buffers';
import type { V4Config } from '../../model/config-v4';

export interface V4Activations {
  /** u32 [T]: the call's token ids (also the hash routing's input). */
  ids: GPUBuffer;
  /** u32 [4]: [0] = position of the call's first token. */
  positions: GPUBuffer;
  /** The hc residual streams [T, hc, d], ping-ponged by mHC post. */
  streams: [GPUBuffer, GPUBuffer];
  /** mHC mixing logits [T, (2+hc)·hc] (x̄·fnᵀ), and its outputs: post [T, hc], comb [T, hc, hc]. */
  mix: GPUBuffer;
  post: GPUBuffer;
  comb: GPUBuffer;
  /** A sublayer's input before and after its norm [T, d]. */
  u: GPUBuffer;
  xn: GPUBuffer;
  /** wq_a output and its norm [T, q_lora]: the query's and the indexer's input. */
  qa: GPUBuffer;
  qr: GPUBuffer;
  /** Queries [T, H, D]; the shared key/value before and after its norm [T, D]; attention output [T, H, D]. */
  q: GPUBuffer;
  kvRaw: GPUBuffer;
  kv: GPUBuffer;
  o: GPUBuffer;
  /** Grouped low-rank output [T, G, R]. */
  z: GPUBuffer;
  /** A sublayer's output [T, d] (attention's wo_b, or the experts' sum). */
  f: GPUBuffer;
  /** Compressor projections [T, 2·max(D, Di)] (kv, and gate). */
  ckv: GPUBuffer;
  cgate: GPUBuffer;
  /** Indexer: queries [T, Hi, Di], head weights [T, Hi], scores [T, maxBlocks], chosen blocks u32 [T, topk]. */
  iq: GPUBuffer | null;
  iw: GPUBuffer | null;
  scores: GPUBuffer | null;
  selected: GPUBuffer | null;
  /** MoE: router logits [T, E], choices [T, K] and their weights, SwiGLU hidden [T, K·I]. */
  routerLogits: GPUBuffer;
  routerIds: GPUBuffer;
  routerWeights: GPUBuffer;
  hidden: GPUBuffer;
  /** Prefill's expert grouping (moe_plan / gather / scatter). */
  offsets: GPUBuffer;
  slot: GPUBuffer;
  xGrouped: GPUBuffer;
  yGrouped: GPUBuffer;
  /** Logits of the call's last token [vocab]; the sampled id u32 [4]. */
  logits: GPUBuffer;
  sampled: GPUBuffer;
  /** Every buffer above: their bytes, and one destroy. */
  buffers: BufferGroup;
}

/** Compressed blocks a CSA layer can hold for `contextLength` positions. */
export function csaBlocks(contextLength: number): number {
  return Math.max(1, Math.floor(contextLength / 4));
}

/** Floats per token of every activation that grows with the chunk (the indexer's scores grow with the context too). */
function activationSizes(c: V4Config, contextLength: number) {
  const hc = c.hc.mult, d = c.hiddenSize, H = c.numHeads, D = c.headDim;
  const { nHeads: Hi, headDim: Di, topK: topk } = c.indexer;
  const hasCsa = c.layers.some((l) => l.attention === 'csa');
  const K = c.moe.topK, I = c.moe.intermediateSize;
  return {
    ids: 1, streams: 2 * hc * d, mix: (2 + hc) * hc, post: hc, comb: hc * hc, u: d, xn: d,
    qa: c.qLoraRank, qr: c.qLoraRank, q: H * D, kvRaw: D, kv: D, o: H * D, z: c.oGroups * c.oLoraRank, f: d,
    ckv: 2 * Math.max(D, Di), cgate: 2 * Math.max(D, Di),
    iq: hasCsa ? Hi * Di : 0, iw: hasCsa ? Hi : 0, scores: hasCsa ? csaBlocks(contextLength) : 0, selected: hasCsa ? topk : 0,
    routerLogits: c.moe.nRoutedExperts, routerIds: K, routerWeights: K, hidden: Math.max(K, c.moe.nSharedExperts) * I,
    slot: K, xGrouped: K * d, yGrouped: K * d,
  };
}

export function v4ActivationFloatsPerToken(c: V4Config, contextLength: number): { total: number; largest: number } {
  const sizes = Object.values(activationSizes(c, contextLength));
  return { total: sizes.reduce((a, b) => a + b, 0), largest: Math.max(...sizes) };
}

export function createV4Activations(device: GPUDevice, c: V4Config, maxTokens: number, contextLength: number): V4Activations {
  const g = new BufferGroup(device, 'act:');
  const T = maxTokens;
  const n = activationSizes(c, contextLength);
  const half = n.streams / 2;
  return {
    ids: g.f32('ids', T),
    positions: g.f32('positions', 4),
    streams: [g.f32('streams_a', T * half), g.f32('streams_b', T * half)],
    mix: g.f32('mix', T * n.mix),
    post: g.f32('post', T * n.post),
    comb: g.f32('comb', T * n.comb),
    u: g.f32('u', T * n.u),
    xn: g.f32('xn', T * n.xn),
    qa: g.f32('qa', T * n.qa),
    qr: g.f32('qr', T * n.qr),
    q: g.f32('q', T * n.q),
    kvRaw: g.f32('kv_raw', T * n.kvRaw),
    kv: g.f32('kv', T * n.kv),
    o: g.f32('o', T * n.o),
    z: g.f32('z', T * n.z),
    f: g.f32('f', T * n.f),
    ckv: g.f32('ckv', T * n.ckv),
    cgate: g.f32('cgate', T * n.cgate),
    iq: n.iq ? g.f32('iq', T * n.iq) : null,
    iw: n.iw ? g.f32('iw', T * n.iw) : null,
    scores: n.scores ? g.f32('scores', T * n.scores) : null,
    selected: n.selected ? g.f32('selected', T * n.selected) : null,
    routerLogits: g.f32('router_logits', T * n.routerLogits),
    routerIds: g.f32('router_ids', T * n.routerIds),
    routerWeights: g.f32('router_weights', T * n.routerWeights),
    hidden: g.f32('hidden', T * n.hidden),
    offsets: g.f32('offsets', 2 * (c.moe.nRoutedExperts + 1)),
    slot: g.f32('slot', T * n.slot),
    xGrouped: g.f32('x_grouped', T * n.xGrouped),
    yGrouped: g.f32('y_grouped', T * n.yGrouped),
    logits: g.f32('logits', c.vocabSize),
    sampled: g.f32('sampled', 4),
    buffers: g,
  };
}
