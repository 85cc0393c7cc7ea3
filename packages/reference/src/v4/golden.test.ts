// The V4 reference against DeepSeek-V4's own inference/model.py, run in float64, on the tiny goldens in
// fixtures/golden (release-format FP8/FP4 weights with the KV FP8 round trip on; BF16 weights, 120-token
// prompt, round trip off). golden.json stores `logits` in full precision, `prompt_logits` and `mtp_logits`
// to 9 significant digits, so those are checked to within that rounding.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createReferenceModel, loadCheckpointWeights, loadReferenceModel } from '../load';
import { relativeError } from '../math';
import { V4ReferenceModel } from './model';

interface V4Golden {
  prompt: number[];
  tokens: number[];
  logits: number[][];
  prompt_logits: number[][];
  mtp_logits: number[][];
  reference: { kv_fp8_sim: boolean };
}

const dirOf = (m: string) => fileURLToPath(new URL(`../../../../fixtures/golden/${m}`, import.meta.url));
const golden = (m: string): V4Golden => JSON.parse(readFileSync(`${dirOf(m)}/golden.json`, 'utf8'));

/** Whether every value of `row` rounds to `want` at 9 significant digits (half a unit of the 9th digit, and a hair). */
function withinNineDigits(row: Float64Array, want: number[]): boolean {
  return want.every((g, i) => Math.abs(row[i] - g) <= 0.5 * 10 ** (Math.floor(Math.log10(Math.abs(g))) - 8) * (1 + 1e-6) + 1e-13);
}

describe.each(['v4fp8', 'v4long'])('golden %s', (m) => {
  const g = golden(m);

  it('reproduces the prompt rows, the decode rows and greedy tokens, and the MTP rows', async () => {
    const model = await loadReferenceModel(dirOf(m), { mtp: true });
    expect(model).toBeInstanceOf(V4ReferenceModel);
    const prompt = model.forward(g.prompt, 0);
    const promptErrors = prompt.map((row, i) => relativeError(row, g.prompt_logits[i]));
    prompt.forEach((row, i) => expect(withinNineDigits(row, g.prompt_logits[i]), `prompt row ${i}`).toBe(true));
    const mtp = model.mtpForward([...g.prompt.slice(1), g.tokens[0]]).slice(0, -1);
    expect(mtp.length).toBe(g.mtp_logits.length);
    const mtpErrors = mtp.map((row, i) => relativeError(row, g.mtp_logits[i]));
    mtp.forEach((row, i) => expect(withinNineDigits(row, g.mtp_logits[i]), `MTP row ${i}`).toBe(true));

    const { tokens, logits } = model.greedy(g.prompt, g.tokens.length);
    const errors = logits.map((row, i) => relativeError(row, g.logits[i]));
    console.log(`golden ${m}: logits max row error ${Math.max(...errors).toExponential(2)} over ${errors.length} rows; ` +
      `prompt_logits ${Math.max(...promptErrors).toExponential(2)} over ${promptErrors.length}; mtp_logits ${Math.max(...mtpErrors).toExponential(2)} over ${mtpErrors.length} (both stored to 9 digits)`);
    expect(tokens).toEqual(g.tokens);
    for (const e of errors) expect(e).toBeLessThan(1e-12);
  });

  it('follows kv_fp8_roundtrip as the golden was made, and differs with it flipped', async () => {
    const { config, source } = await loadCheckpointWeights(dirOf(m));
    expect(config.kv_fp8_roundtrip ?? true).toBe(g.reference.kv_fp8_sim);
    const flipped = createReferenceModel({ ...config, kv_fp8_roundtrip: !g.reference.kv_fp8_sim }, source);
    const rows = flipped.forward(g.prompt, 0);
    expect(Math.max(...rows.map((row, i) => relativeError(row, g.prompt_logits[i])))).toBeGreaterThan(1e-5);
  });
});
