// The forward pass recorded as a list of pre-bound dispatches for a call of T tokens at the position
// held in `positions[0]`: embedding, then per layer MLA attention and the dense or MoE feed-forward,
// final norm and the LM head on the last token. Recorded once per T and replayed; nothing here reads
// back to the CPU.
//
// Fusions: the residual add lives in add_rmsnorm (h += delta; xn = rms(h)), except in decode, where
// sub-blocks accumulate into h and every norm runs inside the products that read it (matmul-normed, as
// q_b normalizes q_a's latent); gate + up + SwiGLU is one matmul; the kv_a_layernorm, k_pe rope, cache write (in the cache's format) and q_pe rope are one kv_store; MoE decode reads only the
// selected experts (ids stay on the GPU) and sums them, weighted, in the down projection. With the
// tensors the loader fused (fused-weights.ts), decode runs the query's first projection and kv_a as one
// product, and the shared expert as one more slot of the routed experts' launches.
import { shapeFor, type KernelContext } from '../../gpu/kernel-context';
import type { Dispatch } from '../../gpu/pipelines';
import type { ModelConfig } from '../../model/config';
import { softmaxScale } from '../../model/rope';
import { addRmsnorm, rmsnorm } from '../../kernels/rmsnorm';
import { matmul, type MatmulArgs, type WeightRef } from '../../kernels/matmul';
import { matmulNormed, normedFits } from '../../kernels/matmul-normed';
import { latentCacheStore } from '../../kernels/mla-cache';
import { mlaAttention, type LatentCacheLayout } from '../../kernels/mla';
import { routerSelect } from '../../kernels/router';
import { gatherParts, matmulExpertParts, productParts } from '../../kernels/weight-parts';
import { weightParts } from '../split-buffers';
import type { Activations } from './activations';
import type { GpuWeights } from '../weights';
import { fusedQkvName, sharedExpertIndex } from '../fused-weights';
import { recordGroupedExperts } from '../grouped-experts';

export interface ForwardResources {
  ctx: KernelContext;
  config: ModelConfig;
  weights: GpuWeights;
  act: Activations;
  /** One latent cache buffer per main layer. */
  cache: GPUBuffer[];
  cacheLayout: LatentCacheLayout;
  /** ropeTable(config.rope) on the GPU. */
  ropeTable: GPUBuffer;
  /** Per MoE layer: expert usage counters [E] u32 (for the demo's heatmap), or absent. */
  usage?: Map<number, GPUBuffer>;
  /**
   * Paged experts (docs/paging.md): u32 [T·K], the pool slot of each choice, written by the pager before
   * the layer's expert kernels run; they read it in place of the router's ids. Absent: every expert resident.
   */
  expertSlots?: GPUBuffer;
}

export interface ForwardOptions {
  /**
   * Only layers from … to-1, on act.h as it stands (no embedding, the first without a pending delta) and
   * without the head: the MTP module's block (mtp.ts), whose resources count it as one more layer.
   */
  layers?: { from: number; to: number };
  /** Every row's logits into rows 0 … T-1 of this buffer instead of the last row's into act.logits (speculative decoding's verification). */
  allLogits?: GPUBuffer;
}

export function recordForward(r: ForwardResources, T: number, opts: ForwardOptions = {}): Dispatch[] {
  const { ctx, config: c, weights: w, act: a } = r;
  const d = c.hiddenSize;
  const H = c.numHeads;
  const nope = c.qkNopeHeadDim, ropeDim = c.qkRopeHeadDim, v = c.vHeadDim, R = c.kvLoraRank;
  const qHead = nope + ropeDim;
  const eps = c.rmsNormEps;
  const ref = (name: string) => weightRef(w, name);
  const buf = (name: string) => w.tensor(name).buffer;
  const out: Dispatch[] = [];

  const { layers, allLogits } = opts;
  const from = layers?.from ?? 0, to = layers?.to ?? c.numLayers;
  if (!layers) out.push(...gatherParts(ctx, weightParts(w.tensor('model.embed_tokens.weight')), { ids: a.ids, y: a.h, tokens: T }, 'embed'));
  // Decode with the residual stream in h: sub-blocks add their outputs to h, and the norms of h run inside
  // the products that read them (docs/architecture-v3.md#layers).
  const inH = residualInH(ctx, c, T);
  const sublayerOut = inH ? { y: a.h, output: 'accumulate' as const } : { y: a.delta };
  /** The products reading norm `weight` of h: inside them in decode; else one norm into xn first. */
  const normedInput = (weight: string, label: string, first: boolean): GPUBuffer | null => {
    if (inH) return buf(weight);
    if (first) out.push(rmsnorm(ctx, { x: a.h, weight: buf(weight), y: a.xn, rows: T, cols: d, eps }, label));
    else out.push(addRmsnorm(ctx, { delta: a.delta, weight: buf(weight), h: a.h, y: a.xn, rows: T, cols: d, eps }, label));
    return null;
  };
  /** A product of xn (its norm inside it when `norm` is set: x is then h). */
  const fromNorm = (norm: GPUBuffer | null, args: Omit<MatmulArgs, 'x' | 'tokens'> & { normedOut?: GPUBuffer }, label: string): Dispatch =>
    norm ? matmulNormed(ctx, { ...args, norm, eps, x: a.h }, label) : matmul(ctx, { ...args, x: a.xn, tokens: T }, label);

  for (let L = from; L < to; L++) {
    const p = `model.layers.${L}`;
    const lab = (s: string) => `L${L}.${s}`;
    // ---- attention: xn = rms(h) (with the previous layer's feed-forward output added first) ----
    const inNorm = normedInput(`${p}.input_layernorm.weight`, lab(L === from ? 'input_norm' : 'add_input_norm'), L === from);

    // The query's first projection (q_a, or q without q LoRA) and kv_a: one product in decode when the
    // loader stored them as one tensor (q_a only), the query's rows first; kv_a's output then follows the query's.
    const lora = c.qLoraRank !== null;
    const qRows = c.qLoraRank ?? H * qHead;
    const qOut = lora ? a.qa! : a.q;
    const qkv = w.has(fusedQkvName(p)) ? ref(fusedQkvName(p)) : null;
    const query = qkv ? { weight: qkv, rows: qRows } : { weight: ref(`${p}.self_attn.${lora ? 'q_a_proj' : 'q_proj'}.weight`) };
    const kvA = qkv ? { weight: qkv, rowBase: qRows, rows: R + ropeDim } : { weight: ref(`${p}.self_attn.kv_a_proj_with_mqa.weight`) };
    const kvIn = qkv && T === 1 ? { kv: qOut, kvOffset: qRows } : { kv: a.kva };
    out.push(qkv && T === 1
      ? fromNorm(inNorm, { weight: qkv, y: qOut }, lab('q_kv_a'))
      : fromNorm(inNorm, { ...query, y: qOut }, lab(lora ? 'q_a' : 'q')));
    if (c.qLoraRank !== null) {
      const qaNorm = buf(`${p}.self_attn.q_a_layernorm.weight`);
      if (T === 1 && fusesNorms(ctx) && normedFits(c.qLoraRank)) {
        // Decode: q_b normalizes the latent itself (one dispatch fewer).
        out.push(matmulNormed(ctx, { weight: ref(`${p}.self_attn.q_b_proj.weight`), norm: qaNorm, eps, x: a.qa!, y: a.q }, lab('q_b')));
      } else {
        out.push(rmsnorm(ctx, { x: a.qa!, weight: qaNorm, y: a.qaNorm!, rows: T, cols: c.qLoraRank, eps }, lab('q_a_norm')));
        out.push(matmul(ctx, { weight: ref(`${p}.self_attn.q_b_proj.weight`), x: a.qaNorm!, y: a.q, tokens: T }, lab('q_b')));
      }
    }
    if (!(qkv && T === 1)) out.push(fromNorm(inNorm, { ...kvA, y: a.kva }, lab('kv_a')));
    // The cache store also rotates q_pe of every head: one dispatch for both ropes.
    out.push(latentCacheStore(ctx, {
      ...kvIn, weight: buf(`${p}.self_attn.kv_a_layernorm.weight`), cache: r.cache[L], layout: r.cacheLayout,
      table: r.ropeTable, positions: a.positions, tokens: T, eps,
      query: { x: a.q, heads: H, rowStride: H * qHead, headStride: qHead, offset: nope },
    }, lab('kv_store')));
    // Absorb W_UK into the query: q̃_h = W_UK[h]ᵀ q_nope_h, the rows h·(nope+v) … +nope of kv_b.
    const kvb = ref(`${p}.self_attn.kv_b_proj.weight`);
    out.push(matmul(ctx, {
      weight: kvb, transposed: true, x: a.q, y: a.qt, tokens: T, batch: H, rows: nope, rowBase: 0, rowStride: nope + v,
      xTokenStride: H * qHead, xBatchStride: qHead, yTokenStride: H * R, yBatchStride: R,
    }, lab('absorb_q')));
    out.push(...mlaAttention(ctx, {
      qt: a.qt, qpe: a.q, cache: r.cache[L], layout: r.cacheLayout, positions: a.positions, out: a.olat, tokens: T, heads: H,
      scale: softmaxScale(c), qpeTokenStride: H * qHead, qpeHeadStride: qHead, qpeOffset: nope,
      // Decode's split partials and latent-GEMM scores: one buffer each for every layer (the passes run in order).
      ...(T === 1 ? { scratch: a.mlaPartials, scores: a.mlaScores } : {}),
    }, lab('mla')));
    // o_h = W_UV[h] o_lat_h, the rows h·(nope+v)+nope … +v of kv_b.
    out.push(matmul(ctx, {
      weight: kvb, x: a.olat, y: a.o, tokens: T, batch: H, rows: v, rowBase: nope, rowStride: nope + v,
      xTokenStride: H * R, xBatchStride: R, yTokenStride: H * v, yBatchStride: v,
    }, lab('absorb_v')));
    out.push(matmul(ctx, { weight: ref(`${p}.self_attn.o_proj.weight`), x: a.o, ...sublayerOut, tokens: T }, lab('o_proj')));
    const postNorm = normedInput(`${p}.post_attention_layernorm.weight`, lab('add_post_norm'), false);

    // ---- feed-forward: delta = ffn(xn) (in decode: h += ffn(rms(h))) ----
    if (c.layers[L].ffn === 'dense' || !c.moe) {
      out.push(fromNorm(postNorm, { weight: ref(`${p}.mlp.gate_proj.weight`), up: ref(`${p}.mlp.up_proj.weight`), y: a.hidden }, lab('mlp_gate_up')));
      out.push(matmul(ctx, { weight: ref(`${p}.mlp.down_proj.weight`), x: a.hidden, ...sublayerOut, tokens: T }, lab('mlp_down')));
      continue;
    }
    const m = c.moe;
    const K = m.topK;
    // Router logits from the matmul family (spread over the device; the fused router kernel reads all of
    // W in one workgroup per token, the slowest step of decode at large d), then the selection. In decode
    // the router's product also publishes xn for the experts.
    out.push(fromNorm(postNorm, { weight: ref(`${p}.mlp.gate.weight`), y: a.routerLogits!, ...(postNorm ? { normedOut: a.xn } : {}) }, lab('router_logits')));
    out.push(routerSelect(ctx, {
      logits: a.routerLogits!, ids: a.routerIds!, weights: a.routerWeights!,
      bias: m.hasCorrectionBias ? buf(`${p}.mlp.gate.e_score_correction_bias`) : null, usage: r.usage?.get(L) ?? null, tokens: T, moe: m,
    }, lab('router')));
    const shared = m.nSharedExperts > 0;
    const ex = w.experts(L);
    // Decode runs a shared expert that the loader stored after the routed ones as the routed launches' last slot.
    const inSlot = shared && T === 1 ? sharedExpertIndex(w, ex) : null;
    if (shared && inSlot === null) {
      out.push(matmul(ctx, { weight: ref(`${p}.mlp.shared_experts.gate_proj.weight`), up: ref(`${p}.mlp.shared_experts.up_proj.weight`), x: a.xn, y: a.hidden, tokens: T }, lab('shared_gate_up')));
      out.push(matmul(ctx, { weight: ref(`${p}.mlp.shared_experts.down_proj.weight`), x: a.hidden, ...sublayerOut, tokens: T }, lab('shared_down')));
    }
    // The experts' places in the group (ex.parts): the router's ids, or with paging their slots (ex.count of them).
    const chosen = r.expertSlots ?? a.routerIds!;
    const gate: WeightRef = { buffer: ex.buffer, offset: ex.gate.offset, layout: ex.gate.layout };
    const up: WeightRef = { buffer: ex.buffer, offset: ex.up.offset, layout: ex.up.layout };
    const down: WeightRef = { buffer: ex.buffer, offset: ex.down.offset, layout: ex.down.layout };
    const I = m.intermediateSize;
    if (T === 1) {
      // Decode: slot k runs expert ids[k]; only those experts' bytes are read (and the shared expert in slot K).
      const slots = inSlot === null ? {} : { shared: inSlot };
      const B = K + (inSlot === null ? 0 : 1);
      out.push(...matmulExpertParts(ctx, ex.parts, {
        weight: gate, up, x: a.xn, y: a.hidden, batch: B, xBatchStride: 0, yBatchStride: I,
        experts: { ids: chosen, strideBytes: ex.strideBytes, ...slots },
      }, lab('experts_gate_up')));
      out.push(...matmulExpertParts(ctx, ex.parts, {
        weight: down, x: a.hidden, y: inH ? a.h : a.delta, batch: B, xBatchStride: I,
        output: (shared && inSlot === null) || inH ? 'accumulate' : 'write',
        experts: { ids: chosen, strideBytes: ex.strideBytes, weights: a.routerWeights!, sum: true, ...slots },
      }, lab('experts_down')));
    } else {
      // Prefill: group the (token, choice) pairs by expert, one grouped GEMM per projection, scatter back.
      out.push(...recordGroupedExperts(ctx, {
        experts: ex, ids: chosen, weights: a.routerWeights!, x: a.xn, out: a.delta, accumulate: shared,
        scratch: { offsets: a.offsets!, slot: a.slot!, xGrouped: a.xGrouped!, yGrouped: a.yGrouped!, hidden: a.hidden },
        tokens: T, topK: K, dim: d,
      }, lab));
    }
  }

  if (layers) return out;
  const finalNorm = normedInput('model.norm.weight', 'final_norm', false);
  // The LM head may be split over several buffers (split-buffers.ts): one launch per part.
  const head = weightParts(w.tensor('lm_head.weight'));
  if (allLogits || finalNorm) out.push(...productParts(head, { y: allLogits ?? a.logits }, (p) => fromNorm(finalNorm, p, 'lm_head'), 'lm_head'));
  else out.push(...productParts(head, { x: a.xn, xOffset: (T - 1) * d, y: a.logits, tokens: 1 }, (p) => matmul(ctx, p, 'lm_head'), 'lm_head'));
  return out;
}

/**
 * Whether a call of T tokens keeps the residual stream whole in act.h (decode, with rows narrow enough
 * for matmulNormed, on the GPU shape): sub-blocks accumulate into h and no delta is pending after a layer.
 * Otherwise each sub-block writes act.delta, added to h by the next norm.
 */
export function residualInH(ctx: KernelContext, c: ModelConfig, T: number): boolean {
  return T === 1 && fusesNorms(ctx) && normedFits(c.hiddenSize);
}

/**
 * Norms inside the products only where the products run in the workgroup shape (GPUs): in the row shape
 * that software adapters pick, the fused kernel's normalize-then-barrier prologue made decode 2-3x slower
 * on SwiftShader (22 → 66 ms/token, 10M q4), so there the norms stay separate dispatches
 * (docs/architecture-v3.md#layers).
 */
export function fusesNorms(ctx: KernelContext): boolean {
  return shapeFor(ctx, 'matmul') === 'workgroup';
}

export function weightRef(w: GpuWeights, name: string): WeightRef {
  const t = w.tensor(name);
  return { buffer: t.buffer, offset: t.byteOffset, layout: t.layout };
}
