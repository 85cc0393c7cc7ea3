// The V4 forward pass (docs/architecture-v4.md) recorded as pre-bound dispatches for a call of T tokens at
// positions[0] …: the token's embedding copied into hc residual streams; per layer an mHC-wrapped attention
// sublayer (shared-KV attention over the sliding window plus, by layer kind, nothing, the indexer's chosen
// ratio-4 blocks or every ratio-m block, with per-head sinks) and an mHC-wrapped MoE sublayer; then the
// head collapse of the streams, the final norm and the LM head on the last token. Nothing reads back.
// recordBlock and recordHead also record the MTP module's block and head (mtp.ts).
import type { KernelContext } from '../../gpu/kernel-context';
import type { Dispatch } from '../../gpu/pipelines';
import type { V4Config, V4LayerSpec, V4MoeConfig } from '../../model/config-v4';
import { rmsnorm } from '../../kernels/rmsnorm';
import { matmul, type WeightRef } from '../../kernels/matmul';
import { gatherParts, matmulExpertParts, productParts } from '../../kernels/weight-parts';
import { rope } from '../../kernels/rope';
import { routerSelect, type RouterConfig } from '../../kernels/router';
import { mhcHead, mhcPost, mhcPre } from '../../kernels/mhc';
import { indexerScores, topkSelect } from '../../kernels/indexer';
import { quantSim } from '../../kernels/quant-sim';
import { compressorEmit, compressorStore, kvWindowStore, type CompressorQuant } from '../../kernels/v4-kv';
import { sparseAttention } from '../../kernels/sparse-attention';
import type { GpuWeights } from '../weights';
import { weightParts } from '../split-buffers';
import { recordGroupedExperts } from '../grouped-experts';
import type { V4Activations } from './activations';
import { compressorWidth, type V4CacheLayout, type V4LayerCache } from './caches';

export interface V4ForwardResources {
  ctx: KernelContext;
  config: V4Config;
  weights: GpuWeights;
  act: V4Activations;
  layout: V4CacheLayout;
  caches: V4LayerCache[];
  /** RoPE tables: window-only layers (rope_theta), compressed layers (compress_rope_theta with YaRN). */
  tables: { swa: GPUBuffer; compressed: GPUBuffer };
  /** D ones: the weight of the queries' per-head RMSNorm, which has none. */
  ones: GPUBuffer;
  usage?: Map<number, GPUBuffer>;
}

/** Records one block's mHC pre step: mixing logits, then u = Σ pre_j X_j (normed into act.xn) and the post/comb weights. */
function mhcIn(r: V4ForwardResources, x: GPUBuffer, p: string, sub: 'attn' | 'ffn', T: number, lab: (s: string) => string): Dispatch[] {
  const { ctx, config: c, act: a, weights: w } = r;
  const hc = c.hc.mult, d = c.hiddenSize;
  const site = `${p}.hc_${sub}`;
  return [
    matmul(ctx, { weight: ref(w, `${site}_fn`), x, y: a.mix, tokens: T }, lab(`hc_${sub}_mix`)),
    mhcPre(ctx, {
      x, mix: a.mix, base: w.tensor(`${site}_base`).buffer, scale: w.tensor(`${site}_scale`).buffer, u: a.u, post: a.post, comb: a.comb,
      tokens: T, hc, dim: d, sinkhornIters: c.hc.sinkhornIters, hcEps: c.hc.eps, normEps: c.rmsNormEps,
    }, lab(`hc_${sub}_pre`)),
    rmsnorm(ctx, { x: a.u, weight: w.tensor(`${p}.${sub}_norm.weight`).buffer, y: a.xn, rows: T, cols: d, eps: c.rmsNormEps }, lab(`${sub}_norm`)),
  ];
}

export function ref(w: GpuWeights, name: string): WeightRef {
  const t = w.tensor(name);
  return { buffer: t.buffer, offset: t.byteOffset, layout: t.layout };
}

/** The attention sublayer of one block: reads act.xn, leaves its output in act.f. */
function attention(r: V4ForwardResources, spec: V4LayerSpec, cache: V4LayerCache, p: string, T: number, lab: (s: string) => string): Dispatch[] {
  const { ctx, config: c, act: a, weights: w, layout } = r;
  const H = c.numHeads, D = c.headDim, rp = c.qkRopeHeadDim, n = D - rp, eps = c.rmsNormEps;
  const table = spec.attention === 'swa' ? r.tables.swa : r.tables.compressed;
  const buf = (name: string) => w.tensor(name).buffer;
  const out: Dispatch[] = [];
  const at = `${p}.attn`;
  // Queries: q_a, its norm (also the indexer's input), q_b, then per-head RMSNorm without weight and RoPE.
  out.push(matmul(ctx, { weight: ref(w, `${at}.wq_a.weight`), x: a.xn, y: a.qa, tokens: T }, lab('wq_a')));
  out.push(rmsnorm(ctx, { x: a.qa, weight: buf(`${at}.q_norm.weight`), y: a.qr, rows: T, cols: c.qLoraRank, eps }, lab('q_norm')));
  // q_b lands in act.o, free until attention writes it, and is normalized from there into act.q.
  out.push(matmul(ctx, { weight: ref(w, `${at}.wq_b.weight`), x: a.qr, y: a.o, tokens: T }, lab('wq_b')));
  out.push(rmsnorm(ctx, { x: a.o, weight: r.ones, y: a.q, rows: T * H, cols: D, eps }, lab('q_head_norm')));
  out.push(rope(ctx, { x: a.q, table, positions: a.positions, tokens: T, heads: H, rope: rp, rowStride: H * D, headStride: D, offset: n }, lab('q_rope')));
  // The one shared key/value: norm, RoPE of its last dims, then into the window ring (FP8 round trip).
  out.push(matmul(ctx, { weight: ref(w, `${at}.wkv.weight`), x: a.xn, y: a.kvRaw, tokens: T }, lab('wkv')));
  out.push(rmsnorm(ctx, { x: a.kvRaw, weight: buf(`${at}.kv_norm.weight`), y: a.kv, rows: T, cols: D, eps }, lab('kv_norm')));
  out.push(rope(ctx, { x: a.kv, table, positions: a.positions, tokens: T, heads: 1, rope: rp, rowStride: D, headStride: D, offset: n }, lab('kv_rope')));
  out.push(kvWindowStore(ctx, { kv: a.kv, ring: cache.window, positions: a.positions, tokens: T, dim: D, rope: rp, slots: layout.slots, fp8: layout.fp8 }, lab('kv_store')));

  const m = spec.compressRatio;
  if (m > 0) out.push(...compress(r, `${at}.compressor`, cache.compressorState!, cache.compressed!, cache.compressorSlots, m, D, compressorWidth(spec, D),
    layout.fp8 ? 'fp8' : 'none', table, T, lab));
  if (spec.attention === 'csa') {
    const { nHeads: Hi, headDim: Di, topK } = c.indexer;
    const fp4 = c.indexerFp4Roundtrip ? 'hadamard-fp4' : 'hadamard';
    out.push(...compress(r, `${at}.indexer.compressor`, cache.indexState!, cache.indexKeys!, cache.compressorSlots, m, Di, 2 * Di, fp4, table, T, lab));
    out.push(matmul(ctx, { weight: ref(w, `${at}.indexer.wq_b.weight`), x: a.qr, y: a.iq!, tokens: T }, lab('index_q')));
    out.push(rope(ctx, { x: a.iq!, table, positions: a.positions, tokens: T, heads: Hi, rope: rp, rowStride: Hi * Di, headStride: Di, offset: Di - rp }, lab('index_q_rope')));
    out.push(quantSim(ctx, { x: a.iq!, rows: T, heads: Hi, dim: Di, mode: fp4 }, lab('index_q_fp4')));
    out.push(matmul(ctx, { weight: ref(w, `${at}.indexer.weights_proj.weight`), x: a.xn, y: a.iw!, tokens: T }, lab('index_w')));
    out.push(indexerScores(ctx, {
      q: a.iq!, w: a.iw!, keys: cache.indexKeys!, positions: a.positions, scores: a.scores!, tokens: T, heads: Hi, dim: Di,
      ratio: m, maxBlocks: cache.maxBlocks, scale: Di ** -0.5 * Hi ** -0.5,
    }, lab('index_scores')));
    out.push(topkSelect(ctx, { scores: a.scores!, positions: a.positions, ids: a.selected!, tokens: T, k: topK, ratio: m, maxBlocks: cache.maxBlocks }, lab('index_topk')));
  }
  out.push(...sparseAttention(ctx, {
    q: a.q, ring: cache.window, compressed: cache.compressed, selected: spec.attention === 'csa' ? a.selected : null, topk: c.indexer.topK,
    sink: buf(`${at}.attn_sink`), table, positions: a.positions, out: a.o, tokens: T, heads: H, dim: D, rope: rp,
    window: c.slidingWindow, slots: layout.slots, ratio: m, maxBlocks: cache.maxBlocks, fp8: layout.fp8, scale: D ** -0.5,
  }, lab('attention')));
  // Grouped low-rank output: group g (heads g·H/G …) through rows g·R … of wo_a, then wo_b.
  const G = c.oGroups, R = c.oLoraRank, groupIn = (H * D) / G;
  out.push(matmul(ctx, {
    weight: ref(w, `${at}.wo_a.weight`), x: a.o, y: a.z, tokens: T, batch: G, rows: R, rowBase: 0, rowStride: R,
    xTokenStride: H * D, xBatchStride: groupIn, yTokenStride: G * R, yBatchStride: R,
  }, lab('wo_a')));
  out.push(matmul(ctx, { weight: ref(w, `${at}.wo_b.weight`), x: a.z, y: a.f, tokens: T }, lab('wo_b')));
  return out;
}

/** One KV compressor: this call's projections into its ring, then every block completed in this call. */
function compress(r: V4ForwardResources, p: string, state: GPUBuffer, out: GPUBuffer, slots: number, ratio: number, dim: number, width: number,
  quant: CompressorQuant, table: GPUBuffer, T: number, lab: (s: string) => string): Dispatch[] {
  const { ctx, act: a, weights: w } = r;
  const kind = p.includes('indexer') ? 'index_' : '';
  return [
    matmul(ctx, { weight: ref(w, `${p}.wkv.weight`), x: a.xn, y: a.ckv, tokens: T }, lab(`${kind}compress_kv`)),
    matmul(ctx, { weight: ref(w, `${p}.wgate.weight`), x: a.xn, y: a.cgate, tokens: T }, lab(`${kind}compress_gate`)),
    compressorStore(ctx, { kv: a.ckv, gate: a.cgate, ape: w.tensor(`${p}.ape`).buffer, state, positions: a.positions, tokens: T, width, ratio, slots }, lab(`${kind}compress_store`)),
    compressorEmit(ctx, {
      state, norm: w.tensor(`${p}.norm.weight`).buffer, table, positions: a.positions, out, tokens: T, dim, rope: r.config.qkRopeHeadDim,
      ratio, overlap: width === 2 * dim, slots, eps: r.config.rmsNormEps, quant,
    }, lab(`${kind}compress_emit`)),
  ];
}

/** V4's routing in the router kernel's terms: sqrt-softplus scores, one group, normalized top-k weights. */
export function v4Router(m: V4MoeConfig): RouterConfig {
  return {
    nRoutedExperts: m.nRoutedExperts, topK: m.topK, nGroup: 1, topkGroup: 1, scoring: m.scoring, topkMethod: 'noaux_tc',
    normTopkProb: true, routedScalingFactor: m.routedScalingFactor,
  };
}

/** The MoE sublayer of one block: reads act.xn, leaves its output in act.f. */
function moe(r: V4ForwardResources, spec: V4LayerSpec, p: string, layer: number, T: number, lab: (s: string) => string): Dispatch[] {
  const { ctx, config: c, act: a, weights: w } = r;
  const m = c.moe, d = c.hiddenSize, K = m.topK, I = m.intermediateSize;
  const limit = m.swigluLimit;
  const out: Dispatch[] = [];
  const g = `${p}.ffn.gate`;
  out.push(matmul(ctx, { weight: ref(w, `${g}.weight`), x: a.xn, y: a.routerLogits, tokens: T }, lab('router_logits')));
  out.push(routerSelect(ctx, {
    logits: a.routerLogits, ids: a.routerIds, weights: a.routerWeights, tokens: T, usage: r.usage?.get(layer) ?? null,
    bias: spec.hashRouting ? null : w.tensor(`${g}.bias`).buffer,
    hash: spec.hashRouting ? { table: w.tensor(`${g}.tid2eid`).buffer, tokenIds: a.ids } : null,
    moe: v4Router(m),
  }, lab('router')));
  const shared = m.nSharedExperts > 0;
  if (shared) {
    const s = `${p}.ffn.shared_experts`;
    out.push(matmul(ctx, { weight: ref(w, `${s}.w1.weight`), up: ref(w, `${s}.w3.weight`), swigluLimit: limit, x: a.xn, y: a.hidden, tokens: T }, lab('shared_gate_up')));
    out.push(matmul(ctx, { weight: ref(w, `${s}.w2.weight`), x: a.hidden, y: a.f, tokens: T }, lab('shared_down')));
  }
  const ex = w.experts(layer);
  const gate: WeightRef = { buffer: ex.buffer, offset: ex.gate.offset, layout: ex.gate.layout };
  const up: WeightRef = { buffer: ex.buffer, offset: ex.up.offset, layout: ex.up.layout };
  const down: WeightRef = { buffer: ex.buffer, offset: ex.down.offset, layout: ex.down.layout };
  if (T === 1) {
    out.push(...matmulExpertParts(ctx, ex.parts, {
      weight: gate, up, swigluLimit: limit, x: a.xn, y: a.hidden, batch: K, xBatchStride: 0, yBatchStride: I,
      experts: { ids: a.routerIds, strideBytes: ex.strideBytes },
    }, lab('experts_gate_up')));
    out.push(...matmulExpertParts(ctx, ex.parts, {
      weight: down, x: a.hidden, y: a.f, batch: K, xBatchStride: I, output: shared ? 'accumulate' : 'write',
      experts: { ids: a.routerIds, strideBytes: ex.strideBytes, weights: a.routerWeights, sum: true },
    }, lab('experts_down')));
  } else {
    out.push(...recordGroupedExperts(ctx, {
      experts: ex, ids: a.routerIds, weights: a.routerWeights, x: a.xn, out: a.f, accumulate: shared, swigluLimit: limit,
      scratch: { offsets: a.offsets, slot: a.slot, xGrouped: a.xGrouped, yGrouped: a.yGrouped, hidden: a.hidden },
      tokens: T, topK: K, dim: d,
    }, lab));
  }
  return out;
}

/** One block (main layer `layers.L` or an MTP module's `mtp.K`): streams in act.streams[from], out in the other. */
export function recordBlock(r: V4ForwardResources, spec: V4LayerSpec, cache: V4LayerCache, p: string, layer: number, from: 0 | 1, T: number): Dispatch[] {
  const { ctx, config: c, act: a } = r;
  const lab = (s: string) => `L${layer}.${s}`;
  const hc = c.hc.mult, d = c.hiddenSize;
  const x0 = a.streams[from], x1 = a.streams[1 - from];
  const post = (x: GPUBuffer, y: GPUBuffer, what: string) => mhcPost(ctx, { x, f: a.f, post: a.post, comb: a.comb, out: y, tokens: T, hc, dim: d }, lab(`${what}_post`));
  return [
    ...mhcIn(r, x0, p, 'attn', T, lab),
    ...attention(r, spec, cache, p, T, lab),
    post(x0, x1, 'hc_attn'),
    ...mhcIn(r, x1, p, 'ffn', T, lab),
    ...moe(r, spec, p, layer, T, lab),
    post(x1, x0, 'hc_ffn'),
  ];
}

/**
 * The main model over T tokens: the last row's logits into act.logits, or with `allLogits` every row's into
 * its rows 0 … T-1 (speculative decoding's verification, docs/speculative.md).
 */
export function recordV4Forward(r: V4ForwardResources, T: number, allLogits?: GPUBuffer): Dispatch[] {
  const { ctx, config: c, act: a, weights: w } = r;
  const hc = c.hc.mult, d = c.hiddenSize;
  const out: Dispatch[] = [];
  // Every stream starts as the token's embedding: one gather per stream (rows hc·d apart).
  for (let j = 0; j < hc; j++) {
    out.push(...gatherParts(ctx, weightParts(w.tensor('embed.weight')), { ids: a.ids, y: a.streams[0], yOffset: j * d, yTokenStride: hc * d, tokens: T }, `embed.${j}`));
  }
  // Each block leaves its streams where they started (two mHC posts swap buffers twice).
  c.layers.forEach((spec, L) => out.push(...recordBlock(r, spec, r.caches[L], `layers.${L}`, L, 0, T)));
  out.push(...recordHead(r, '', a.streams[0], T, allLogits ? 0 : T - 1, allLogits ?? a.logits, 0, (s) => s));
  return out;
}

/**
 * The head of the main model (prefix '') or of an MTP module ('mtp.K.'): its hc_head collapses the streams
 * x [T, hc, d], its final norm, then the shared LM head on rows `from` … T-1 into logits rows `at` ….
 */
export function recordHead(r: V4ForwardResources, prefix: string, x: GPUBuffer, T: number, from: number, logits: GPUBuffer, at: number,
  lab: (s: string) => string): Dispatch[] {
  const { ctx, config: c, act: a, weights: w } = r;
  const hc = c.hc.mult, d = c.hiddenSize;
  return [
    matmul(ctx, { weight: ref(w, `${prefix}hc_head_fn`), x, y: a.mix, tokens: T }, lab('hc_head_mix')),
    mhcHead(ctx, {
      x, mix: a.mix, base: w.tensor(`${prefix}hc_head_base`).buffer, scale: w.tensor(`${prefix}hc_head_scale`).buffer, y: a.u,
      tokens: T, hc, dim: d, hcEps: c.hc.eps, normEps: c.rmsNormEps,
    }, lab('hc_head')),
    rmsnorm(ctx, { x: a.u, weight: w.tensor(`${prefix}norm.weight`).buffer, y: a.xn, rows: T, cols: d, eps: c.rmsNormEps }, lab('final_norm')),
    ...productParts(weightParts(w.tensor('head.weight')), { x: a.xn, xOffset: from * d, y: logits, yOffset: at * c.vocabSize, tokens: T - from },
      (args) => matmul(ctx, args, lab('lm_head')), lab('lm_head')),
  ];
}
