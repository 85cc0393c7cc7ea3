// The one typed description of a model that every part of webmoe works from, normalized from a
// Hugging Face config.json (model_type deepseek_v2 or deepseek_v3). Field meanings: shared/deepseek.md.
import { WebmoeError } from '../errors';

export type ModelType = 'deepseek_v2' | 'deepseek_v3';
export type ScoringFunc = 'softmax' | 'sigmoid';
export type TopkMethod = 'greedy' | 'group_limited_greedy' | 'noaux_tc';
/** Per-layer kinds, so that another attention family (V4's compressed attention) can be added per layer. */
export type AttentionKind = 'mla';
export type FfnKind = 'dense' | 'moe';

export interface YarnConfig {
  factor: number;
  originalMaxPositions: number;
  betaFast: number;
  betaSlow: number;
  mscale: number;
  mscaleAllDim: number;
}

export interface RopeConfig {
  theta: number;
  /** qk_rope_head_dim: rotated in adjacent pairs (x[2i], x[2i+1]). */
  dim: number;
  yarn: YarnConfig | null;
}

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

export interface ModelConfig {
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

type Json = Record<string, unknown>;

class Fields {
  constructor(private readonly json: Json, private readonly source: string) {}

  private fail(field: string, why: string): never {
    throw new WebmoeError('model-format', `${this.source}: field "${field}" ${why}`, { detail: { file: this.source, field } });
  }

  has(field: string): boolean {
    return this.json[field] !== undefined;
  }

  int(field: string, fallback?: number, min = 1): number {
    const v = this.json[field] ?? fallback;
    if (v === undefined) this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(field, `must be an integer, got ${JSON.stringify(v)}`);
    if (v < min) this.fail(field, `must be at least ${min}, got ${v}`);
    return v;
  }

  intOrNull(field: string): number | null {
    if (!(field in this.json)) this.fail(field, 'is missing (null is allowed)');
    return this.json[field] === null ? null : this.int(field);
  }

  num(field: string, fallback?: number): number {
    const v = this.json[field] ?? fallback;
    if (v === undefined) this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.json[field] ?? fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], fallback: T): T {
    const v = this.json[field] ?? fallback;
    if (!allowed.includes(v as T)) this.fail(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  check(ok: boolean, field: string, why: string): void {
    if (!ok) this.fail(field, why);
  }
}

/**
 * Normalizes a Hugging Face config.json. Structural sizes are required; behavioural fields default to
 * what the model_type's released checkpoints use. Throws WebmoeError('model-format') naming the field.
 */
export function parseHfConfig(json: unknown, source = 'config.json'): ModelConfig {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new WebmoeError('model-format', `${source}: expected a JSON object`, { detail: { file: source } });
  }
  const j = json as Json;
  const f = new Fields(j, source);
  const modelType = j.model_type;
  if (modelType !== 'deepseek_v2' && modelType !== 'deepseek_v3') {
    throw new WebmoeError('model-format',
      `${source}: model_type ${JSON.stringify(modelType)} is not supported (webmoe runs deepseek_v2 and deepseek_v3)`,
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
  let yarn: YarnConfig | null = null;
  const rs = j.rope_scaling;
  if (rs !== undefined && rs !== null) {
    if (typeof rs !== 'object') f.check(false, 'rope_scaling', 'must be an object or null');
    const r = new Fields(rs as Json, `${source} rope_scaling`);
    const type = (rs as Json).type ?? (rs as Json).rope_type;
    if (type !== 'yarn') f.check(false, 'rope_scaling', `type ${JSON.stringify(type)} is not supported (only yarn)`);
    yarn = {
      factor: r.num('factor'),
      originalMaxPositions: r.int('original_max_position_embeddings', 4096),
      betaFast: r.num('beta_fast', 32),
      betaSlow: r.num('beta_slow', 1),
      mscale: r.num('mscale', 1),
      mscaleAllDim: r.num('mscale_all_dim', 0),
    };
  }

  const eos = j.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos.map(Number) : [Number(eos)];
  const vocabSize = f.int('vocab_size');
  for (const id of eosTokenIds) f.check(Number.isInteger(id) && id >= 0 && id < vocabSize, 'eos_token_id', `(${id}) is outside the vocabulary`);
  if (f.has('tie_word_embeddings')) f.check(f.bool('tie_word_embeddings', false) === false, 'tie_word_embeddings', 'must be false: DeepSeek models keep a separate lm_head');

  return {
    modelType,
    vocabSize,
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
    bosTokenId: j.bos_token_id === undefined || j.bos_token_id === null ? null : f.int('bos_token_id', undefined, 0),
    eosTokenIds,
  };
}
