// The V4 reference model's arguments, read from config.json by the reference itself (docs/architecture-v4.md#config).
// Structural sizes are required; a behavioural field that is absent takes the value of the released
// DeepSeek-V4 checkpoints, as listed on each field below. Fields the math does not read (num_key_value_heads,
// norm_topk_prob, topk_method, max_position_embeddings, expert_dtype, …) are ignored: the weights' own
// dtypes say how they are stored.
import { modelFamily } from '../family';
import { JsonFields } from '../json-fields';
import type { YarnFrequencyArgs } from '../rope';

/** What a layer attends to besides its sliding window. */
export type V4LayerKind = 'window' | 'csa' | 'hca';

export interface V4Args {
  /** vocab_size. */
  vocabSize: number;
  /** hidden_size: d, the width of each of the hcMult residual streams. */
  dim: number;
  /** num_hidden_layers. */
  nLayers: number;
  /** num_nextn_predict_layers (absent: 0): MTP modules, stored as mtp.0.*, mtp.1.*, …. */
  nMtpLayers: number;
  /** num_attention_heads: H query heads; there is one shared key/value head. */
  nHeads: number;
  /** head_dim: D, the width of a query head and of the shared key/value vector. */
  headDim: number;
  /** qk_rope_head_dim: r, the LAST r dims of every head that RoPE rotates; even. */
  ropeDim: number;
  /** q_lora_rank: wq_a → q_norm → wq_b through this rank (also the indexer's query input). */
  qLoraRank: number;
  /** o_groups: G, heads are split into G groups for the low-rank output projection. */
  oGroups: number;
  /** o_lora_rank: R, each group's projection rank. */
  oLoraRank: number;
  /** sliding_window (absent: 128): w, the raw key/value vectors every query sees (its own included). */
  window: number;
  /**
   * compress_ratios (required, one per main layer then one per MTP layer): 0 = window only, 4 = CSA
   * (overlapping pooled blocks of 4 chosen by the indexer), any other m = HCA (all pooled blocks of m).
   */
  compressRatios: number[];
  /** rope_theta (absent: 10000): RoPE base of window-only layers, never with YaRN. */
  ropeTheta: number;
  /** compress_rope_theta (absent: 160000): RoPE base of CSA/HCA layers (attention, compressor, indexer). */
  compressRopeTheta: number;
  /**
   * rope_scaling of type yarn (factor required; original_max_position_embeddings absent: 65536, beta_fast 32,
   * beta_slow 1): YaRN frequencies on CSA/HCA layers at every length; no YaRN when rope_scaling is absent.
   * mscale fields are ignored: V4 scales neither the logits nor the cos/sin.
   */
  yarn: YarnFrequencyArgs | null;
  /** index_n_heads: Hi (required with a CSA layer). */
  indexHeads: number;
  /** index_head_dim: Di, a power of two and a multiple of 32 (Hadamard, FP4 blocks) (required with a CSA layer). */
  indexHeadDim: number;
  /** index_topk: how many compressed blocks a CSA query attends to at most (required with a CSA layer). */
  indexTopk: number;
  /** n_routed_experts: E. */
  nRoutedExperts: number;
  /** num_experts_per_tok: k. */
  nActivatedExperts: number;
  /** moe_intermediate_size: I, the width of every routed expert and of the one shared expert. */
  moeInterDim: number;
  /** num_hash_layers (absent: 3): layers below this route by the stored table ffn.gate.tid2eid. */
  nHashLayers: number;
  /**
   * scoring_func (absent: sqrtsoftplus): router scores sqrt(softplus(logit)); sigmoid and softmax as in V3.
   * Weights are renormalized over the chosen k except under softmax.
   */
  scoreFunc: 'sqrtsoftplus' | 'sigmoid' | 'softmax';
  /** routed_scaling_factor (required: the releases differ, 1.5 and 2.5). */
  routeScale: number;
  /** swiglu_limit (absent: 10; 0 = no clamp): gate clamped from above, up into [−limit, limit]. */
  swigluLimit: number;
  /** hc_mult (absent: 4): residual streams. */
  hcMult: number;
  /** hc_sinkhorn_iters (absent: 20): normalization passes of the stream-mixing matrix. */
  hcSinkhornIters: number;
  /** hc_eps (absent: 1e-6). */
  hcEps: number;
  /** rms_norm_eps (absent: 1e-6): every RMSNorm, the per-head query norm and mHC's mean square. */
  normEps: number;
  /**
   * kv_fp8_roundtrip (absent: true; not a release field): whether the non-RoPE dims of every window key/value
   * and every attention compressed entry go through the FP8 round trip, as the release code does. Test
   * checkpoints set it false so that a float32 engine can be compared without rounding-tie flips.
   */
  kvFp8Roundtrip: boolean;
  /**
   * indexer_fp4_roundtrip (absent: true; not a release field): whether the indexer's queries and keys go
   * through the FP4 round trip after their Hadamard rotation. Long-prompt comparisons switch it off for the
   * same reason as kv_fp8_roundtrip: over thousands of tokens some value always sits near a rounding tie.
   */
  indexerFp4Roundtrip: boolean;
}

export function layerKind(ratio: number): V4LayerKind {
  return ratio === 0 ? 'window' : ratio === 4 ? 'csa' : 'hca';
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** Reads the V4 arguments from a parsed config.json (model_type deepseek_v4). */
export function v4Args(json: unknown, file = 'config.json'): V4Args {
  const f: JsonFields = JsonFields.of(json, file);
  if (modelFamily(json, file) !== 'deepseek_v4') f.fail('model_type', `is ${JSON.stringify(f.json.model_type)}: read it with referenceArgs`);

  const nLayers = f.int('num_hidden_layers');
  const nMtpLayers = f.int('num_nextn_predict_layers', 0, 0);
  const compressRatios = f.intList('compress_ratios', 0);
  f.check(compressRatios.length === nLayers + nMtpLayers, 'compress_ratios',
    `has ${compressRatios.length} entries; it needs one per layer: num_hidden_layers (${nLayers}) + num_nextn_predict_layers (${nMtpLayers}) = ${nLayers + nMtpLayers}`);
  compressRatios.forEach((m, i) => f.check(m !== 1, `compress_ratios[${i}]`, 'is 1: a ratio is 0 (window only), 4 (CSA) or at least 2 (HCA)'));
  const csa = compressRatios.includes(4);

  const nHeads = f.int('num_attention_heads');
  const headDim = f.int('head_dim');
  const ropeDim = f.int('qk_rope_head_dim', undefined, 2);
  f.check(ropeDim % 2 === 0 && ropeDim <= headDim, 'qk_rope_head_dim', `(${ropeDim}) must be even and at most head_dim (${headDim})`);
  const oGroups = f.int('o_groups');
  f.check(nHeads % oGroups === 0, 'o_groups', `(${oGroups}) must divide num_attention_heads (${nHeads})`);
  const kvFp8Roundtrip = f.bool('kv_fp8_roundtrip', true);
  if (kvFp8Roundtrip) f.check((headDim - ropeDim) % 64 === 0, 'head_dim', `minus qk_rope_head_dim (${headDim} − ${ropeDim}) must be a multiple of 64, the FP8 round trip's block`);

  const indexHeadDim = csa ? f.int('index_head_dim') : 0;
  if (csa) {
    f.check(isPowerOfTwo(indexHeadDim) && indexHeadDim % 32 === 0, 'index_head_dim', `(${indexHeadDim}) must be a power of two and a multiple of 32 (Hadamard transform, FP4 blocks of 32)`);
    f.check(indexHeadDim >= ropeDim, 'index_head_dim', `(${indexHeadDim}) must be at least qk_rope_head_dim (${ropeDim})`);
  }

  const nRoutedExperts = f.int('n_routed_experts');
  const nActivatedExperts = f.int('num_experts_per_tok');
  f.check(nActivatedExperts <= nRoutedExperts, 'num_experts_per_tok', `(${nActivatedExperts}) must not exceed n_routed_experts (${nRoutedExperts})`);
  f.check(f.int('n_shared_experts', 1) === 1, 'n_shared_experts', 'must be 1 (V4 has exactly one shared expert)');

  const rs = f.object('rope_scaling');
  let yarn: YarnFrequencyArgs | null = null;
  if (rs) {
    const type = rs.json.type ?? rs.json.rope_type;
    rs.check(type === 'yarn', 'type', `${JSON.stringify(type)} is not supported (only yarn)`);
    yarn = { factor: rs.num('factor'), originalSeqLen: rs.int('original_max_position_embeddings', 65536), betaFast: rs.num('beta_fast', 32), betaSlow: rs.num('beta_slow', 1) };
  }

  return {
    vocabSize: f.int('vocab_size'),
    dim: f.int('hidden_size'),
    nLayers,
    nMtpLayers,
    nHeads,
    headDim,
    ropeDim,
    qLoraRank: f.int('q_lora_rank'),
    oGroups,
    oLoraRank: f.int('o_lora_rank'),
    window: f.int('sliding_window', 128),
    compressRatios,
    ropeTheta: f.num('rope_theta', 10000),
    compressRopeTheta: f.num('compress_rope_theta', 160000),
    yarn,
    indexHeads: csa ? f.int('index_n_heads') : 0,
    indexHeadDim,
    indexTopk: csa ? f.int('index_topk') : 0,
    nRoutedExperts,
    nActivatedExperts,
    moeInterDim: f.int('moe_intermediate_size'),
    nHashLayers: f.int('num_hash_layers', 3, 0),
    scoreFunc: f.oneOf('scoring_func', ['sqrtsoftplus', 'sigmoid', 'softmax'], 'sqrtsoftplus'),
    routeScale: f.num('routed_scaling_factor'),
    swigluLimit: f.num('swiglu_limit', 10),
    hcMult: f.int('hc_mult', 4),
    hcSinkhornIters: f.int('hc_sinkhorn_iters', 20),
    hcEps: f.num('hc_eps', 1e-6),
    normEps: f.num('rms_norm_eps', 1e-6),
    kvFp8Roundtrip,
    indexerFp4Roundtrip: f.bool('indexer_fp4_roundtrip', true),
  };
}
