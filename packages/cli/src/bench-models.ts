// The benchmark's workloads: generated checkpoints with DeepSeek-V3's proportions at a chosen width, and
// what a decode step of such a model must read. Pure TypeScript (no Node, no WebGPU): the CLI uses it to
// generate the checkpoints, the bench page to compute the byte counts the probes are sized by.
import { common, yarn } from '@webmoe/converter/presets';
import { parseHfConfig, requireV3, type ModelConfig, expectedTensors, type Manifest } from 'webmoe/model';

/** DeepSeek-V3's sizes; every width of a bench model is d times V3's ratio to its hidden size. */
const V3 = { d: 7168, vocab: 129280, qLora: 1536, kvLora: 512, inter: 18432, moeInter: 2048, heads: 128 } as const;
/**
 * Per-head sizes are V3's (128/64/128) divided by 4, with V3's head count per hidden width × 4, so that
 * H·(nope+rope) and H·v keep V3's ratios to d (3.43 and 2.29) at widths where 128-wide heads would be few.
 */
const HEAD = { nope: 32, rope: 16, v: 32 } as const;

export interface BenchShape {
  /** Hidden size d. */
  hidden: number;
  /** Decoder layers; the first is dense (V3: 3 of 61), the rest MoE. */
  layers: number;
  experts: number;
  topK: number;
  nGroup: number;
  topkGroup: number;
}

export interface BenchModel {
  /** Stable name, also the cache folder's: e.g. "v3-100m". */
  name: string;
  /** What the table shows: "100M". */
  label: string;
  shape: BenchShape;
  /** With one MTP module (num_nextn_predict_layers 1), converted with it: the speculation section's models. */
  mtp?: boolean;
}

const round = (v: number, m: number) => Math.max(m, Math.round(v / m) * m);

/** A V3-proportioned config.json (sigmoid noaux_tc routing, one shared expert, q LoRA, YaRN). */
export function v3Config(s: BenchShape, mtp = false): Record<string, unknown> {
  const d = s.hidden;
  const r = d / V3.d;
  return {
    architectures: ['DeepseekV3ForCausalLM'],
    model_type: 'deepseek_v3',
    vocab_size: round(V3.vocab * r, 64),
    hidden_size: d,
    intermediate_size: round(V3.inter * r, 16),
    moe_intermediate_size: round(V3.moeInter * r, 16),
    num_hidden_layers: s.layers,
    first_k_dense_replace: 1,
    moe_layer_freq: 1,
    num_attention_heads: Math.max(2, Math.round((V3.heads * 4 * r))),
    num_key_value_heads: Math.max(2, Math.round((V3.heads * 4 * r))),
    n_routed_experts: s.experts,
    n_shared_experts: 1,
    num_experts_per_tok: s.topK,
    n_group: s.nGroup,
    topk_group: s.topkGroup,
    routed_scaling_factor: 2.5,
    scoring_func: 'sigmoid',
    topk_method: 'noaux_tc',
    norm_topk_prob: true,
    q_lora_rank: round(V3.qLora * r, 16),
    kv_lora_rank: round(V3.kvLora * r, 16),
    qk_nope_head_dim: HEAD.nope,
    qk_rope_head_dim: HEAD.rope,
    v_head_dim: HEAD.v,
    rope_scaling: yarn(1),
    num_nextn_predict_layers: mtp ? 1 : 0,
    ...common,
  };
}

const V3_ROUTING = { experts: 256, topK: 8, nGroup: 8, topkGroup: 4 } as const;

/** The three sizes of the issue: about 10M, 100M and 500M parameters (V3's 256 experts, top 8). */
export const BENCH_MODELS: readonly BenchModel[] = [
  { name: 'v3-10m', label: '10M', shape: { hidden: 128, layers: 4, ...V3_ROUTING } },
  { name: 'v3-100m', label: '100M', shape: { hidden: 288, layers: 6, ...V3_ROUTING } },
  { name: 'v3-500m', label: '500M', shape: { hidden: 576, layers: 8, ...V3_ROUTING } },
];

export const SCALING_EXPERTS = [8, 32, 128] as const;

/** The 10M and 100M models with an MTP module: random weights, so their drafts measure the cost of speculation. */
export function speculationModel(m: BenchModel): BenchModel {
  return { ...m, name: `${m.name}-mtp`, label: `${m.label} +MTP`, mtp: true };
}

export interface BenchSettings {
  /** Prompt lengths prefill is timed over. */
  prompts: number[];
  /** The prompt decoding starts after. */
  decodePrompt: number;
  decodeTokens: number;
  /** Timed runs after a warm-up. */
  repeats: number;
  scalingQuant: 'q4' | 'f32';
  /** MoE scaling: the prompt each run decodes after, the tokens it decodes, and the timed rounds of one run per model. */
  scalingPrompt: number;
  scalingTokens: number;
  scalingRounds: number;
  /** Speculation: greedy tokens per timed run, timed rounds, and held-out windows (count × tokens) for the demo model. */
  speculationTokens: number;
  speculationRounds: number;
  heldOutWindows: number;
  heldOutWindowTokens: number;
  /** Held-out decoding (tools/train/check_mtp.py's chained measure): prompts of BOS + tokens − 1, greedy tokens after each. */
  heldOutPrompts: number;
  heldOutPromptTokens: number;
  heldOutDecodeTokens: number;
}

export const BENCH_SETTINGS: Readonly<Record<'full' | 'quick', BenchSettings>> = {
  full: {
    prompts: [16, 128, 1024], decodePrompt: 16, decodeTokens: 64, repeats: 3,
    scalingQuant: 'q4', scalingPrompt: 16, scalingTokens: 64, scalingRounds: 5,
    speculationTokens: 64, speculationRounds: 3, heldOutWindows: 16, heldOutWindowTokens: 128,
    heldOutPrompts: 24, heldOutPromptTokens: 48, heldOutDecodeTokens: 64,
  },
  // Sized to finish in under a minute on a 2-core machine running SwiftShader, the models already cached.
  // The scaling models (100M widths) decode at 70–120 ms/token there, and every run starts with a prefill
  // and each model with a 4-token warm-up run, hence a short prompt and few tokens: 12 timed steps a model.
  quick: {
    prompts: [16, 64], decodePrompt: 16, decodeTokens: 16, repeats: 1,
    scalingQuant: 'q4', scalingPrompt: 2, scalingTokens: 6, scalingRounds: 2,
    speculationTokens: 16, speculationRounds: 1, heldOutWindows: 2, heldOutWindowTokens: 64,
    heldOutPrompts: 2, heldOutPromptTokens: 48, heldOutDecodeTokens: 16,
  },
};

/**
 * MoE scaling: the 100M model's layers and widths with 8, 32 and 128 routed experts, top 8 and no group
 * limit (V3's 8 groups would leave fewer than 8 eligible experts at E = 8): the same active parameters.
 * The router's E × d weights grow with E: at E = 128 they are 7% of a q4 step here (13% at the 10M model's
 * d = 128), against about 1% in V3, whose experts are far wider than its router rows are long.
 */
export function scalingModel(experts: number): BenchModel {
  return { name: `v3-100m-e${experts}`, label: `100M E=${experts}`, shape: { ...BENCH_MODELS[1].shape, experts, topK: 8, nGroup: 1, topkGroup: 1 } };
}

export interface ParamCounts {
  total: number;
  /** Parameters one token's forward pass uses: K of the routed experts, one embedding row. */
  active: number;
}

export function paramCounts(config: ModelConfig): ParamCounts {
  let total = 0;
  let active = 0;
  const K = config.moe?.topK ?? 0;
  const E = config.moe?.nRoutedExperts ?? 1;
  for (const t of expectedTensors(config, false)) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    total += n;
    if (t.kind === 'embedding') active += t.shape[1];
    else if (t.expert !== null) active += (n * K) / E;
    else active += n;
  }
  return { total, active };
}

export function benchConfig(m: BenchModel): ModelConfig {
  return requireV3(parseHfConfig(v3Config(m.shape), `${m.name} config`), 'The benchmark');
}

export interface StepBytes {
  /** Non-expert weights a decode step reads: all of them except the embedding table (one row). */
  weights: number;
  /** K routed experts per MoE layer. */
  experts: number;
  /** Latent KV rows read by attention at `position` (positions 0 … position), every layer. */
  kv: number;
  total: number;
}

/**
 * Bytes a decode step at `position` must read, from the converted model's own tensor sizes: every
 * non-expert tensor (the embedding: one row), K experts' gate/up/down per MoE layer, and the layer's
 * cached latent rows 0 … position (f32). Activations are left out: they are small and stay in caches.
 */
export function decodeStepBytes(manifest: Manifest, position: number): StepBytes {
  const c = requireV3(manifest.model.config, 'decodeStepBytes');
  let weights = 0;
  for (const t of manifest.tensors) {
    if (t.mtp || t.expert !== null) continue;
    weights += t.kind === 'embedding' ? Math.ceil(t.bytes / t.shape[0]) : t.bytes;
  }
  const expertBytes = new Map<number, number>();
  for (const e of manifest.experts) if (!e.mtp) expertBytes.set(e.layer, e.bytes);
  let experts = 0;
  for (const b of expertBytes.values()) experts += b * (c.moe?.topK ?? 0);
  const kv = (position + 1) * (c.kvLoraRank + c.qkRopeHeadDim) * 4 * c.numLayers;
  return { weights, experts, kv, total: weights + experts + kv };
}
