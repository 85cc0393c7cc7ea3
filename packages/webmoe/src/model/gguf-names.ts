// llama.cpp's tensor names for the deepseek2 architecture against the Hugging Face names the converter and
// the engine use (docs/gguf.md#tensors). Routed experts are stacked in GGUF, one tensor per layer and
// projection with the expert as its outermost dimension.

/** Tensors of decoder layer N: HF suffix after `model.layers.N.`, GGUF suffix after `blk.N.`. */
const LAYER_NAMES: readonly (readonly [hf: string, gguf: string])[] = [
  ['input_layernorm.weight', 'attn_norm.weight'],
  ['self_attn.q_proj.weight', 'attn_q.weight'],
  ['self_attn.q_a_proj.weight', 'attn_q_a.weight'],
  ['self_attn.q_a_layernorm.weight', 'attn_q_a_norm.weight'],
  ['self_attn.q_b_proj.weight', 'attn_q_b.weight'],
  ['self_attn.kv_a_proj_with_mqa.weight', 'attn_kv_a_mqa.weight'],
  ['self_attn.kv_a_layernorm.weight', 'attn_kv_a_norm.weight'],
  ['self_attn.kv_b_proj.weight', 'attn_kv_b.weight'],
  ['self_attn.o_proj.weight', 'attn_output.weight'],
  ['post_attention_layernorm.weight', 'ffn_norm.weight'],
  ['mlp.gate_proj.weight', 'ffn_gate.weight'],
  ['mlp.up_proj.weight', 'ffn_up.weight'],
  ['mlp.down_proj.weight', 'ffn_down.weight'],
  ['mlp.gate.weight', 'ffn_gate_inp.weight'],
  ['mlp.gate.e_score_correction_bias', 'exp_probs_b.bias'],
  ['mlp.shared_experts.gate_proj.weight', 'ffn_gate_shexp.weight'],
  ['mlp.shared_experts.up_proj.weight', 'ffn_up_shexp.weight'],
  ['mlp.shared_experts.down_proj.weight', 'ffn_down_shexp.weight'],
];

const TOP_NAMES: Readonly<Record<string, string>> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
};

/** Where an HF tensor lives in a GGUF file: a tensor, or one expert's slice of a stacked tensor. */
export interface GgufSource {
  gguf: string;
  /** The routed expert (outermost index of a stacked `ffn_*_exps` tensor), or null. */
  expert: number | null;
}

const LAYER = /^model\.layers\.(\d+)\.(.+)$/;
const EXPERT = /^mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight$/;

/** The GGUF source of an HF tensor name, or null for a name deepseek2 GGUF files do not hold. */
export function ggufSourceOf(hfName: string): GgufSource | null {
  if (Object.hasOwn(TOP_NAMES, hfName)) return { gguf: TOP_NAMES[hfName], expert: null };
  const m = LAYER.exec(hfName);
  if (!m) return null;
  const [, layer, rest] = m;
  const e = EXPERT.exec(rest);
  if (e) return { gguf: `blk.${layer}.ffn_${e[2]}_exps.weight`, expert: Number(e[1]) };
  const pair = LAYER_NAMES.find(([hf]) => hf === rest);
  return pair ? { gguf: `blk.${layer}.${pair[1]}`, expert: null } : null;
}

/** The per-head halves of kv_b that newer llama.cpp files store instead of attn_kv_b (docs/gguf.md#tensors). */
export function splitKvNames(layer: number): { kb: string; vb: string } {
  return { kb: `blk.${layer}.attn_k_b.weight`, vb: `blk.${layer}.attn_v_b.weight` };
}
