// Every tensor a checkpoint must hold for a ModelConfig, with its shape (HF layout, weights [out, in]).
// The converter checks checkpoints against this list; the loader finds weights through it.
import type { ModelConfig } from './config';

/**
 * linear: a weight matrix used in a matrix product (quantizable);
 * embedding: rows gathered by token id (quantizable, dequantized per row);
 * norm, router, bias: small and precision-sensitive, f32 (a BF16 checkpoint's router: bf16, which is lossless).
 */
export type TensorKind = 'linear' | 'embedding' | 'norm' | 'router' | 'bias';

export interface TensorSpec {
  name: string;
  shape: number[];
  kind: TensorKind;
  /** Decoder layer index (MTP layers count on from numLayers), or null for model-level tensors. */
  layer: number | null;
  /** Routed expert index, or null. An expert's three matrices are kept contiguous by the converter. */
  expert: number | null;
  /** Part of a multi-token-prediction module, which the main forward pass does not use. */
  mtp: boolean;
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

/** All tensors of the checkpoint, main model first, then the MTP modules (when `includeMtp`). */
export function expectedTensors(c: ModelConfig, includeMtp = true): TensorSpec[] {
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
