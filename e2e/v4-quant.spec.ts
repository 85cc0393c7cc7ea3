// DeepSeek-V4 in the quantized formats converted from its release files (FP8 linears, FP4 experts): the GPU
// against the float64 reference reading the same converted folder (it dequantizes with its own decoders), so
// both compute with the same weights and must agree to f32 rounding; then how far each format moves the
// logits from the release's exact weights (printed: a property of the format, not of the engine).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { convertCheckpoint } from '@webmoe/converter';
import { loadReferenceModel } from '@webmoe/reference';
import { GENERATED, relError } from './lib/models';
import { sharedRuns } from './lib/webmoe-run';

const root = fileURLToPath(new URL('..', import.meta.url));
const STEPS = 6;
const QUANTS = ['q8', 'q4', 'bf16'] as const;
const golden = JSON.parse(readFileSync(join(root, 'fixtures/golden/v4fp8/golden.json'), 'utf8')) as { prompt: number[]; logits: number[][] };
const folder = (quant: string) => join(GENERATED, `golden-v4fp8-${quant}`);

// The three runs share one `webmoe run --batch` process, one browser page: the pipelines compile once on its
// GPU device instead of once per process. Each request still loads its own folder; each test checks its own
// result (the first test to ask converts the three folders and runs the batch).
const runs = sharedRuns(async () => {
  for (const quant of QUANTS) await convertCheckpoint(join(root, 'fixtures/golden/v4fp8'), folder(quant), { quant, force: true });
  return QUANTS.map((quant) => ['--model', folder(quant), '--prompt-ids', golden.prompt.join(','),
    '--max-tokens', String(STEPS), '--temperature', '0', '--logits', '--json']);
});

for (const [index, quant] of QUANTS.entries()) {
  test(`V4 release checkpoint converted to ${quant}: GPU equals the reference on the same weights`, async () => {
    test.setTimeout(600_000);
    const result = await runs<{ tokens: number[]; logits: number[][] }>(index);
    const ref = (await loadReferenceModel(folder(quant))).greedy(golden.prompt, STEPS);
    const errors = ref.logits.map((row, i) => relError(result.logits[i], Array.from(row)));
    console.log(`  v4fp8 → ${quant}: GPU vs reference on the same weights ${Math.max(...errors).toExponential(2)}; `
      + `first row against the release's exact logits ${relError(result.logits[0], golden.logits[0]).toExponential(2)}`);
    for (const [i, e] of errors.entries()) expect(e, `logits row ${i}`).toBeLessThan(1e-4);
    expect(result.tokens).toEqual(ref.tokens);
  });
}
