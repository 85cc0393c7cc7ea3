// The normalized description of a DeepSeek-V4 model (Flash, Pro: model_type deepseek_v4), read from its
// config.json. V4's attention, routing and residual streams differ enough from V2/V3's that it is its own
// type, told apart by `family`. Field meanings: docs/architecture-v4.md#config.
import { Fields, parseVocab, parseYarn, type Json } from './config-fields';
import type { RopeConfig } from './rope-config';

/**
 * What a layer's attention sees besides its sliding window, from its compress_ratios entry: 0 = the
 * window only (swa), 4 = ratio-4 blocks chosen by the lightning indexer (csa), any other = every
 * pooled block of that ratio (hca).
 */
export type V4AttentionKind = 'swa' | 'csa' | 'hca';

/** The compress ratio that makes a layer CSA (overlapping blocks, with an indexer). */
export const CSA_RATIO = 4;

export interface V4LayerSpec {
  attention: V4AttentionKind;
  /** compress_ratios entry: 0 for swa, 4 for csa, the block length m for hca. */
  compressRatio: number;
  /** Route by the token-id table `ffn.gate.tid2eid` (layers below num_hash_layers); else by scores + bias. */
  hashRouting: boolean;
  /** swa: rope_theta without YaRN; csa/hca (attention, compressor and indexer alike): compress_rope_theta with YaRN. */
  rope: RopeConfig;
}

export interface V4MoeConfig {
  nRoutedExperts: number;
  /** Each shared expert is one SwiGLU of width intermediateSize (released models: 1). */
  nSharedExperts: number;
  topK: number;
  scoring: 'sqrtsoftplus';
  routedScalingFactor: number;
  /** Width of every routed and shared expert (there are no dense layers). */
  intermediateSize: number;
  numHashLayers: number;
  /** SwiGLU clamp: silu(min(gate, L)) · clamp(up, −L, L). */
  swigluLimit: number;
}

export interface V4Config {
  family: 'v4';
  modelType: 'deepseek_v4';
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numMtpLayers: number;
  /** The main layers (numLayers of them). */
  layers: V4LayerSpec[];
  /** The MTP modules' blocks (`mtp.K.*`), from the last compress_ratios entries. */
  mtpLayers: V4LayerSpec[];
  numHeads: number;
  /** D: the width of every query head and of the one shared key/value vector. */
  headDim: number;
  /** r: RoPE on the last r dims of each head. */
  qkRopeHeadDim: number;
  qLoraRank: number;
  /** G groups of numHeads/G heads, each projected to oLoraRank by its slice of wo_a. */
  oGroups: number;
  oLoraRank: number;
  slidingWindow: number;
  indexer: { nHeads: number; headDim: number; topK: number };
  moe: V4MoeConfig;
  /** mHC: hc_mult residual streams, Sinkhorn iterations and epsilon. */
  hc: { mult: number; sinkhornIters: number; eps: number };
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
  /** The FP8 round trip of the KV cache's non-rope dims (config key kv_fp8_roundtrip, absent = true). */
  kvFp8Roundtrip: boolean;
  /**
   * The FP4 round trip of the indexer's queries and keys (config key indexer_fp4_roundtrip, absent = true). Like
   * kv_fp8_roundtrip, a test switch, not a release field: rounding is discontinuous, so over thousands of tokens
   * an f32 engine and a float64 reference land on different sides of some ties; comparisons over long prompts
   * switch both off.
   */
  indexerFp4Roundtrip: boolean;
  /** expert_dtype: how the release stores routed experts (fp4, or fp8 in the -Base releases); null when absent. */
  expertDtype: 'fp4' | 'fp8' | null;
}

export function isV4ConfigJson(j: Json): boolean {
  return j.model_type === 'deepseek_v4' || (Array.isArray(j.architectures) && j.architectures.includes('DeepseekV4ForCausalLM'));
}

const isPowerOfTwo = (n: number) => n > 0 && (n & (n - 1)) === 0;

/** Normalizes a deepseek_v4 config.json; throws WebmoeError('model-format') naming the field. */
export function parseV4Config(j: Json, source: string): V4Config {
  const f = new Fields(j, source);
  if (j.model_type !== undefined) f.check(j.model_type === 'deepseek_v4', 'model_type', `must be "deepseek_v4" for DeepseekV4ForCausalLM, got ${JSON.stringify(j.model_type)}`);
  const hiddenSize = f.int('hidden_size');
  const numLayers = f.int('num_hidden_layers');
  const numMtpLayers = f.int('num_nextn_predict_layers', 0, 0);
  const numHeads = f.int('num_attention_heads');
  if (f.has('num_key_value_heads')) f.check(f.int('num_key_value_heads') === 1, 'num_key_value_heads', 'must be 1: V4 attends with one shared key/value head');
  const headDim = f.int('head_dim');
  const rope = f.int('qk_rope_head_dim');
  f.check(rope % 2 === 0, 'qk_rope_head_dim', `must be even (rotated in pairs), got ${rope}`);
  f.check(rope < headDim, 'qk_rope_head_dim', `(${rope}) must be less than head_dim (${headDim})`);
  const oGroups = f.int('o_groups');
  f.check(numHeads % oGroups === 0, 'o_groups', `(${oGroups}) must divide num_attention_heads (${numHeads})`);
  const indexHeadDim = f.int('index_head_dim');
  f.check(isPowerOfTwo(indexHeadDim), 'index_head_dim', `must be a power of two (the indexer's Hadamard transform), got ${indexHeadDim}`);
  f.check(rope <= indexHeadDim, 'index_head_dim', `(${indexHeadDim}) must be at least qk_rope_head_dim (${rope})`);

  const nRouted = f.int('n_routed_experts');
  const topK = f.int('num_experts_per_tok');
  f.check(topK <= nRouted, 'num_experts_per_tok', `(${topK}) must not exceed n_routed_experts (${nRouted})`);
  f.oneOf('scoring_func', ['sqrtsoftplus'], 'sqrtsoftplus');
  const numHashLayers = f.int('num_hash_layers', undefined, 0);
  f.check(numHashLayers <= numLayers, 'num_hash_layers', `(${numHashLayers}) exceeds num_hidden_layers (${numLayers})`);
  const swigluLimit = f.num('swiglu_limit', 10);
  f.check(swigluLimit > 0, 'swiglu_limit', `must be positive, got ${swigluLimit}`);

  const ratios = f.ints('compress_ratios');
  f.check(ratios.length === numLayers + numMtpLayers, 'compress_ratios',
    `has ${ratios.length} entries; num_hidden_layers + num_nextn_predict_layers = ${numLayers} + ${numMtpLayers} needs ${numLayers + numMtpLayers} (the MTP layers' last)`);
  ratios.forEach((m, i) => f.check(m !== 1, 'compress_ratios', `entry ${i} is 1: a ratio is 0 (window only), 4 (CSA) or a block length ≥ 2 (HCA)`));

  const windowRope: RopeConfig = { theta: f.num('rope_theta', 10000), dim: rope, yarn: null };
  const compressedRope: RopeConfig = { theta: f.num('compress_rope_theta', 160000), dim: rope, yarn: parseYarn(f) };
  const layer = (m: number, hash: boolean): V4LayerSpec => ({
    attention: m === 0 ? 'swa' : m === CSA_RATIO ? 'csa' : 'hca',
    compressRatio: m,
    hashRouting: hash,
    rope: m === 0 ? windowRope : compressedRope,
  });
  const expertDtype = j.expert_dtype === undefined || j.expert_dtype === null ? null : f.oneOf<'fp4' | 'fp8'>('expert_dtype', ['fp4', 'fp8'], 'fp4');

  return {
    family: 'v4',
    modelType: 'deepseek_v4',
    ...parseVocab(f),
    hiddenSize,
    numLayers,
    numMtpLayers,
    layers: ratios.slice(0, numLayers).map((m, i) => layer(m, i < numHashLayers)),
    mtpLayers: ratios.slice(numLayers).map((m) => layer(m, false)),
    numHeads,
    headDim,
    qkRopeHeadDim: rope,
    qLoraRank: f.int('q_lora_rank'),
    oGroups,
    oLoraRank: f.int('o_lora_rank'),
    slidingWindow: f.int('sliding_window'),
    indexer: { nHeads: f.int('index_n_heads'), headDim: indexHeadDim, topK: f.int('index_topk') },
    moe: {
      nRoutedExperts: nRouted,
      nSharedExperts: f.int('n_shared_experts', 1, 0),
      topK,
      scoring: 'sqrtsoftplus',
      routedScalingFactor: f.num('routed_scaling_factor'),
      intermediateSize: f.int('moe_intermediate_size'),
      numHashLayers,
      swigluLimit,
    },
    hc: { mult: f.int('hc_mult'), sinkhornIters: f.int('hc_sinkhorn_iters', 20), eps: f.num('hc_eps', 1e-6) },
    rmsNormEps: f.num('rms_norm_eps', 1e-6),
    maxPositionEmbeddings: f.int('max_position_embeddings', 1048576),
    kvFp8Roundtrip: f.bool('kv_fp8_roundtrip', true),
    indexerFp4Roundtrip: f.bool('indexer_fp4_roundtrip', true),
    expertDtype,
  };
}
