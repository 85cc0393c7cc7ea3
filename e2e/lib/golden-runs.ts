// The `webmoe run` requests of golden.spec.ts (V2/V3 goldens, the latent-cache formats, V4's sampled path),
// gguf.spec.ts (the block-format GGUF conversions), paging.spec.ts (paged against resident runs),
// trained.spec.ts (the trained model in q4) and v4-long.spec.ts (V4 over a 3001-token prompt) in one
// `webmoe run --batch` process (sharedRuns): one browser page, whose GPU device compiles the V3 golden's and
// V4's pipelines once for the five files instead of once per file's process (a process costs 10-15 s to
// start and its first load 10-30 s of compiles on SwiftShader).
// Each request still loads its own folder and each test reads its own line; the first test of any of the
// files to ask writes the folders and runs the batch. The batch is the worker's (lib/harness-page.ts
// sharedBatches): a module's own state is not shared between spec files, so everything a test needs besides
// its line is derived here from fixed paths, not kept from the preparation.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCheckpoint, convertGguf, exportGguf, generateCheckpoint, generateModelFolder } from '@webmoe/converter';
import { PRESETS } from '@webmoe/converter/presets';
import { createRng } from 'webmoe/model';
import type { SharedBatches } from './harness-page';
import { GENERATED } from './models';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface Golden {
  prompt: number[];
  tokens: number[];
  logits: number[][];
}
export const goldenOf = (name: string) => JSON.parse(readFileSync(join(root, 'fixtures/golden', name, 'golden.json'), 'utf8')) as Golden;

// ---- golden.spec.ts ----------------------------------------------------------------------------------------

/** V2/V3 in f32 (V4's logits runs are mtp.spec.ts's, which load the MTP module too). */
export const GOLDEN_CASES: { name: string; quant: string }[] = [
  { name: 'v3', quant: 'f32' }, { name: 'v2lite', quant: 'f32' },
];

/** The latent cache in f16 or fp8, one model per format, with golden.spec.ts's bounds. */
export const KV_CASES: { name: string; kv: 'f16' | 'fp8'; bound: number }[] = [
  { name: 'v3', kv: 'f16', bound: 1e-2 }, { name: 'v2lite', kv: 'fp8', bound: 3.5e-1 },
];

const goldenRequest = (name: string, extra: string[]) => {
  const g = goldenOf(name);
  return ['--model', `fixtures/golden/${name}`, ...extra, '--prompt-ids', g.prompt.join(','), '--max-tokens', String(g.tokens.length), '--temperature', '0'];
};

// ---- gguf.spec.ts ------------------------------------------------------------------------------------------

/** A V3 model 256 wide: the K-quants need whole blocks of 256. */
const WIDE = {
  architectures: ['DeepseekV3ForCausalLM'], model_type: 'deepseek_v3', vocab_size: 320, hidden_size: 256, intermediate_size: 512,
  moe_intermediate_size: 256, num_hidden_layers: 2, first_k_dense_replace: 1, moe_layer_freq: 1, num_attention_heads: 2,
  num_key_value_heads: 2, n_routed_experts: 4, n_shared_experts: 1, num_experts_per_tok: 2, n_group: 2, topk_group: 1,
  routed_scaling_factor: 2.5, scoring_func: 'sigmoid', topk_method: 'noaux_tc', norm_topk_prob: true, q_lora_rank: 256,
  kv_lora_rank: 256, qk_nope_head_dim: 32, qk_rope_head_dim: 16, v_head_dim: 128, rope_theta: 10000, rope_scaling: null,
  max_position_embeddings: 4096, rms_norm_eps: 1e-6, tie_word_embeddings: false, hidden_act: 'silu', num_nextn_predict_layers: 0,
  bos_token_id: 0, eos_token_id: 1, torch_dtype: 'bfloat16',
};

// Every block format's dequantization is checked on its own in the kernel grid (matmul-gguf); whole models
// take a model's time each, so `npm test` runs one block format per block layout (Q8_0: 32-value blocks,
// Q4_K: 256-value super-blocks) and WEBMOE_FULL=1 all of them.
export const GGUF_QUANT_CASES = [
  { label: 'golden v3 Q8_0', model: 'v3', type: 'Q8_0', always: true },
  { label: 'golden v2lite Q4_0', model: 'v2lite', type: 'Q4_0', always: false },
  { label: 'wide Q4_K', model: 'wide', type: 'Q4_K', always: true },
  { label: 'wide Q5_K', model: 'wide', type: 'Q5_K', always: false },
  { label: 'wide Q6_K', model: 'wide', type: 'Q6_K', always: false },
] as const;
export type GgufQuantCase = (typeof GGUF_QUANT_CASES)[number];

export const GGUF_QUANT_RUN: readonly GgufQuantCase[] = GGUF_QUANT_CASES.filter((c) => c.always || process.env.WEBMOE_FULL);
/** The GGUF steps: a greedy reply of this many tokens with every logits row. */
export const GGUF_STEPS = 4;

const GGUF_DIR = join(GENERATED, 'gguf-quant');
const WIDE_HF = join(GGUF_DIR, 'wide-hf');
const caseName = (c: GgufQuantCase) => c.label.replace(/\s+/g, '-');

/** A case's GGUF file, its `webmoe convert` folder, and the prompt it is run on. */
export function ggufQuantFiles(c: GgufQuantCase): { gguf: string; folder: string; prompt: number[] } {
  const prompt = c.model === 'wide' ? [0, 17, 42, 99, 3, 250, 8] : goldenOf(c.model).prompt;
  return { gguf: join(GGUF_DIR, `${caseName(c)}.gguf`), folder: join(GGUF_DIR, caseName(c)), prompt };
}

/** `webmoe run`'s arguments for a greedy reply of `steps` tokens with every logits row, as JSON. */
export const logitsRunArgs = (folder: string, prompt: number[], steps: number) => ['--model', folder, '--prompt-ids', prompt.join(','),
  '--max-tokens', String(steps), '--temperature', '0', '--logits', '--json'];

// ---- paging.spec.ts ----------------------------------------------------------------------------------------

export const PAGING_TOKENS = 16;
const PAGING_PROMPT = [1, 17, 42, 99, 5, 300, 7, 8, 9, 10, 11, 12];
const DEMO = join(root, 'demo/public/models/webmoe-tiny');
const GOLDEN_V3 = 'fixtures/golden/v3';
/** The generated 64-expert model's folder (V2-Lite's routing at a small width: the experts are most of it). */
export const WIDE_EXPERTS_DIR = join(GENERATED, 'paging-64-experts');
const WIDE_EXPERTS = {
  ...PRESETS['v2-lite-full'], vocab_size: 512, hidden_size: 128, intermediate_size: 256, moe_intermediate_size: 96,
  num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 4, kv_lora_rank: 64, qk_nope_head_dim: 32,
  qk_rope_head_dim: 16, v_head_dim: 32, bos_token_id: 0, eos_token_id: 1,
};

/** The sum of the folder's shard sizes: the model's size as stored. */
export function modelBytes(dir: string): number {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { shards: { bytes: number }[] };
  return m.shards.reduce((n, s) => n + s.bytes, 0);
}

/** One paging request's arguments: greedy, f32, no speculation, the result as JSON. */
const pagingRequest = (model: string, extra: string[]) => ['--model', model, '--quant', 'f32', '--prompt-ids', PAGING_PROMPT.join(','),
  '--max-tokens', String(PAGING_TOKENS), '--temperature', '0', '--speculative', 'off', '--json', ...extra];

// ---- trained.spec.ts --------------------------------------------------------------------------------------

export const TRAINED_HF = join(root, 'fixtures/trained/hf');
/** The trained model converted to q4. */
export const TRAINED_Q4 = join(GENERATED, 'trained-q4');
/** PyTorch's greedy reply (float64) to the trained model's prompt. */
export const trainedGreedy = () => JSON.parse(readFileSync(join(root, 'fixtures/trained/greedy.json'), 'utf8')) as { prompt: number[]; tokens: number[] };

// ---- v4-long.spec.ts --------------------------------------------------------------------------------------

/** The v4long golden with both rounding simulations off (v4-long.spec.ts says why), as a checkpoint folder. */
export const V4_LONG_DIR = join(GENERATED, 'v4long-exact');
export const V4_LONG_STEPS = 4;
/** The prompt: 3001 seeded tokens. */
export function v4LongPrompt(): number[] {
  const rng = createRng(2026);
  return Array.from({ length: 3001 }, () => rng.int(320));
}

function writeV4Long(): void {
  const golden = join(root, 'fixtures/golden/v4long');
  mkdirSync(V4_LONG_DIR, { recursive: true });
  const config = JSON.parse(readFileSync(join(golden, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(V4_LONG_DIR, 'config.json'), JSON.stringify({ ...config, kv_fp8_roundtrip: false, indexer_fp4_roundtrip: false }));
  copyFileSync(join(golden, 'model.safetensors'), join(V4_LONG_DIR, 'model.safetensors'));
}

// ---- the batch ---------------------------------------------------------------------------------------------

const GGUF_AT = GOLDEN_CASES.length + KV_CASES.length + 1;
const PAGING_AT = GGUF_AT + GGUF_QUANT_RUN.length;
const PAGING_REQUESTS = 5;

/** Each request's line, per file, in the batch's order. */
export const GOLDEN_LINES = {
  golden: (i: number) => i,
  kv: (i: number) => GOLDEN_CASES.length + i,
  v4long: GOLDEN_CASES.length + KV_CASES.length,
  gguf: (i: number) => GGUF_AT + i,
  /** The demo model's refusal, V3 resident and paged, 64 experts resident and paged. */
  paging: (i: number) => PAGING_AT + i,
  trained: PAGING_AT + PAGING_REQUESTS,
  v4Long: PAGING_AT + PAGING_REQUESTS + 1,
};

const prepare = async () => {
  mkdirSync(GGUF_DIR, { recursive: true });
  if (GGUF_QUANT_RUN.some((c) => c.model === 'wide')) await generateCheckpoint(WIDE_HF, { config: WIDE, seed: 5, force: true });
  const gguf: string[][] = [];
  for (const c of GGUF_QUANT_RUN) {
    const { gguf: file, folder, prompt } = ggufQuantFiles(c);
    await exportGguf(c.model === 'wide' ? WIDE_HF : join(root, 'fixtures/golden', c.model), file, { type: c.type, fallback: 'F32' });
    await convertGguf(file, folder, { force: true });
    gguf.push(logitsRunArgs(folder, prompt, GGUF_STEPS));
  }
  await generateModelFolder(WIDE_EXPERTS_DIR, { config: WIDE_EXPERTS, quant: 'f32', seed: 7, force: true });
  await convertCheckpoint(TRAINED_HF, TRAINED_Q4, { quant: 'q4', force: true });
  writeV4Long();
  const trained = trainedGreedy();
  const v4Prompt = v4LongPrompt();
  return [
    ...GOLDEN_CASES.map(({ name, quant }) => [...goldenRequest(name, ['--quant', quant]), '--logits', '--json']),
    ...KV_CASES.map(({ name, kv }) => [...goldenRequest(name, ['--quant', 'f32', '--kv-cache', kv]), '--logits', '--json']),
    [...goldenRequest('v4long', ['--quant', 'f32']), '--json'],
    ...gguf,
    pagingRequest(DEMO, ['--gpu-memory', String(Math.floor(modelBytes(DEMO) / 4))]),
    // 8 routed experts, top-2: 2 slots per layer.
    pagingRequest(GOLDEN_V3, []), pagingRequest(GOLDEN_V3, ['--expert-slots', '2']),
    pagingRequest(WIDE_EXPERTS_DIR, []), pagingRequest(WIDE_EXPERTS_DIR, ['--gpu-memory', String(Math.floor(modelBytes(WIDE_EXPERTS_DIR) / 4))]),
    ['--model', TRAINED_Q4, '--prompt-ids', trained.prompt.join(','), '--max-tokens', String(trained.tokens.length), '--temperature', '0', '--json'],
    ['--model', V4_LONG_DIR, '--quant', 'f32', '--prompt-ids', v4Prompt.join(','), '--max-tokens', String(V4_LONG_STEPS), '--temperature', '0',
      '--context', String(v4Prompt.length + V4_LONG_STEPS + 8), '--logits', '--json'],
  ];
};

/** The worker's batch: request i's result line (a failed request throws its error), run when first asked for. */
export const goldenRuns = (batches: SharedBatches) => batches('golden, gguf, paging, trained and v4-long runs', prepare);
