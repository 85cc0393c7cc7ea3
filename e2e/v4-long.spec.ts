// A DeepSeek-V4 prompt of thousands of tokens through `webmoe run` against the float64 reference
// (@webmoe/reference): the window ring wraps hundreds of times, the indexer picks its top-8 among ~750
// compressed blocks, HCA attends to ~190 blocks, and the prompt spans several prefill chunks. The model is
// the v4long golden's with both of V4's rounding simulations switched off (kv_fp8_roundtrip, already off in
// its config, and indexer_fp4_roundtrip; test settings, see docs/architecture-v4.md): rounding is
// discontinuous, and over thousands of tokens f32 and float64 always land on different sides of some tie
// (with the indexer's FP4 on, 1500 tokens differ by 3.6e-4; with it off, by 6.4e-7).
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { loadReferenceModel } from '@webmoe/reference';
import { createRng } from 'webmoe/model';
import { relError } from './lib/models';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const GOLDEN = 'fixtures/golden/v4long';
const PROMPT = 3001;
const STEPS = 4;

test('V4: a 3001-token prompt matches the float64 reference', async () => {
  test.setTimeout(600_000);
  const rng = createRng(2026);
  const prompt = Array.from({ length: PROMPT }, () => rng.int(320));
  const model = join(tmpdir(), 'webmoe-e2e-v4long-exact');
  mkdirSync(model, { recursive: true });
  const config = JSON.parse(readFileSync(join(root, GOLDEN, 'config.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(model, 'config.json'), JSON.stringify({ ...config, kv_fp8_roundtrip: false, indexer_fp4_roundtrip: false }));
  copyFileSync(join(root, GOLDEN, 'model.safetensors'), join(model, 'model.safetensors'));
  // The engine's process starts first and the float64 reference computes meanwhile: neither waits for the other.
  const [{ stdout }, ref] = await Promise.all([
    run('pnpm', ['-s', 'webmoe', 'run', '--model', model, '--quant', 'f32', '--prompt-ids', prompt.join(','),
      '--max-tokens', String(STEPS), '--temperature', '0', '--context', String(PROMPT + STEPS + 8), '--logits', '--json'],
    { cwd: root, maxBuffer: 64 << 20 }),
    loadReferenceModel(model).then((m) => m.greedy(prompt, STEPS)),
  ]);
  const result = JSON.parse(stdout.trim().split('\n').at(-1)!) as { tokens: number[]; logits: number[][] };
  const errors = ref.logits.map((row, i) => relError(result.logits[i], Array.from(row)));
  console.log(`  v4long, ${PROMPT} tokens: max row error ${Math.max(...errors).toExponential(2)} over ${errors.length} rows; tokens ${result.tokens.join(',')}`);
  for (const [i, e] of errors.entries()) expect(e, `logits row ${i}`).toBeLessThan(1e-4);
  expect(result.tokens).toEqual(ref.tokens);
});
