// DeepSeek-V4 in the quantized formats converted from its release files (FP8 linears, FP4 experts): the GPU
// against the float64 reference reading the same converted folder (it dequantizes with its own decoders), so
// both compute with the same weights and must agree to f32 rounding; then how far each format moves the
// logits from the release's exact weights (printed: a property of the format, not of the engine).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { convertCheckpoint } from '@webmoe/converter';
import { loadReferenceModel } from '@webmoe/reference';
import { GENERATED, relError } from './lib/models';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const STEPS = 6;

for (const quant of ['q8', 'q4', 'bf16'] as const) {
  test(`V4 release checkpoint converted to ${quant}: GPU equals the reference on the same weights`, async () => {
    test.setTimeout(300_000);
    const golden = JSON.parse(readFileSync(join(root, 'fixtures/golden/v4fp8/golden.json'), 'utf8')) as { prompt: number[]; logits: number[][] };
    const dir = join(GENERATED, `golden-v4fp8-${quant}`);
    await convertCheckpoint(join(root, 'fixtures/golden/v4fp8'), dir, { quant, force: true });
    const ref = (await loadReferenceModel(dir)).greedy(golden.prompt, STEPS);
    const { stdout } = await run('pnpm', ['-s', 'webmoe', 'run', '--model', dir, '--prompt-ids', golden.prompt.join(','),
      '--max-tokens', String(STEPS), '--temperature', '0', '--logits', '--json'], { cwd: root, maxBuffer: 64 << 20 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { tokens: number[]; logits: number[][] };
    const errors = ref.logits.map((row, i) => relError(result.logits[i], Array.from(row)));
    console.log(`  v4fp8 → ${quant}: GPU vs reference on the same weights ${Math.max(...errors).toExponential(2)}; `
      + `first row against the release's exact logits ${relError(result.logits[0], golden.logits[0]).toExponential(2)}`);
    for (const [i, e] of errors.entries()) expect(e, `logits row ${i}`).toBeLessThan(1e-4);
    expect(result.tokens).toEqual(ref.tokens);
  });
}
