// The demo's trained model (fixtures/trained/hf, trained with tools/train) through `pnpm webmoe run` at
// temperature 0. f32 and q8 are checked against the training framework's own greedy output (PyTorch, float64,
// fixtures/trained/greedy.json) on the plain greedy replies speculative.spec.ts decodes anyway (the same
// conversions, in the test browser), which saves a Chromium and Vite start for each.
//
// q4 here, against the float64 reference model on the q4 folder's own weights (dequantized): that tests the
// engine's q4 path exactly. Whether q4 keeps PyTorch's tokens is a property of the weights, not of the engine:
// greedy.json's third step has a top-1/top-2 margin of 0.055, inside q4's logit error, so the q4 conversion
// follows PyTorch for 3 tokens (the float64 reference on the same folder diverges at the same step); the
// quality of q4 is measured by eval.spec.ts (perplexity and KL against f32 on held-out text).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from '@playwright/test';
import { runReference } from '@webmoe/reference';
import { GOLDEN_LINES, goldenRuns, TRAINED_HF, TRAINED_Q4, trainedGreedy } from './lib/golden-runs';
import { test } from './lib/harness-page';

const golden = trainedGreedy();
const eos = (JSON.parse(readFileSync(join(TRAINED_HF, 'config.json'), 'utf8')) as { eos_token_id: number }).eos_token_id;

// The q4 run is a request of lib/golden-runs.ts's `webmoe run --batch` process (shared with golden, gguf,
// paging and v4-long): no Chromium and Vite start of its own, the same greedy request the lone process made.
test('trained model q4: greedy tokens equal the float64 reference on the same q4 weights', async ({ sharedBatches }) => {
  test.setTimeout(600_000);
  const n = golden.tokens.length;
  const result = await goldenRuns(sharedBatches)<{ tokens: number[]; text?: string }>(GOLDEN_LINES.trained);
  // After the batch, which wrote the q4 folder (golden.spec.ts and gguf.spec.ts run it before this file).
  const { tokens: ref } = await runReference(TRAINED_Q4, golden.prompt, n);
  // The reference decodes past EOS; the engine stops there (EOS included in its tokens).
  const stop = ref.indexOf(eos);
  const expected = stop >= 0 ? ref.slice(0, stop + 1) : ref;
  let pytorch = 0;
  while (pytorch < n && result.tokens[pytorch] === golden.tokens[pytorch]) pytorch++;
  console.log(`  q4: ${result.tokens.length} tokens ${JSON.stringify(result.text)}; the first ${pytorch} equal PyTorch's f32 greedy output`);
  expect(result.tokens).toEqual(expected);
});
