// Model descriptions (Hugging Face config.json fields) for generated checkpoints. The tiny ones mirror
// fixtures/golden/{v3,v2lite}/config.json; v3-small has dimensions above 128 (and not multiples of it), so
// FP8 weights get several and partial 128×128 scale blocks.

type HfConfig = Record<string, unknown>;

/** V3's rope_scaling block, with the given mscale (V3: 1, V2-Lite: 0.707). */
export const yarn = (mscale: number) => ({
  type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale, mscale_all_dim: mscale,
});

/** The config fields every generated DeepSeek checkpoint shares. */
export const common = {
  rope_theta: 10000.0,
  max_position_embeddings: 163840,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
  hidden_act: 'silu',
  bos_token_id: 0,
  eos_token_id: 1,
  torch_dtype: 'bfloat16',
};

const v3Tiny: HfConfig = {
  architectures: ['DeepseekV3ForCausalLM'],
  model_type: 'deepseek_v3',
  vocab_size: 320,
  hidden_size: 96,
  intermediate_size: 160,
  moe_intermediate_size: 32,
  num_hidden_layers: 3,
  first_k_dense_replace: 1,
  moe_layer_freq: 1,
  num_attention_heads: 3,
  num_key_value_heads: 3,
  n_routed_experts: 8,
  n_shared_experts: 1,
  num_experts_per_tok: 2,
  n_group: 2,
  topk_group: 1,
  routed_scaling_factor: 2.5,
  scoring_func: 'sigmoid',
  topk_method: 'noaux_tc',
  norm_topk_prob: true,
  q_lora_rank: 48,
  kv_lora_rank: 24,
  qk_nope_head_dim: 16,
  qk_rope_head_dim: 8,
  v_head_dim: 24,
  rope_scaling: yarn(1.0),
  num_nextn_predict_layers: 1,
  ...common,
};

const v2LiteTiny: HfConfig = {
  architectures: ['DeepseekV2ForCausalLM'],
  model_type: 'deepseek_v2',
  vocab_size: 320,
  hidden_size: 96,
  intermediate_size: 192,
  moe_intermediate_size: 24,
  num_hidden_layers: 2,
  first_k_dense_replace: 1,
  moe_layer_freq: 1,
  num_attention_heads: 3,
  num_key_value_heads: 3,
  n_routed_experts: 6,
  n_shared_experts: 2,
  num_experts_per_tok: 2,
  n_group: 1,
  topk_group: 1,
  routed_scaling_factor: 1.0,
  scoring_func: 'softmax',
  topk_method: 'greedy',
  norm_topk_prob: false,
  q_lora_rank: null,
  kv_lora_rank: 24,
  qk_nope_head_dim: 16,
  qk_rope_head_dim: 8,
  v_head_dim: 24,
  rope_scaling: yarn(0.707),
  ...common,
};

const v3Small: HfConfig = {
  ...v3Tiny,
  vocab_size: 520,
  hidden_size: 264,
  intermediate_size: 400,
  moe_intermediate_size: 136,
  num_attention_heads: 4,
  num_key_value_heads: 4,
  q_lora_rank: 200,
  kv_lora_rank: 136,
  qk_nope_head_dim: 32,
  qk_rope_head_dim: 16,
  v_head_dim: 32,
};

export const PRESETS: Readonly<Record<string, HfConfig>> = {
  'v3-tiny': v3Tiny,
  'v2lite-tiny': v2LiteTiny,
  'v3-small': v3Small,
};
