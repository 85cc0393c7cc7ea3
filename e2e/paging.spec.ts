// Expert paging (docs/paging.md) through `pnpm webmoe run` in headless Chromium: with a quarter of the routed
// experts on the GPU, or a budget of a quarter of the model's size, greedy tokens must equal the fully resident
// run's; a budget that cannot hold the model even paged is refused before a weight is requested.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { generateModelFolder } from '@webmoe/converter';
import { PRESETS } from '@webmoe/converter/presets';
import { sharedRuns } from './lib/webmoe-run';

const root = fileURLToPath(new URL('..', import.meta.url));
const PROMPT = [1, 17, 42, 99, 5, 300, 7, 8, 9, 10, 11, 12];
const TOKENS = 16;

interface Run {
  tokens: number[];
  timings: { decode_tokens_per_s: number };
  stats: { submits_per_token: number | null };
  memory: { weights: number };
  paging: null | { slots_per_layer: number; experts: number; hit_rate: number | null; bytes_uploaded_per_token: number | null; host_hit_rate: number | null; tokens: number };
}

/** One `webmoe run` request's arguments: greedy, f32, no speculation, the result as JSON. */
const request = (model: string, extra: string[]) => ['--model', model, '--quant', 'f32', '--prompt-ids', PROMPT.join(','),
  '--max-tokens', String(TOKENS), '--temperature', '0', '--speculative', 'off', '--json', ...extra];

/** The sum of the folder's shard sizes: the model's size as stored. */
function modelBytes(dir: string): number {
  const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { shards: { bytes: number }[] };
  return m.shards.reduce((n, s) => n + s.bytes, 0);
}

function report(name: string, resident: Run, paged: Run): void {
  const p = paged.paging!;
  console.log(`  ${name}: ${p.slots_per_layer}/${p.experts} slots per layer; hit rate ${((p.hit_rate ?? 0) * 100).toFixed(1)} %, `
    + `${((p.bytes_uploaded_per_token ?? 0) / 1024).toFixed(1)} KiB uploaded per token, host hits ${((p.host_hit_rate ?? 0) * 100).toFixed(1)} %; `
    + `decode ${paged.timings.decode_tokens_per_s.toFixed(1)} tok/s paged vs ${resident.timings.decode_tokens_per_s.toFixed(1)} resident; `
    + `${paged.stats.submits_per_token} submissions per token`);
}

function expectPaged(resident: Run, paged: Run, moeLayers: number): void {
  expect(resident.paging).toBeNull();
  expect(paged.paging).not.toBeNull();
  expect(paged.tokens).toEqual(resident.tokens);
  const p = paged.paging!;
  expect(p.slots_per_layer).toBeLessThan(p.experts);
  expect(p.tokens).toBe(TOKENS - 1);
  expect(p.hit_rate).toBeGreaterThanOrEqual(0);
  expect(p.hit_rate).toBeLessThan(1);
  expect(p.bytes_uploaded_per_token).toBeGreaterThan(0);
  // One submission up to each MoE layer's router, and the rest.
  expect(paged.stats.submits_per_token).toBe(moeLayers + 1);
  expect(paged.memory.weights).toBeLessThan(resident.memory.weights);
}

test.describe.configure({ mode: 'serial' });

const DEMO = join(root, 'demo/public/models/webmoe-tiny');
const GOLDEN_V3 = 'fixtures/golden/v3';
// V2-Lite's routing (64 experts, 6 per token, 2 shared) at a small width: the experts are most of the model.
const WIDE_EXPERTS = {
  ...PRESETS['v2-lite-full'], vocab_size: 512, hidden_size: 128, intermediate_size: 256, moe_intermediate_size: 96,
  num_hidden_layers: 3, num_attention_heads: 4, num_key_value_heads: 4, kv_lora_rank: 64, qk_nope_head_dim: 32,
  qk_rope_head_dim: 16, v_head_dim: 32, bos_token_id: 0, eos_token_id: 1,
};
let generated: { dir: string; budget: number } | null = null;

// Every run goes through one `webmoe run --batch` process (lib/webmoe-run.ts): one browser and one GPU device
// for all five, each request loading its own model; a refused request is its own error line.
const runs = sharedRuns(async () => {
  generated = { dir: mkdtempSync(join(tmpdir(), 'webmoe-paging-')), budget: 0 };
  const { dir } = generated;
  await generateModelFolder(dir, { config: WIDE_EXPERTS, quant: 'f32', seed: 7, force: true });
  generated.budget = Math.floor(modelBytes(dir) / 4);
  return [
    request(DEMO, ['--gpu-memory', String(Math.floor(modelBytes(DEMO) / 4))]),
    // 8 routed experts, top-2: 2 slots per layer.
    request(GOLDEN_V3, []), request(GOLDEN_V3, ['--expert-slots', '2']),
    request(dir, []), request(dir, ['--gpu-memory', String(generated.budget)]),
  ];
});

test.afterAll(() => {
  if (generated) rmSync(generated.dir, { recursive: true, force: true });
});

test('demo model: a budget of a quarter of its size is refused before any weight, naming the sizes', async () => {
  test.setTimeout(600_000);
  const err = await runs<Run>(0).then(() => null, (e: Error) => e.message);
  expect(err).toMatch(/insufficient-limits: A GPU memory budget of [\d.]+ MiB cannot hold this model even with its experts paged/);
  expect(err).toMatch(/weights without the routed experts [\d.]+ MiB, KV cache [\d.]+ MiB/);
});

// The demo model (V3 family like this golden, 8 experts top-2) pages under a budget in engine.spec.ts, in the
// page and without a process of its own.
test('V3 golden model: a quarter of the experts on the GPU gives the resident greedy tokens', async () => {
  test.setTimeout(600_000);
  const resident = await runs<Run>(1);
  const paged = await runs<Run>(2);
  report('V3 golden model', resident, paged);
  expectPaged(resident, paged, 2);
});

test('generated 64-expert model: a budget of a quarter of its size gives the resident greedy tokens', async () => {
  test.setTimeout(600_000);
  const resident = await runs<Run>(3);
  const paged = await runs<Run>(4);
  report(`64 experts, budget ${(generated!.budget / 2 ** 20).toFixed(1)} MiB`, resident, paged);
  expectPaged(resident, paged, 2);
});
