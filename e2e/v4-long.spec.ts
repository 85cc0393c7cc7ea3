// A DeepSeek-V4 prompt of thousands of tokens through `webmoe run` against the float64 reference
// (@webmoe/reference): the window ring wraps hundreds of times, the indexer picks its top-8 among ~750
// compressed blocks, HCA attends to ~190 blocks, and the prompt spans several prefill chunks. The model is
// the v4long golden's with both of V4's rounding simulations switched off (kv_fp8_roundtrip, already off in
// its config, and indexer_fp4_roundtrip; test settings, see docs/architecture-v4.md): rounding is
// discontinuous, and over thousands of tokens f32 and float64 always land on different sides of some tie
// (with the indexer's FP4 on, 1500 tokens differ by 3.6e-4; with it off, by 6.4e-7).
import { expect } from '@playwright/test';
import { loadReferenceModel } from '@webmoe/reference';
import { GOLDEN_LINES, goldenRuns, V4_LONG_DIR, V4_LONG_STEPS as STEPS, v4LongPrompt } from './lib/golden-runs';
import { test } from './lib/harness-page';
import { relError } from './lib/models';

// The engine's run is a request of lib/golden-runs.ts's `webmoe run --batch` process (shared with golden,
// gguf, paging and trained), which writes the model folder: no Chromium and Vite start of its own, and V4's
// pipelines compiled once with golden.spec.ts's v4long run. The float64 reference (about 8 s) runs here.
test('V4: a 3001-token prompt matches the float64 reference', async ({ sharedBatches }) => {
  test.setTimeout(600_000);
  const prompt = v4LongPrompt();
  const result = await goldenRuns(sharedBatches)<{ tokens: number[]; logits: number[][] }>(GOLDEN_LINES.v4Long);
  const ref = (await loadReferenceModel(V4_LONG_DIR)).greedy(prompt, STEPS);
  const errors = ref.logits.map((row, i) => relError(result.logits[i], Array.from(row)));
  console.log(`  v4long, ${prompt.length} tokens: max row error ${Math.max(...errors).toExponential(2)} over ${errors.length} rows; tokens ${result.tokens.join(',')}`);
  for (const [i, e] of errors.entries()) expect(e, `logits row ${i}`).toBeLessThan(1e-4);
  expect(result.tokens).toEqual(ref.tokens);
});
