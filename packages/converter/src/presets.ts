// Model descriptions (Hugging Face config.json fields) for generated checkpoints. The tiny ones mirror
// fixtures/golden/{v3,v2lite}/config.json, and v4-tiny fixtures/golden/v4fp8/config.json without its
// release-format keys (expert_dtype, quantization_config: the generator adds them for FP8); v3-small has
// dimensions above 128 (and not multiples of it), so FP8 weights get several and partial 128×128 scale blocks.

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

/** DeepSeek-V4 in miniature: layers hash + window only, hash + CSA, HCA (ratio 16), CSA; a window-only MTP layer. */
const v4Tiny: HfConfig = {
  architectures: ['DeepseekV4ForCausalLM'],
  model_type: 'deepseek_v4',
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 0,
  eos_token_id: 1,
  vocab_size: 320,
  hidden_size: 96,
  moe_intermediate_size: 32,
  num_hidden_layers: 4,
  num_hash_layers: 2,
  num_nextn_predict_layers: 1,
  num_attention_heads: 4,
  num_key_value_heads: 1,
  head_dim: 80,
  qk_rope_head_dim: 16,
  q_lora_rank: 48,
  o_groups: 2,
  o_lora_rank: 40,
  n_routed_experts: 8,
  n_shared_experts: 1,
  num_experts_per_tok: 3,
  scoring_func: 'sqrtsoftplus',
  topk_method: 'noaux_tc',
  norm_topk_prob: true,
  routed_scaling_factor: 1.5,
  swiglu_limit: 2.5,
  hidden_act: 'silu',
  sliding_window: 16,
  compress_ratios: [0, 4, 16, 4, 0],
  compress_rope_theta: 160000,
  rope_theta: 10000,
  rope_scaling: { beta_fast: 32, beta_slow: 1, factor: 16, original_max_position_embeddings: 65536, type: 'yarn' },
  index_n_heads: 16,
  index_head_dim: 32,
  index_topk: 8,
  hc_mult: 4,
  hc_sinkhorn_iters: 20,
  hc_eps: 1e-6,
  rms_norm_eps: 1e-6,
  max_position_embeddings: 1048576,
  initializer_range: 0.02,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  use_cache: true,
  transformers_version: '4.57.1',
};

/**
 * DeepSeek-V2-Lite at its real size (config.json of deepseek-ai/DeepSeek-V2-Lite): 15.7B parameters, 64
 * routed experts (6 active, softmax greedy routing) and 2 shared in 26 MoE layers after one dense layer.
 * Meant for `generate --quant` (a converted folder); as a BF16 checkpoint it would be 31 GB.
 */
const v2LiteFull: HfConfig = {
  ...v2LiteTiny,
  vocab_size: 102400,
  hidden_size: 2048,
  intermediate_size: 10944,
  moe_intermediate_size: 1408,
  num_hidden_layers: 27,
  num_attention_heads: 16,
  num_key_value_heads: 16,
  n_routed_experts: 64,
  n_shared_experts: 2,
  num_experts_per_tok: 6,
  kv_lora_rank: 512,
  qk_nope_head_dim: 128,
  qk_rope_head_dim: 64,
  v_head_dim: 128,
  aux_loss_alpha: 0.001,
  seq_aux: true,
  attention_bias: false,
  bos_token_id: 100000,
  eos_token_id: 100001,
};

/**
 * Moonlight-16B-A3B (moonshotai): the V3 architecture at V2-Lite's size, sigmoid noaux_tc routing in one
 * group, no q LoRA, vocabulary 163840, 8K context without rope scaling, no MTP layer.
 */
const moonlightFull: HfConfig = {
  ...v2LiteFull,
  architectures: ['DeepseekV3ForCausalLM'],
  model_type: 'deepseek_v3',
  vocab_size: 163840,
  intermediate_size: 11264,
  n_group: 1,
  topk_group: 1,
  routed_scaling_factor: 2.446,
  scoring_func: 'sigmoid',
  topk_method: 'noaux_tc',
  norm_topk_prob: true,
  rope_theta: 50000.0,
  rope_scaling: null,
  max_position_embeddings: 8192,
  rms_norm_eps: 1e-5,
  num_nextn_predict_layers: 0,
  bos_token_id: 163584,
  eos_token_id: 163585,
};

export const PRESETS: Readonly<Record<string, HfConfig>> = {
  'v3-tiny': v3Tiny,
  'v2lite-tiny': v2LiteTiny,
  'v3-small': v3Small,
  'v4-tiny': v4Tiny,
  'v2-lite-full': v2LiteFull,
  'moonlight-full': moonlightFull,
};

/**
 * A preset at test size: the same fields, routing and layer pattern as `preset` (the full-size ones included),
 * fewer and narrower of everything, so that tests run the full presets' code paths in a second.
 */
export function presetAtSmallSize(preset: string): HfConfig {
  return {
    ...PRESETS[preset],
    vocab_size: 200, hidden_size: 72, intermediate_size: 112, moe_intermediate_size: 40, num_hidden_layers: 3,
    num_attention_heads: 3, num_key_value_heads: 3, n_routed_experts: 8, num_experts_per_tok: 3,
    kv_lora_rank: 40, qk_nope_head_dim: 16, qk_rope_head_dim: 8, v_head_dim: 24, bos_token_id: 0, eos_token_id: 1,
  };
}
