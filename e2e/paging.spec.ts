// Expert paging (docs/paging.md) through `pnpm webmoe run` in headless Chromium: with a quarter of the routed
// experts on the GPU, or a budget of a quarter of the model's size, greedy tokens must equal the fully resident
// run's; a budget that cannot hold the model even paged is refused before a weight is requested.
import { expect } from '@playwright/test';
import { GOLDEN_LINES, goldenRuns, modelBytes, PAGING_TOKENS as TOKENS, WIDE_EXPERTS_DIR } from './lib/golden-runs';
import { test, type SharedBatches } from './lib/harness-page';

interface Run {
  tokens: number[];
  timings: { decode_tokens_per_s: number };
  stats: { submits_per_token: number | null };
  memory: { weights: number };
  paging: null | { slots_per_layer: number; experts: number; hit_rate: number | null; bytes_uploaded_per_token: number | null; host_hit_rate: number | null; tokens: number };
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

// Every run goes through lib/golden-runs.ts's `webmoe run --batch` process, shared with golden.spec.ts and
// gguf.spec.ts: one browser and one GPU device (the V3 golden's pipelines compiled once for the three files),
// each request loading its own model; a refused request is its own error line. The requests, in order: the
// demo model under a quarter of its size, the V3 golden resident and with 2 of its 8 experts per layer (top-2),
// a generated 64-expert model (V2-Lite's routing at a small width) resident and under a quarter of its size.
const runs = <R>(i: number, batches: SharedBatches) => goldenRuns(batches)<R>(GOLDEN_LINES.paging(i));

test('demo model: a budget of a quarter of its size is refused before any weight, naming the sizes', async ({ sharedBatches }) => {
  test.setTimeout(600_000);
  const err = await runs<Run>(0, sharedBatches).then(() => null, (e: Error) => e.message);
  expect(err).toMatch(/insufficient-limits: A GPU memory budget of [\d.]+ MiB cannot hold this model even with its experts paged/);
  expect(err).toMatch(/weights without the routed experts [\d.]+ MiB, KV cache [\d.]+ MiB/);
});

// The demo model (V3 family like this golden, 8 experts top-2) pages under a budget in engine.spec.ts, in the
// page and without a process of its own.
test('V3 golden model: a quarter of the experts on the GPU gives the resident greedy tokens', async ({ sharedBatches }) => {
  test.setTimeout(600_000);
  const resident = await runs<Run>(1, sharedBatches);
  const paged = await runs<Run>(2, sharedBatches);
  report('V3 golden model', resident, paged);
  expectPaged(resident, paged, 2);
});

test('generated 64-expert model: a budget of a quarter of its size gives the resident greedy tokens', async ({ sharedBatches }) => {
  test.setTimeout(600_000);
  const resident = await runs<Run>(3, sharedBatches);
  const paged = await runs<Run>(4, sharedBatches);
  report(`64 experts, budget ${(Math.floor(modelBytes(WIDE_EXPERTS_DIR) / 4) / 2 ** 20).toFixed(1)} MiB`, resident, paged);
  expectPaged(resident, paged, 2);
});
