// The one typed description of a model that every part of webmoe works from, normalized from a
// Hugging Face config.json: model_type deepseek_v2 or deepseek_v3 (family 'v3', this file; field meanings:
// docs/architecture-v3.md#config) or deepseek_v4 (family 'v4', config-v4.ts).
import { WebmoeError } from '../errors';
import { Fields, configObject, parseVocab, parseYarn } from './config-fields';
import type { RopeConfig, YarnConfig } from './rope-config';
export type { RopeConfig, YarnConfig } from './rope-config';
import { isV4ConfigJson, parseV4Config, type V4Config } from './config-v4';

export type ModelType = 'deepseek_v2' | 'deepseek_v3';
/** V2 softmax, V3 sigmoid; sqrtsoftplus is V4's (config-v4.ts), which V2/V3 configs do not accept. */
export type ScoringFunc = 'softmax' | 'sigmoid' | 'sqrtsoftplus';
export type TopkMethod = 'greedy' | 'group_limited_greedy' | 'noaux_tc';
/** Per-layer kinds, so that another attention family (V4's compressed attention) can be added per layer. */
export type AttentionKind = 'mla';
export type FfnKind = 'dense' | 'moe';

export interface MoeConfig {
  nRoutedExperts: number;
  nSharedExperts: number;
  topK: number;
  nGroup: number;
  topkGroup: number;
  scoring: ScoringFunc;
  topkMethod: TopkMethod;
  normTopkProb: boolean;
  routedScalingFactor: number;
  /** Width of each routed expert; shared experts are one SwiGLU of width moeIntermediateSize × nSharedExperts. */
  intermediateSize: number;
  /** V3's e_score_correction_bias (selection only); present exactly when topkMethod is noaux_tc. */
  hasCorrectionBias: boolean;
}

export interface LayerSpec {
  attention: AttentionKind;
  ffn: FfnKind;
}

/** V2, V2-Lite, V3 (and V3-shaped models such as Moonlight): MLA attention, dense and MoE layers. */
export interface ModelConfig {
  family: 'v3';
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  /** Main decoder layers; MTP layers are stored after them (indices numLayers … numLayers+numMtpLayers-1). */
  numLayers: number;
  numMtpLayers: number;
  layers: LayerSpec[];
  numHeads: number;
  qLoraRank: number | null;
  kvLoraRank: number;
  qkNopeHeadDim: number;
  qkRopeHeadDim: number;
  vHeadDim: number;
  /** Dense MLP width (layers below first_k_dense_replace). */
  intermediateSize: number;
  moe: MoeConfig | null;
  rope: RopeConfig;
  rmsNormEps: number;
  maxPositionEmbeddings: number;
  bosTokenId: number | null;
  eosTokenIds: number[];
}

/** Any model webmoe reads, told apart by `family`. */
export type AnyModelConfig = ModelConfig | V4Config;

/**
 * Normalizes a Hugging Face config.json. Structural sizes are required; behavioural fields default to
 * what the model_type's released checkpoints use. Throws WebmoeError('model-format') naming the field.
 */
export function parseHfConfig(json: unknown, source = 'config.json'): AnyModelConfig {
  const j = configObject(json, source);
  if (isV4ConfigJson(j)) return parseV4Config(j, source);
  const f = new Fields(j, source);
  const modelType = j.model_type;
  if (modelType !== 'deepseek_v2' && modelType !== 'deepseek_v3') {
    throw new WebmoeError('model-format',
      `${source}: model_type ${JSON.stringify(modelType)} is not supported (webmoe reads deepseek_v2, deepseek_v3 and deepseek_v4)`,
      { detail: { file: source, field: 'model_type' } });
  }
  const v3 = modelType === 'deepseek_v3';

  const hiddenSize = f.int('hidden_size');
  const numLayers = f.int('num_hidden_layers');
  const numHeads = f.int('num_attention_heads');
  if (f.has('num_key_value_heads')) f.check(f.int('num_key_value_heads') === numHeads, 'num_key_value_heads', `must equal num_attention_heads (${numHeads}) for MLA`);
  const firstDense = f.int('first_k_dense_replace', v3 ? 3 : 1, 0);
  const moeFreq = f.int('moe_layer_freq', 1);
  const nRouted = j.n_routed_experts === null ? 0 : f.int('n_routed_experts', 0, 0);

  let moe: MoeConfig | null = null;
  if (nRouted > 0) {
    const scoring = f.oneOf<ScoringFunc>('scoring_func', ['softmax', 'sigmoid'], v3 ? 'sigmoid' : 'softmax');
    const topkMethod = f.oneOf<TopkMethod>('topk_method', ['greedy', 'group_limited_greedy', 'noaux_tc'], v3 ? 'noaux_tc' : 'greedy');
    const nGroup = j.n_group === null ? 1 : f.int('n_group', 1);
    const topkGroup = j.topk_group === null ? 1 : f.int('topk_group', 1);
    const topK = f.int('num_experts_per_tok');
    f.check(nRouted % nGroup === 0, 'n_group', `(${nGroup}) must divide n_routed_experts (${nRouted})`);
    f.check(topkGroup <= nGroup, 'topk_group', `(${topkGroup}) must not exceed n_group (${nGroup})`);
    f.check(topK <= nRouted, 'num_experts_per_tok', `(${topK}) must not exceed n_routed_experts (${nRouted})`);
    f.check(topK <= (nRouted / nGroup) * topkGroup, 'num_experts_per_tok', `(${topK}) exceeds the experts in the ${topkGroup} kept groups`);
    if (topkMethod === 'noaux_tc') f.check(nRouted / nGroup >= 2, 'n_group', 'noaux_tc scores groups by their two best experts, so each group needs at least 2');
    moe = {
      nRoutedExperts: nRouted,
      nSharedExperts: j.n_shared_experts === null ? 0 : f.int('n_shared_experts', 0, 0),
      topK,
      nGroup,
      topkGroup,
      scoring,
      topkMethod,
      normTopkProb: f.bool('norm_topk_prob', v3),
      routedScalingFactor: f.num('routed_scaling_factor', v3 ? 2.5 : 1),
      intermediateSize: f.int('moe_intermediate_size'),
      hasCorrectionBias: topkMethod === 'noaux_tc',
    };
  }
  f.check(firstDense <= numLayers, 'first_k_dense_replace', `(${firstDense}) exceeds num_hidden_layers (${numLayers})`);
  const layers: LayerSpec[] = [];
  for (let i = 0; i < numLayers; i++) {
    layers.push({ attention: 'mla', ffn: moe && i >= firstDense && i % moeFreq === 0 ? 'moe' : 'dense' });
  }
  const needsDense = layers.some((l) => l.ffn === 'dense');

  const qkRope = f.int('qk_rope_head_dim');
  f.check(qkRope % 2 === 0, 'qk_rope_head_dim', `must be even (rotated in pairs), got ${qkRope}`);
  const yarn = parseYarn(f);
  const vocab = parseVocab(f);

  return {
    family: 'v3',
    modelType,
    vocabSize: vocab.vocabSize,
    hiddenSize,
    numLayers,
    numMtpLayers: f.int('num_nextn_predict_layers', 0, 0),
    layers,
    numHeads,
    qLoraRank: f.intOrNull('q_lora_rank'),
    kvLoraRank: f.int('kv_lora_rank'),
    qkNopeHeadDim: f.int('qk_nope_head_dim'),
    qkRopeHeadDim: qkRope,
    vHeadDim: f.int('v_head_dim'),
    intermediateSize: needsDense ? f.int('intermediate_size') : f.int('intermediate_size', 0, 0),
    moe,
    rope: { theta: f.num('rope_theta', 10000), dim: qkRope, yarn },
    rmsNormEps: f.num('rms_norm_eps', 1e-6),
    maxPositionEmbeddings: f.int('max_position_embeddings', 4096),
    bosTokenId: vocab.bosTokenId,
    eosTokenIds: vocab.eosTokenIds,
  };
}

/**
 * The V2/V3 description of a model, for code that runs only those families: a V4 model is refused with a
 * WebmoeError('model-format') that says `what` does not run it yet.
 */
export function requireV3(c: AnyModelConfig, what: string): ModelConfig {
  if (c.family === 'v3') return c;
  throw new WebmoeError('model-format', `${what} does not run DeepSeek-V4 models (model_type ${c.modelType}) yet`, { detail: { field: 'model_type' } });
}
