// Every tensor a checkpoint must hold for a model description, with its shape (HF layout, weights
// [out, in]). The converter checks checkpoints against this list; the loader finds weights through it.
// V2/V3 here, V4 (DeepSeek's own tensor names) in tensors-v4.ts.
import type { AnyModelConfig, ModelConfig } from './config';
import { expectedTensorsV4 } from './tensors-v4';
import type { TensorSpec } from './tensor-spec';
export { TENSOR_KINDS, type TensorKind, type TensorSpec } from './tensor-spec';

/**
 * linear: a weight matrix used in a matrix product (quantizable);
 * embedding: rows gathered by token id (quantizable, dequantized per row);
 * norm, bias: small and precision-sensitive, f32;
 * router, precise: small tensors kept at the checkpoint's precision, bf16 from BF16 (lossless) else f32 — the
 *   router weight, and V4's compressor and indexer-weight projections, mHC mixing parameters, attention
 *   sinks and compressor position biases;
 * table: integers (V4's token → experts table tid2eid), u32.
 */
/** The output heads: linear, but released unquantized (BF16) beside FP8 weights, which the fp8 format keeps. */
const OUTPUT_HEAD = /^(lm_head\.weight|head\.weight|model\.layers\.\d+\.shared_head\.head\.weight)$/;

export function isOutputHead(spec: Pick<TensorSpec, 'name'>): boolean {
  return OUTPUT_HEAD.test(spec.name);
}

export function attentionTensors(c: ModelConfig, prefix: string): Omit<TensorSpec, 'layer' | 'expert' | 'mtp'>[] {
  const d = c.hiddenSize;
  const qHead = c.qkNopeHeadDim + c.qkRopeHeadDim;
  const a = `${prefix}.self_attn`;
  const out: Omit<TensorSpec, 'layer' | 'expert' | 'mtp'>[] = [];
  if (c.qLoraRank === null) {
    out.push({ name: `${a}.q_proj.weight`, shape: [c.numHeads * qHead, d], kind: 'linear' });
  } else {
    out.push(
      { name: `${a}.q_a_proj.weight`, shape: [c.qLoraRank, d], kind: 'linear' },
      { name: `${a}.q_a_layernorm.weight`, shape: [c.qLoraRank], kind: 'norm' },
      { name: `${a}.q_b_proj.weight`, shape: [c.numHeads * qHead, c.qLoraRank], kind: 'linear' },
    );
  }
  out.push(
    { name: `${a}.kv_a_proj_with_mqa.weight`, shape: [c.kvLoraRank + c.qkRopeHeadDim, d], kind: 'linear' },
    { name: `${a}.kv_a_layernorm.weight`, shape: [c.kvLoraRank], kind: 'norm' },
    { name: `${a}.kv_b_proj.weight`, shape: [c.numHeads * (c.qkNopeHeadDim + c.vHeadDim), c.kvLoraRank], kind: 'linear' },
    { name: `${a}.o_proj.weight`, shape: [d, c.numHeads * c.vHeadDim], kind: 'linear' },
  );
  return out;
}

function swiglu(prefix: string, d: number, inter: number): Omit<TensorSpec, 'layer' | 'expert' | 'mtp'>[] {
  return [
    { name: `${prefix}.gate_proj.weight`, shape: [inter, d], kind: 'linear' },
    { name: `${prefix}.up_proj.weight`, shape: [inter, d], kind: 'linear' },
    { name: `${prefix}.down_proj.weight`, shape: [d, inter], kind: 'linear' },
  ];
}

function decoderLayer(c: ModelConfig, layer: number, ffn: 'dense' | 'moe', mtp: boolean): TensorSpec[] {
  const p = `model.layers.${layer}`;
  const d = c.hiddenSize;
  const base = { layer, mtp };
  const out: TensorSpec[] = [
    { name: `${p}.input_layernorm.weight`, shape: [d], kind: 'norm', expert: null, ...base },
    ...attentionTensors(c, p).map((t) => ({ ...t, expert: null, ...base })),
    { name: `${p}.post_attention_layernorm.weight`, shape: [d], kind: 'norm', expert: null, ...base },
  ];
  if (ffn === 'dense' || !c.moe) {
    out.push(...swiglu(`${p}.mlp`, d, c.intermediateSize).map((t) => ({ ...t, expert: null, ...base })));
    return out;
  }
  const m = c.moe;
  out.push({ name: `${p}.mlp.gate.weight`, shape: [m.nRoutedExperts, d], kind: 'router', expert: null, ...base });
  if (m.hasCorrectionBias) out.push({ name: `${p}.mlp.gate.e_score_correction_bias`, shape: [m.nRoutedExperts], kind: 'bias', expert: null, ...base });
  for (let e = 0; e < m.nRoutedExperts; e++) {
    out.push(...swiglu(`${p}.mlp.experts.${e}`, d, m.intermediateSize).map((t) => ({ ...t, expert: e, ...base })));
  }
  if (m.nSharedExperts > 0) {
    out.push(...swiglu(`${p}.mlp.shared_experts`, d, m.intermediateSize * m.nSharedExperts).map((t) => ({ ...t, expert: null, ...base })));
  }
  return out;
}

/**
 * All tensors of the checkpoint, main model first, then the MTP modules (when `includeMtp`). A routed
 * expert's matrices are listed together, gate, up, down.
 */
export function expectedTensors(c: AnyModelConfig, includeMtp = true): TensorSpec[] {
  return c.family === 'v4' ? expectedTensorsV4(c, includeMtp) : expectedTensorsV3(c, includeMtp);
}

function expectedTensorsV3(c: ModelConfig, includeMtp: boolean): TensorSpec[] {
  const d = c.hiddenSize;
  const top = { layer: null, expert: null, mtp: false };
  const out: TensorSpec[] = [{ name: 'model.embed_tokens.weight', shape: [c.vocabSize, d], kind: 'embedding', ...top }];
  c.layers.forEach((l, i) => out.push(...decoderLayer(c, i, l.ffn, false)));
  out.push(
    { name: 'model.norm.weight', shape: [d], kind: 'norm', ...top },
    { name: 'lm_head.weight', shape: [c.vocabSize, d], kind: 'linear', ...top },
  );
  if (includeMtp) {
    for (let k = 0; k < c.numMtpLayers; k++) {
      const layer = c.numLayers + k;
      const p = `model.layers.${layer}`;
      const m = { layer, expert: null, mtp: true };
      out.push(
        { name: `${p}.enorm.weight`, shape: [d], kind: 'norm', ...m },
        { name: `${p}.hnorm.weight`, shape: [d], kind: 'norm', ...m },
        { name: `${p}.eh_proj.weight`, shape: [d, 2 * d], kind: 'linear', ...m },
        ...decoderLayer(c, layer, c.moe ? 'moe' : 'dense', true),
        { name: `${p}.shared_head.norm.weight`, shape: [d], kind: 'norm', ...m },
        { name: `${p}.embed_tokens.weight`, shape: [c.vocabSize, d], kind: 'embedding', ...m },
        { name: `${p}.shared_head.head.weight`, shape: [c.vocabSize, d], kind: 'linear', ...m },
      );
    }
  }
  return out;
}

/** The routed experts' matrices grouped per (layer, expert), in listing order: each group gate, up, down. */
export function expertGroups(specs: readonly TensorSpec[]): TensorSpec[][] {
  const groups = new Map<string, TensorSpec[]>();
  for (const s of specs) {
    if (s.expert === null) continue;
    const key = `${s.layer}/${s.expert}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(s);
  }
  return [...groups.values()];
}
