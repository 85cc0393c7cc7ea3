// The demo's trained model (fixtures/trained/hf, trained with tools/train) through `pnpm webmoe run` at
// temperature 0 against the training framework's own greedy output (PyTorch, float64, fixtures/trained/greedy.json).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const golden = JSON.parse(readFileSync(`${root}/fixtures/trained/greedy.json`, 'utf8')) as { prompt: number[]; tokens: number[] };

// f32 must reproduce all 32 tokens; the quantized conversions at least the first 16 (the bar).
for (const [quant, atLeast] of [['f32', 32], ['q8', 16], ['q4', 16]] as const) {
  test(`trained model ${quant}: greedy tokens equal PyTorch's`, async () => {
    test.setTimeout(180_000);
    const { stdout } = await run('pnpm', ['-s', 'webmoe', 'run', '--model', 'fixtures/trained/hf', '--quant', quant,
      '--prompt-ids', golden.prompt.join(','), '--max-tokens', String(golden.tokens.length), '--temperature', '0', '--json'], { cwd: root, maxBuffer: 16 << 20 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { tokens: number[]; text?: string };
    let agree = 0;
    while (agree < golden.tokens.length && result.tokens[agree] === golden.tokens[agree]) agree++;
    console.log(`  ${quant}: ${agree}/${golden.tokens.length} tokens equal PyTorch's greedy output: ${JSON.stringify(result.text)}`);
    expect(agree).toBeGreaterThanOrEqual(atLeast);
  });
}
