// The V2/V3 reference model's arguments: every number the forward pass reads, flat and documented, in the
// manner of ModelArgs in DeepSeek's inference/model.py, read from config.json by the reference itself
// (docs/architecture-v3.md#config).
// Structural sizes are required; a behavioural field that is absent takes the value of the released
// checkpoints of its model_type (V3: DeepSeek-V3, V2: DeepSeek-V2-Lite), as listed on each field below.
import { modelFamily } from './family';
import { JsonFields } from './json-fields';

/** YaRN context extension (rope_scaling of type yarn). */
export interface YarnArgs {
  /** rope_scaling.factor (required): how much longer than the original context the model was extended to (40). */
  factor: number;
  /** rope_scaling.original_max_position_embeddings (absent: 4096): the pre-extension context. */
  originalSeqLen: number;
  /** rope_scaling.beta_fast (absent: 32): rotations above which a frequency is kept as is. */
  betaFast: number;
  /** rope_scaling.beta_slow (absent: 1): rotations below which a frequency is divided by `factor`. */
  betaSlow: number;
  /** rope_scaling.mscale (absent: 1): numerator of Hugging Face's cos/sin amplitude mscale(mscale)/mscale(mscaleAllDim). */
  mscale: number;
  /** rope_scaling.mscale_all_dim (absent: 0): sets the softmax scale factor m² with m = 0.1·mscaleAllDim·ln(factor) + 1. */
  mscaleAllDim: number;
}

export type FfnKind = 'dense' | 'moe';

export interface ReferenceArgs {
  /** vocab_size: rows of the embedding and of lm_head. */
  vocabSize: number;
  /** hidden_size: the residual stream width d. */
  dim: number;
  /** intermediate_size: width of the dense SwiGLU MLP (required only when a layer is dense). */
  interDim: number;
  /** moe_intermediate_size: width of one routed expert (shared experts: this × nSharedExperts). */
  moeInterDim: number;
  /** num_hidden_layers: main decoder layers (MTP layers are stored after them). */
  nLayers: number;
  /**
   * Per main layer: a mixture of experts when n_routed_experts > 0, the index is at least first_k_dense_replace
   * (absent: V3 3, V2 1) and a multiple of moe_layer_freq (absent: 1); otherwise a dense MLP.
   */
  ffn: FfnKind[];
  /** num_attention_heads: H. */
  nHeads: number;
  /** q_lora_rank (absent or null: 0): 0 means a single q_proj; otherwise q_a_proj → RMSNorm → q_b_proj. */
  qLoraRank: number;
  /** kv_lora_rank: width of the compressed latent c that kv_b_proj expands into per-head keys and values. */
  kvLoraRank: number;
  /** qk_nope_head_dim: per-head query/key width without position information. */
  qkNopeHeadDim: number;
  /** qk_rope_head_dim: per-head query width (and the shared key width) that RoPE rotates; even. */
  qkRopeHeadDim: number;
  /** v_head_dim: per-head value width. */
  vHeadDim: number;
  /** n_routed_experts (absent or null: 0, a model without MoE layers). */
  nRoutedExperts: number;
  /** n_shared_experts (absent or null: 0): folded into one SwiGLU of width moeInterDim × nSharedExperts. */
  nSharedExperts: number;
  /** num_experts_per_tok (required with MoE): k of the top-k routing. */
  nActivatedExperts: number;
  /** n_group (absent or null: 1): experts are split into this many equal groups for group-limited routing. */
  nExpertGroups: number;
  /** topk_group (absent or null: 1): how many groups a token may route into. */
  nLimitedGroups: number;
  /** scoring_func (absent: V3 sigmoid, V2 softmax) over the router logits. */
  scoreFunc: 'softmax' | 'sigmoid';
  /**
   * topk_method (absent: V3 noaux_tc, V2 greedy): greedy, group_limited_greedy (group score = best expert) or
   * noaux_tc (sum of best two, with e_score_correction_bias).
   */
  topkMethod: 'greedy' | 'group_limited_greedy' | 'noaux_tc';
  /** norm_topk_prob (absent: V3 true, V2 false): divide the k selected weights by their sum before scaling. */
  normTopkProb: boolean;
  /** routed_scaling_factor (absent: V3 2.5, V2 1): multiplies the routed experts' weights. */
  routeScale: number;
  /** rope_theta (absent: 10000): RoPE base. */
  ropeTheta: number;
  /** YaRN parameters, or null when the checkpoint has no rope_scaling or YaRN is switched off (see ReferenceOptions). */
  yarn: YarnArgs | null;
  /** rms_norm_eps (absent: 1e-6). */
  rmsNormEps: number;
  /** num_nextn_predict_layers (absent: 0): MTP modules stored as layers nLayers … nLayers + nMtpLayers - 1. */
  nMtpLayers: number;
}

export interface ReferenceOptions {
  /**
   * Whether YaRN applies when rope_scaling is yarn (V2/V3). Hugging Face always applies it. DeepSeek's
   * inference/model.py applies it only when its max_seq_len (default 16384) exceeds original_max_position_embeddings
   * (4096), so by default it does too; false reproduces a DeepSeek run with max_seq_len ≤ 4096 (plain RoPE, plain
   * softmax scale). The goldens in fixtures/golden were made with YaRN on. Default true. V4 ignores it: V4 applies
   * YaRN on its compressed layers at every length.
   */
  yarn?: boolean;
  /** Load the MTP module so that `mtpForward` can run. Default false: the main model never reads MTP tensors. */
  mtp?: boolean;
}

/** Reads the V2/V3 arguments from a parsed config.json (model_type deepseek_v2 or deepseek_v3). */
export function referenceArgs(json: unknown, options: ReferenceOptions = {}, file = 'config.json'): ReferenceArgs {
  const f: JsonFields = JsonFields.of(json, file);
  const family = modelFamily(json, file);
  if (family === 'deepseek_v4') f.fail('model_type', 'is deepseek_v4: read it with v4Args');
  const v3 = family === 'deepseek_v3';

  const nLayers = f.int('num_hidden_layers');
  const nRoutedExperts = f.int('n_routed_experts', 0, 0);
  const firstDense = f.int('first_k_dense_replace', v3 ? 3 : 1, 0);
  const moeFreq = f.int('moe_layer_freq', 1);
  const ffn: FfnKind[] = Array.from({ length: nLayers }, (_, i) => (nRoutedExperts > 0 && i >= firstDense && i % moeFreq === 0 ? 'moe' : 'dense'));
  const moe = nRoutedExperts > 0;

  const nExpertGroups = f.int('n_group', 1);
  const nLimitedGroups = f.int('topk_group', 1);
  const nActivatedExperts = moe ? f.int('num_experts_per_tok') : 0;
  const topkMethod = f.oneOf('topk_method', ['greedy', 'group_limited_greedy', 'noaux_tc'], v3 ? 'noaux_tc' : 'greedy');
  if (moe) {
    f.check(nRoutedExperts % nExpertGroups === 0, 'n_group', `(${nExpertGroups}) must divide n_routed_experts (${nRoutedExperts})`);
    f.check(nLimitedGroups <= nExpertGroups, 'topk_group', `(${nLimitedGroups}) must not exceed n_group (${nExpertGroups})`);
    f.check(nActivatedExperts <= nRoutedExperts, 'num_experts_per_tok', `(${nActivatedExperts}) must not exceed n_routed_experts (${nRoutedExperts})`);
    if (topkMethod !== 'greedy') {
      const perGroup = nRoutedExperts / nExpertGroups;
      f.check(nActivatedExperts <= perGroup * nLimitedGroups, 'num_experts_per_tok', `(${nActivatedExperts}) exceeds the ${perGroup * nLimitedGroups} experts of the ${nLimitedGroups} groups a token may use`);
      if (topkMethod === 'noaux_tc' && nExpertGroups > 1) f.check(perGroup >= 2, 'n_group', `(${nExpertGroups}) leaves groups of one expert; noaux_tc scores a group by its best two`);
    }
  }

  const qkRopeHeadDim = f.int('qk_rope_head_dim', undefined, 2);
  f.check(qkRopeHeadDim % 2 === 0, 'qk_rope_head_dim', `must be even (RoPE rotates pairs), got ${qkRopeHeadDim}`);
  const rs = f.object('rope_scaling');
  let yarn: YarnArgs | null = null;
  if (rs) {
    const type = rs.json.type ?? rs.json.rope_type;
    rs.check(type === 'yarn', 'type', `${JSON.stringify(type)} is not supported (only yarn)`);
    yarn = {
      factor: rs.num('factor'),
      originalSeqLen: rs.int('original_max_position_embeddings', 4096),
      betaFast: rs.num('beta_fast', 32),
      betaSlow: rs.num('beta_slow', 1),
      mscale: rs.num('mscale', 1),
      mscaleAllDim: rs.num('mscale_all_dim', 0),
    };
  }

  return {
    vocabSize: f.int('vocab_size'),
    dim: f.int('hidden_size'),
    interDim: ffn.includes('dense') ? f.int('intermediate_size') : f.int('intermediate_size', 0, 0),
    moeInterDim: moe ? f.int('moe_intermediate_size') : 0,
    nLayers,
    ffn,
    nHeads: f.int('num_attention_heads'),
    qLoraRank: f.int('q_lora_rank', 0, 0),
    kvLoraRank: f.int('kv_lora_rank'),
    qkNopeHeadDim: f.int('qk_nope_head_dim'),
    qkRopeHeadDim,
    vHeadDim: f.int('v_head_dim'),
    nRoutedExperts,
    nSharedExperts: moe ? f.int('n_shared_experts', 0, 0) : 0,
    nActivatedExperts,
    nExpertGroups,
    nLimitedGroups,
    scoreFunc: f.oneOf('scoring_func', ['softmax', 'sigmoid'], v3 ? 'sigmoid' : 'softmax'),
    topkMethod,
    normTopkProb: f.bool('norm_topk_prob', v3),
    routeScale: f.num('routed_scaling_factor', v3 ? 2.5 : 1),
    ropeTheta: f.num('rope_theta', 10000),
    yarn: options.yarn === false ? null : yarn,
    rmsNormEps: f.num('rms_norm_eps', 1e-6),
    nMtpLayers: f.int('num_nextn_predict_layers', 0, 0),
  };
}
