// The model description of a deepseek2 GGUF file (llama.cpp's metadata keys, docs/gguf.md#metadata) as
// a Hugging Face config.json, which the engine's config parser then checks like any other; and the
// reverse, for writing test files. One table of keys serves both directions.
import { WebmoeError } from '../errors';
import { GGUF_VALUE, ggufValue, type GgufEntry, type GgufHeader, type GgufValue } from './gguf';

const ARCH = 'deepseek2';

/** Plain numeric keys: GGUF key (after `deepseek2.`), HF field, and whether the value is an integer. */
const NUMBERS: readonly (readonly [gguf: string, hf: string, int: boolean])[] = [
  ['context_length', 'max_position_embeddings', true],
  ['embedding_length', 'hidden_size', true],
  ['feed_forward_length', 'intermediate_size', true],
  ['attention.head_count', 'num_attention_heads', true],
  ['attention.layer_norm_rms_epsilon', 'rms_norm_eps', false],
  ['rope.freq_base', 'rope_theta', false],
  ['rope.dimension_count', 'qk_rope_head_dim', true],
  ['attention.kv_lora_rank', 'kv_lora_rank', true],
  ['leading_dense_block_count', 'first_k_dense_replace', true],
  ['expert_feed_forward_length', 'moe_intermediate_size', true],
  ['expert_count', 'n_routed_experts', true],
  ['expert_shared_count', 'n_shared_experts', true],
  ['expert_used_count', 'num_experts_per_tok', true],
  ['expert_weights_scale', 'routed_scaling_factor', false],
];

/** llama.cpp's expert_gating_func codes. */
const GATING: Readonly<Record<number, string>> = { 1: 'softmax', 2: 'sigmoid' };

/** The shortest decimal that rounds to the same f32: GGUF stores 1e-6 as 9.99999997e-7. */
export function f32Decimal(v: number): number {
  for (let p = 1; p <= 9; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

function fail(source: string, key: string, message: string): never {
  throw new WebmoeError('model-format', `${source}: metadata ${key} ${message}`, { detail: { file: source, field: key } });
}

/**
 * config.json fields for a deepseek2 GGUF. `tensorNames` tells the routing method (a correction bias
 * means noaux_tc) and whether the output head is tied to the embedding.
 */
export function ggufToHfConfig(header: Pick<GgufHeader, 'metadata'>, tensorNames: ReadonlySet<string>, source: string): Record<string, unknown> {
  const arch = ggufValue(header, 'general.architecture');
  if (arch !== ARCH) fail(source, 'general.architecture', `is ${JSON.stringify(arch)}; webmoe reads GGUF files of the deepseek2 architecture (DeepSeek-V2, V2-Lite, V3, Moonlight)`);
  const num = (key: string, required: boolean): number | undefined => {
    const v = ggufValue(header, `${ARCH}.${key}`);
    if (v === undefined) return required ? fail(source, `${ARCH}.${key}`, 'is missing') : undefined;
    if (typeof v !== 'number' && typeof v !== 'bigint') fail(source, `${ARCH}.${key}`, `is ${JSON.stringify(String(v))}, not a number`);
    return Number(v);
  };
  const hf: Record<string, unknown> = { architectures: [] };
  for (const [key, field, int] of NUMBERS) {
    const v = num(key, ['embedding_length', 'attention.head_count', 'rope.dimension_count', 'attention.kv_lora_rank'].includes(key));
    if (v !== undefined) hf[field] = int ? v : f32Decimal(v);
  }
  const blocks = num('block_count', true)!;
  const nextn = num('nextn_predict_layers', false) ?? 0;
  hf.num_hidden_layers = blocks - nextn;
  hf.num_nextn_predict_layers = 0; // the MTP blocks are not read from GGUF files
  hf.num_key_value_heads = hf.num_attention_heads; // MLA: llama.cpp's head_count_kv is 1 in newer files
  hf.q_lora_rank = num('attention.q_lora_rank', false) ?? null;
  const rope = hf.qk_rope_head_dim as number;
  // Newer files give the MLA head sizes in *_mla keys and the latent sizes in key_length/value_length.
  const keyLen = num('attention.key_length_mla', false) ?? num('attention.key_length', true)!;
  hf.qk_nope_head_dim = keyLen - rope;
  hf.v_head_dim = num('attention.value_length_mla', false) ?? num('attention.value_length', true)!;
  hf.vocab_size = num('vocab_size', false) ?? (ggufValue(header, 'tokenizer.ggml.tokens') as unknown[] | undefined)?.length;
  if (hf.vocab_size === undefined) fail(source, `${ARCH}.vocab_size`, 'is missing (and there is no tokenizer.ggml.tokens)');
  const gating = num('expert_gating_func', false) ?? 1;
  if (!GATING[gating]) fail(source, `${ARCH}.expert_gating_func`, `is ${gating}; webmoe reads 1 (softmax) and 2 (sigmoid)`);
  hf.scoring_func = GATING[gating];
  hf.norm_topk_prob = ggufValue(header, `${ARCH}.expert_weights_norm`) === true;
  hf.n_group = num('expert_group_count', false) ?? 1;
  hf.topk_group = num('expert_group_used_count', false) ?? 1;
  const bias = [...tensorNames].some((n) => n.endsWith('.exp_probs_b.bias'));
  hf.topk_method = bias ? 'noaux_tc' : (hf.n_group as number) > 1 ? 'group_limited_greedy' : 'greedy';
  hf.model_type = bias || gating === 2 ? 'deepseek_v3' : 'deepseek_v2';
  hf.architectures = [hf.model_type === 'deepseek_v3' ? 'DeepseekV3ForCausalLM' : 'DeepseekV2ForCausalLM'];
  hf.moe_layer_freq = 1;
  hf.hidden_act = 'silu';
  hf.tie_word_embeddings = !tensorNames.has('output.weight');
  const scaling = ggufValue(header, `${ARCH}.rope.scaling.type`);
  if (scaling === 'yarn') {
    // llama.cpp keeps 0.1 · mscale_all_dim as the YaRN log multiplier and assumes mscale = mscale_all_dim.
    const mult = f32Decimal(num('rope.scaling.yarn_log_multiplier', false) ?? 0.1);
    const mscale = Number((mult * 10).toPrecision(12));
    hf.rope_scaling = {
      type: 'yarn',
      factor: f32Decimal(num('rope.scaling.factor', true)!),
      original_max_position_embeddings: num('rope.scaling.original_context_length', true),
      beta_fast: f32Decimal(num('rope.scaling.yarn_beta_fast', false) ?? 32),
      beta_slow: f32Decimal(num('rope.scaling.yarn_beta_slow', false) ?? 1),
      mscale,
      mscale_all_dim: mscale,
    };
  } else if (scaling !== undefined && scaling !== 'none') {
    fail(source, `${ARCH}.rope.scaling.type`, `is ${JSON.stringify(scaling)}; webmoe reads yarn or none`);
  }
  const bos = ggufValue(header, 'tokenizer.ggml.bos_token_id');
  const eos = ggufValue(header, 'tokenizer.ggml.eos_token_id');
  if (bos !== undefined) hf.bos_token_id = Number(bos);
  if (eos !== undefined) hf.eos_token_id = Number(eos);
  return hf;
}

const u32 = (v: number): GgufEntry => ({ type: GGUF_VALUE.UINT32, value: v });
const f32 = (v: number): GgufEntry => ({ type: GGUF_VALUE.FLOAT32, value: v });

/** The deepseek2 metadata llama.cpp's converter writes for a Hugging Face config.json (for test files). */
export function hfConfigToGguf(hf: Record<string, unknown>, name: string): Record<string, GgufValue | GgufEntry> {
  const out: Record<string, GgufValue | GgufEntry> = { 'general.architecture': ARCH, 'general.name': name };
  const n = (f: string) => hf[f] as number;
  for (const [key, field, int] of NUMBERS) if (typeof hf[field] === 'number') out[`${ARCH}.${key}`] = int ? u32(n(field)) : f32(n(field));
  out[`${ARCH}.block_count`] = u32(n('num_hidden_layers'));
  out[`${ARCH}.vocab_size`] = u32(n('vocab_size'));
  out[`${ARCH}.attention.head_count_kv`] = u32(1);
  if (typeof hf.q_lora_rank === 'number') out[`${ARCH}.attention.q_lora_rank`] = u32(n('q_lora_rank'));
  out[`${ARCH}.attention.key_length`] = u32(n('kv_lora_rank') + n('qk_rope_head_dim'));
  out[`${ARCH}.attention.value_length`] = u32(n('kv_lora_rank'));
  out[`${ARCH}.attention.key_length_mla`] = u32(n('qk_nope_head_dim') + n('qk_rope_head_dim'));
  out[`${ARCH}.attention.value_length_mla`] = u32(n('v_head_dim'));
  out[`${ARCH}.expert_weights_norm`] = hf.norm_topk_prob === true;
  out[`${ARCH}.expert_gating_func`] = u32(hf.scoring_func === 'sigmoid' ? 2 : 1);
  if (typeof hf.n_group === 'number') out[`${ARCH}.expert_group_count`] = u32(n('n_group'));
  if (typeof hf.topk_group === 'number') out[`${ARCH}.expert_group_used_count`] = u32(n('topk_group'));
  const rs = hf.rope_scaling as Record<string, number> | null | undefined;
  if (rs && ((rs as Record<string, unknown>).type === 'yarn' || (rs as Record<string, unknown>).rope_type === 'yarn')) {
    out[`${ARCH}.rope.scaling.type`] = 'yarn';
    out[`${ARCH}.rope.scaling.factor`] = f32(rs.factor);
    out[`${ARCH}.rope.scaling.original_context_length`] = u32(rs.original_max_position_embeddings);
    out[`${ARCH}.rope.scaling.yarn_log_multiplier`] = f32(0.1 * (rs.mscale_all_dim ?? 1));
    if (rs.beta_fast !== undefined) out[`${ARCH}.rope.scaling.yarn_beta_fast`] = f32(rs.beta_fast);
    if (rs.beta_slow !== undefined) out[`${ARCH}.rope.scaling.yarn_beta_slow`] = f32(rs.beta_slow);
  }
  if (typeof hf.bos_token_id === 'number') out['tokenizer.ggml.bos_token_id'] = u32(n('bos_token_id'));
  if (typeof hf.eos_token_id === 'number') out['tokenizer.ggml.eos_token_id'] = u32(n('eos_token_id'));
  return out;
}
