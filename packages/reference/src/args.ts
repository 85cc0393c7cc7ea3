// The reference model's arguments: every number the forward pass reads, flat and documented, in the
// manner of ModelArgs in DeepSeek's inference/model.py. Built from webmoe's parsed config so that the
// reference and the engine read config.json the same way; everything after this file is independent.
import type { ModelConfig } from './engine';

/** YaRN context extension (rope_scaling of type yarn). */
export interface YarnArgs {
  /** rope_scaling.factor: how much longer than the original context the model was extended to (40). */
  factor: number;
  /** rope_scaling.original_max_position_embeddings: the pre-extension context (4096). */
  originalSeqLen: number;
  /** rope_scaling.beta_fast: rotations above which a frequency is kept as is (32). */
  betaFast: number;
  /** rope_scaling.beta_slow: rotations below which a frequency is divided by `factor` (1). */
  betaSlow: number;
  /** rope_scaling.mscale: numerator of Hugging Face's cos/sin amplitude mscale(mscale)/mscale(mscaleAllDim). */
  mscale: number;
  /** rope_scaling.mscale_all_dim: sets the softmax scale factor m² with m = 0.1·mscaleAllDim·ln(factor) + 1. */
  mscaleAllDim: number;
}

export type FfnKind = 'dense' | 'moe';

export interface ReferenceArgs {
  /** vocab_size: rows of the embedding and of lm_head. */
  vocabSize: number;
  /** hidden_size: the residual stream width d. */
  dim: number;
  /** intermediate_size: width of the dense SwiGLU MLP. */
  interDim: number;
  /** moe_intermediate_size: width of one routed expert (shared experts: this × nSharedExperts). */
  moeInterDim: number;
  /** num_hidden_layers: main decoder layers (MTP layers are stored after them). */
  nLayers: number;
  /** Per main layer: dense MLP (below first_k_dense_replace) or mixture of experts. */
  ffn: FfnKind[];
  /** num_attention_heads: H. */
  nHeads: number;
  /** q_lora_rank: 0 means a single q_proj; otherwise q_a_proj → RMSNorm → q_b_proj through this rank. */
  qLoraRank: number;
  /** kv_lora_rank: width of the compressed latent c that kv_b_proj expands into per-head keys and values. */
  kvLoraRank: number;
  /** qk_nope_head_dim: per-head query/key width without position information. */
  qkNopeHeadDim: number;
  /** qk_rope_head_dim: per-head query width (and the shared key width) that RoPE rotates. */
  qkRopeHeadDim: number;
  /** v_head_dim: per-head value width. */
  vHeadDim: number;
  /** n_routed_experts (0 for a model without MoE layers). */
  nRoutedExperts: number;
  /** n_shared_experts: folded into one SwiGLU of width moeInterDim × nSharedExperts, added to every token. */
  nSharedExperts: number;
  /** num_experts_per_tok: k of the top-k routing. */
  nActivatedExperts: number;
  /** n_group: experts are split into this many equal groups for group-limited routing. */
  nExpertGroups: number;
  /** topk_group: how many groups a token may route into. */
  nLimitedGroups: number;
  /** scoring_func: softmax (V2) or sigmoid (V3) over the router logits. */
  scoreFunc: 'softmax' | 'sigmoid';
  /** topk_method: greedy, group_limited_greedy (group score = best expert) or noaux_tc (sum of best two, biased). */
  topkMethod: 'greedy' | 'group_limited_greedy' | 'noaux_tc';
  /** norm_topk_prob: divide the k selected weights by their sum before scaling. */
  normTopkProb: boolean;
  /** routed_scaling_factor: multiplies the routed experts' weights. */
  routeScale: number;
  /** rope_theta: RoPE base. */
  ropeTheta: number;
  /** YaRN parameters, or null when the checkpoint has no rope_scaling or YaRN is switched off (see ReferenceOptions). */
  yarn: YarnArgs | null;
  /** rms_norm_eps. */
  rmsNormEps: number;
  /** num_nextn_predict_layers: MTP modules stored as layers nLayers … nLayers + nMtpLayers - 1. */
  nMtpLayers: number;
}

export interface ReferenceOptions {
  /**
   * Whether YaRN applies when rope_scaling is yarn. Hugging Face always applies it. DeepSeek's inference/model.py
   * applies it only when its max_seq_len (default 16384) exceeds original_max_position_embeddings (4096), so by
   * default it does too; false reproduces a DeepSeek run with max_seq_len ≤ 4096 (plain RoPE, plain softmax scale).
   * The goldens in fixtures/golden were made with YaRN on. Default true.
   */
  yarn?: boolean;
  /** Load the MTP module (V3) so that `mtpForward` can run. Default false: the main model never reads MTP tensors. */
  mtp?: boolean;
}

export function referenceArgs(c: ModelConfig, options: ReferenceOptions = {}): ReferenceArgs {
  const m = c.moe;
  const y = c.rope.yarn;
  return {
    vocabSize: c.vocabSize,
    dim: c.hiddenSize,
    interDim: c.intermediateSize,
    moeInterDim: m?.intermediateSize ?? 0,
    nLayers: c.numLayers,
    ffn: c.layers.map((l) => l.ffn),
    nHeads: c.numHeads,
    qLoraRank: c.qLoraRank ?? 0,
    kvLoraRank: c.kvLoraRank,
    qkNopeHeadDim: c.qkNopeHeadDim,
    qkRopeHeadDim: c.qkRopeHeadDim,
    vHeadDim: c.vHeadDim,
    nRoutedExperts: m?.nRoutedExperts ?? 0,
    nSharedExperts: m?.nSharedExperts ?? 0,
    nActivatedExperts: m?.topK ?? 0,
    nExpertGroups: m?.nGroup ?? 1,
    nLimitedGroups: m?.topkGroup ?? 1,
    scoreFunc: m?.scoring ?? 'softmax',
    topkMethod: m?.topkMethod ?? 'greedy',
    normTopkProb: m?.normTopkProb ?? false,
    routeScale: m?.routedScalingFactor ?? 1,
    ropeTheta: c.rope.theta,
    yarn: y && options.yarn !== false
      ? { factor: y.factor, originalSeqLen: y.originalMaxPositions, betaFast: y.betaFast, betaSlow: y.betaSlow, mscale: y.mscale, mscaleAllDim: y.mscaleAllDim }
      : null,
    rmsNormEps: c.rmsNormEps,
    nMtpLayers: c.numMtpLayers,
  };
}
