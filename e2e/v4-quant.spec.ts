// DeepSeek-V4 in the quantized formats converted from its release files (FP8 linears, FP4 experts): the GPU
// against the float64 reference reading the same converted folder (it dequantizes with its own decoders), so
// both compute with the same weights and must agree to f32 rounding; then how far each format moves the
// logits from the release's exact weights (printed: a property of the format, not of the engine).
import { expect } from '@playwright/test';
import { loadReferenceModel } from '@webmoe/reference';
import { relError } from './lib/models';
import { test } from './lib/harness-page';
import { QUANTS, QUANT_STEPS, V4_LINES, quantFolder, v4Golden, v4Runs } from './lib/v4-runs';

const golden = v4Golden('v4fp8');

// The three runs go through lib/v4-runs.ts's `webmoe run --batch` process, shared with mtp.spec.ts: one browser
// page compiles V4's pipelines once for both files. Each request still loads its own folder; each test checks
// its own result (the first test to ask converts the folders and runs the batch).
for (const [index, quant] of QUANTS.entries()) {
  test(`V4 release checkpoint converted to ${quant}: GPU equals the reference on the same weights`, async ({ sharedBatches }) => {
    test.setTimeout(600_000);
    const result = await v4Runs(sharedBatches)<{ tokens: number[]; logits: number[][] }>(V4_LINES.quant(index));
    const ref = (await loadReferenceModel(quantFolder(quant))).greedy(golden.prompt, QUANT_STEPS);
    const errors = ref.logits.map((row, i) => relError(result.logits[i], Array.from(row)));
    console.log(`  v4fp8 → ${quant}: GPU vs reference on the same weights ${Math.max(...errors).toExponential(2)}; `
      + `first row against the release's exact logits ${relError(result.logits[0], golden.logits[0]).toExponential(2)}`);
    for (const [i, e] of errors.entries()) expect(e, `logits row ${i}`).toBeLessThan(1e-4);
    expect(result.tokens).toEqual(ref.tokens);
  });
}
