// KV-state figures for `webmoe run --json` and the bench: the loaded model's bytes per cached token by
// layer kind and its KV state at a few context lengths, and the same for the released configurations of
// DeepSeek-V4-Flash and DeepSeek-V3 (their config.json fields, as published), each beside a multi-head
// cache. Computed from the configs by the executor's own sizing code (kvFootprint), not measured.
import { contextForBudget, kvFootprint, parseHfConfig, type AnyModelConfig, type ContextForBudget, type KvFootprint } from 'webmoe';

/** DeepSeek-V4-Flash's config.json (the fields the KV state depends on, and what parsing requires). */
const V4_FLASH = {
  model_type: 'deepseek_v4', architectures: ['DeepseekV4ForCausalLM'], vocab_size: 129280, hidden_size: 4096, num_hidden_layers: 43,
  num_nextn_predict_layers: 1, num_attention_heads: 64, num_key_value_heads: 1, head_dim: 512, qk_rope_head_dim: 64, q_lora_rank: 1024,
  o_groups: 8, o_lora_rank: 1024, sliding_window: 128,
  compress_ratios: [0, 0, ...Array.from({ length: 41 }, (_, i) => (i % 2 === 0 ? 4 : 128)), 0],
  rope_theta: 10000, compress_rope_theta: 160000,
  rope_scaling: { type: 'yarn', factor: 16, original_max_position_embeddings: 65536, beta_fast: 32, beta_slow: 1 },
  index_n_heads: 64, index_head_dim: 128, index_topk: 512, n_routed_experts: 256, num_experts_per_tok: 6, n_shared_experts: 1,
  moe_intermediate_size: 2048, num_hash_layers: 3, scoring_func: 'sqrtsoftplus', routed_scaling_factor: 1.5, swiglu_limit: 10,
  hc_mult: 4, hc_sinkhorn_iters: 20, hc_eps: 1e-6, rms_norm_eps: 1e-6, max_position_embeddings: 1048576, bos_token_id: 0, eos_token_id: 1,
};

/** DeepSeek-V3's config.json (671B). */
const V3 = {
  model_type: 'deepseek_v3', vocab_size: 129280, hidden_size: 7168, intermediate_size: 18432, moe_intermediate_size: 2048,
  num_hidden_layers: 61, num_attention_heads: 128, num_key_value_heads: 128, n_routed_experts: 256, n_shared_experts: 1,
  num_experts_per_tok: 8, n_group: 8, topk_group: 4, first_k_dense_replace: 3, q_lora_rank: 1536, kv_lora_rank: 512,
  qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128, scoring_func: 'sigmoid', topk_method: 'noaux_tc', norm_topk_prob: true,
  routed_scaling_factor: 2.5, rope_theta: 10000, max_position_embeddings: 163840, rms_norm_eps: 1e-6, bos_token_id: 0, eos_token_id: 1,
  rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale: 1, mscale_all_dim: 1 },
};

export const REPORT_CONTEXTS = [131072, 1048576] as const;
/** The KV-cache budget at which each V3 latent cache format's context is reported. */
export const REPORT_BUDGET_BYTES = 8 * 2 ** 30;

export interface KvReport {
  model: KvFootprint;
  released: { 'DeepSeek-V4-Flash': KvFootprint; 'DeepSeek-V3': KvFootprint };
  /** Context each latent cache format (f32, f16, fp8) allows within budgetBytes (V2/V3 models only). */
  contextPerBudget: { budgetBytes: number; model: ContextForBudget[]; 'DeepSeek-V3': ContextForBudget[] };
}

export function kvReport(config: AnyModelConfig, contextLength: number, format?: KvFootprint['format']): KvReport {
  const at = [contextLength, ...REPORT_CONTEXTS];
  const v3 = parseHfConfig(V3, 'DeepSeek-V3 config');
  return {
    model: kvFootprint(config, at, format),
    released: {
      'DeepSeek-V4-Flash': kvFootprint(parseHfConfig(V4_FLASH, 'DeepSeek-V4-Flash config'), REPORT_CONTEXTS),
      'DeepSeek-V3': kvFootprint(v3, REPORT_CONTEXTS),
    },
    contextPerBudget: { budgetBytes: REPORT_BUDGET_BYTES, model: contextForBudget(config, REPORT_BUDGET_BYTES), 'DeepSeek-V3': contextForBudget(v3, REPORT_BUDGET_BYTES) },
  };
}
