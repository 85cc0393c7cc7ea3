// DeepSeek's own inference code (fixtures/golden, float64) against `pnpm webmoe run`, the command users and
// outside checks run: every logits row within 1e-4 relative, the greedy tokens identical. V2/V3 in f32; V4 in
// f32 and, for the release-format golden (FP8 linears, FP4 experts), in the fp8 format that keeps those bytes
// as they are (no requantization); V4's logits runs are mtp.spec.ts's, which load the MTP module too.
import { expect } from '@playwright/test';
import { GOLDEN_CASES as CASES, GOLDEN_LINES, goldenOf, goldenRuns, KV_CASES } from './lib/golden-runs';
import { test } from './lib/harness-page';
import { relError } from './lib/models';

// V4's goldens (v4long f32, v4fp8 f32 and fp8) run through `webmoe run --logits --mtp` in mtp.spec.ts, which
// checks these rows and tokens as well as the module's: one process each instead of two. The V2/V3 cases
// are lib/golden-runs.ts's GOLDEN_CASES.

for (const [index, { name, quant }] of CASES.entries()) {
  test(`golden ${name} (${quant}) through webmoe run`, async ({ sharedBatches }) => {
    test.setTimeout(600_000);
    const golden = goldenOf(name);
    const result = await goldenRuns(sharedBatches)<{ tokens: number[]; logits: number[][] }>(GOLDEN_LINES.golden(index));
    const errors = golden.logits.map((row, i) => relError(result.logits[i], row));
    console.log(`  ${name} ${quant}: max row error ${Math.max(...errors).toExponential(2)} over ${errors.length} rows; tokens ${result.tokens.join(',')}`);
    expect(result.logits.length).toBe(golden.logits.length);
    for (const [i, e] of errors.entries()) expect(e, `logits row ${i}`).toBeLessThan(1e-4);
    expect(result.tokens).toEqual(golden.tokens);
  });
}

// V2/V3 with the latent cache in f16 or fp8 (--kv-cache). f16: the greedy tokens are the golden's and the
// logits within 1e-2 relative (measured: 4.6e-4 V3, 3.0e-4 V2-Lite). fp8 (3 mantissa bits per cached
// value) flips near-ties of these small random models (measured: V3's 3rd token, error 5.4e-2 over the
// rows before; V2-Lite's 5th, 2.2e-1): its logits rows are compared up to the first token that differs,
// within bounds set at about 1.5-2× those measurements (a regression guard, not a precision claim).
// One model per format: V2 and V3 share the latent cache and its kernels (whose f16/fp8 grids run in
// kernels.spec.ts); the dropped pairs (V2-Lite f16 1e-2, V3 fp8 1e-1) repeated the same code paths. The
// cases and bounds are lib/golden-runs.ts's KV_CASES.
for (const [index, { name, kv, bound }] of KV_CASES.entries()) {
  test(`golden ${name} (f32) with the ${kv} latent cache through webmoe run`, async ({ sharedBatches }) => {
    // Its own pipelines (the packed store, every attention entry point for the format) compile at load.
    test.setTimeout(600_000);
    const golden = goldenOf(name);
    const result = await goldenRuns(sharedBatches)<{ tokens: number[]; logits: number[][] }>(GOLDEN_LINES.kv(index));
    // Row i is the same computation as the golden's while tokens 0 … i-1 agree.
    const differ = golden.tokens.findIndex((t, i) => result.tokens[i] !== t);
    const rows = differ < 0 ? golden.logits.length : differ + 1;
    const errors = golden.logits.slice(0, rows).map((row, i) => relError(result.logits[i], row));
    console.log(`  ${name} kv ${kv}: max row error ${Math.max(...errors).toExponential(2)} (bound ${bound}) over ${errors.length} rows; tokens ${result.tokens.join(',')}${differ < 0 ? '' : ` (first differs at ${differ})`}`);
    for (const [i, e] of errors.entries()) expect(e, `logits row ${i}`).toBeLessThan(bound);
    if (kv === 'f16') expect(result.tokens).toEqual(golden.tokens);
  });
}

// Every run above and below goes through lib/golden-runs.ts's `webmoe run --batch` process, shared with
// gguf.spec.ts and paging.spec.ts: one browser page, so that the V3 golden's pipelines compile once on its GPU
// device for the three files instead of once per file's process (the kv formats' own compile on their first
// load). Each request still loads its own model; each test checks its own result line.

// The sampled path (no logits read back): V4's decode step must stay one submission with a 4-byte readback,
// counted as it runs, and the GPU sampler's greedy tokens must be the golden's.
test('golden v4long: decode is one submission and a 4-byte readback per token', async ({ sharedBatches }) => {
  test.setTimeout(600_000);
  const golden = goldenOf('v4long');
  const result = await goldenRuns(sharedBatches)<{
    tokens: number[]; stats: { dispatches_per_token: number; submits_per_token: number; readback_bytes_per_token: number };
  }>(GOLDEN_LINES.v4long);
  console.log(`  v4long decode step: ${result.stats.dispatches_per_token} dispatches, ${result.stats.submits_per_token} submission(s), ${result.stats.readback_bytes_per_token} bytes read back`);
  expect(result.tokens).toEqual(golden.tokens);
  expect(result.stats.submits_per_token).toBe(1);
  expect(result.stats.readback_bytes_per_token).toBe(4);
});
