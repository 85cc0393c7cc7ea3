// DeepSeek's own inference code (fixtures/golden, float64) against `pnpm webmoe run --quant f32`, the
// command users and outside checks run: every logits row within 1e-4 relative, the greedy tokens identical.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { relError } from './lib/models';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

for (const name of ['v3', 'v2lite']) {
  test(`golden ${name} through webmoe run`, async () => {
    test.setTimeout(180_000);
    const dir = `fixtures/golden/${name}`;
    const golden = JSON.parse(readFileSync(`${root}/${dir}/golden.json`, 'utf8')) as { prompt: number[]; tokens: number[]; logits: number[][] };
    const { stdout } = await run('pnpm', ['-s', 'webmoe', 'run', '--model', dir, '--quant', 'f32', '--prompt-ids', golden.prompt.join(','),
      '--max-tokens', String(golden.tokens.length), '--temperature', '0', '--logits', '--json'], { cwd: root, maxBuffer: 64 << 20 });
    const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { tokens: number[]; logits: number[][] };
    const errors = golden.logits.map((row, i) => relError(result.logits[i], row));
    console.log(`  ${name}: max row error ${Math.max(...errors).toExponential(2)} over ${errors.length} rows; tokens ${result.tokens.join(',')}`);
    expect(result.logits.length).toBe(golden.logits.length);
    for (const [i, e] of errors.entries()) expect(e, `logits row ${i}`).toBeLessThan(1e-4);
    expect(result.tokens).toEqual(golden.tokens);
  });
}
