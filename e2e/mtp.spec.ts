// DeepSeek-V4's MTP module through `pnpm webmoe run --mtp --logits`: its rows at the prompt positions
// against DeepSeek's own (golden.json mtp_logits, float64), its rows at the reply positions against the
// float64 reference (packages/reference), each within 1e-4 relative, and the main model's rows and greedy
// tokens against DeepSeek's (golden.json logits, tokens) in the same run: these runs are the V4 goldens'
// check through `webmoe run` (golden.spec.ts runs V2/V3 and V4's sampled path). In chunks of 13 tokens (the
// module carries the last hidden state of one chunk into the next) through prefill, decode and a reused
// prefix before the rows are read (e2e/mtp/main.ts); and a clear refusal for a folder converted without
// the module.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from '@playwright/test';
import { convertCheckpoint } from '@webmoe/converter';
import { loadReferenceModel, V4ReferenceModel } from '@webmoe/reference';
import { GENERATED, relError } from './lib/models';
import { openMtp } from './lib/mtp-page';
import { test } from './lib/harness-page';
import { MTP_CASES, V4_LINES, v4Golden, v4Runs, type V4Golden as Golden } from './lib/v4-runs';

const root = fileURLToPath(new URL('..', import.meta.url));

// The `webmoe run` requests below (MTP_CASES; chunked prefill runs in the page tests, chunks of 13 throughout)
// go through lib/v4-runs.ts's batch, shared with v4-quant.spec.ts: one browser page compiles V4's pipelines
// for both files. A lone `webmoe run` and a batch's request run the same page call (runFoldersInChromium),
// whose error is the lone run's exit message and the request's line in a batch.

/** The MTP rows after the prompt, from the float64 reference: position len-1+k fed tokens[k], for k < tokens-1. */
async function replyRows(dir: string, g: Golden): Promise<Float64Array[]> {
  const model = await loadReferenceModel(join(root, dir), { mtp: true });
  if (!(model instanceof V4ReferenceModel)) throw new Error(`${dir} is not a V4 model`);
  model.forward(g.prompt, 0);
  const rows = [model.mtpForward([...g.prompt.slice(1), g.tokens[0]]).at(-1)!];
  for (let k = 0; k + 2 < g.tokens.length; k++) {
    model.forward([g.tokens[k]], g.prompt.length + k);
    rows.push(...model.mtpForward([g.tokens[k + 1]]));
  }
  return rows;
}

for (const [index, { name, quant }] of MTP_CASES.entries()) {
  test(`MTP ${name} (${quant}) through webmoe run, with the main model's logits`, async ({ sharedBatches }) => {
    test.setTimeout(600_000);
    const dir = `fixtures/golden/${name}`;
    const g = v4Golden(name);
    const result = await v4Runs(sharedBatches)<{ tokens: number[]; logits: number[][]; mtp_logits: number[][] }>(V4_LINES.mtp(index));
    expect(result.tokens).toEqual(g.tokens);
    const main = g.logits.map((row, i) => relError(result.logits[i], row));
    expect(result.logits.length).toBe(g.logits.length);
    for (const [i, e] of main.entries()) expect(e, `logits row ${i}`).toBeLessThan(1e-4);
    // One row per position whose next token was fed: the prompt's but the last, then each reply token's but the last.
    expect(result.mtp_logits.length).toBe(g.prompt.length - 1 + g.tokens.length - 1);
    const prompt = g.mtp_logits.map((row, i) => relError(result.mtp_logits[i], row));
    const reply = (await replyRows(dir, g)).map((row, k) => relError(result.mtp_logits[g.mtp_logits.length + k], row));
    console.log(`  ${name} ${quant}: main max row error ${Math.max(...main).toExponential(2)} over ${main.length} rows (golden); `
      + `MTP: max row error ${Math.max(...prompt).toExponential(2)} over ${prompt.length} prompt rows (golden), `
      + `${Math.max(...reply).toExponential(2)} over ${reply.length} reply rows (reference)`);
    for (const [i, e] of prompt.entries()) expect(e, `MTP row ${i}`).toBeLessThan(1e-4);
    for (const [k, e] of reply.entries()) expect(e, `MTP row ${g.mtp_logits.length + k}`).toBeLessThan(1e-4);
  });
}

for (const speculative of ['off', 'mtp'] as const) test(`MTP through prefill, decode and reused prefixes (chunks of 13, speculation ${speculative}), then logitsWithMtp`, async ({ harnessPages }) => {
  test.setTimeout(240_000);
  const name = 'v4long';
  const g = v4Golden(name);
  await convertCheckpoint(`${root}/fixtures/golden/${name}`, join(GENERATED, `golden-${name}-mtp`), { quant: 'f32', mtp: true, force: true });
  // The worker's MTP harness page (lib/harness-page.ts), shared with mtp-v3.spec.ts: its pipelines are
  // compiled once, not per test; the model is loaded here.
  const h = await openMtp(harnessPages);
  const P = g.prompt;
  await h((m, a) => m.load(a.url, 256, 13, a.speculative), { url: `/e2e/generated/golden-${name}-mtp/`, speculative });
  /** The rows logitsWithMtp returns for P[from …], which should be the golden rows from position from-1. */
  const check = async (what: string, from: number) => {
    const rows = await h((m, a) => m.mtpRows(a), P.slice(from));
    const errors = rows.map((row, i) => relError(row, g.mtp_logits[from - 1 + i]));
    console.log(`  MTP ${what}: max row error ${Math.max(...errors).toExponential(2)} over ${rows.length} rows (positions ${from - 1} …)`);
    expect(rows.length).toBe(P.length - from);
    for (const [i, e] of errors.entries()) expect(e, `${what}: MTP row ${from - 1 + i}`).toBeLessThan(1e-4);
  };
  // Prefill in four chunks (the module runs without logits), two decode steps (the carried row), then rows.
  expect(await h((m, a) => m.prefill(a, 0), P.slice(0, 50))).toBe(0);
  await h((m, a) => m.decode(a), P[50]);
  await h((m, a) => m.decode(a), P[51]);
  await check('after prefill and decode', 52);
  // The whole cache as the prefix: the carry still holds the last hidden state. With speculation the
  // module ran ahead with the sampled token: unless that is P[60], position 59 is fed again.
  expect(await h((m, a) => m.prefill(a, 0), P.slice(0, 60))).toBe(0);
  const kept = await h((m, a) => m.prefill(a, 60), P.slice(0, 70));
  if (speculative === 'off') expect(kept).toBe(60);
  else expect([59, 60]).toContain(kept);
  await check('after a wholly reused prefix', 70);
  // A cached sequence that leaves the prompt at position 57, reused up to there (a rewind within V4's
  // rings): the module's row at 56 was fed the other token, so position 56 is fed again (56 kept, not 57).
  const other = P.slice(57, 60).map((t) => (t + 1) % 320);
  expect(await h((m, a) => m.prefill(a, 0), [...P.slice(0, 57), ...other])).toBe(0);
  expect(await h((m, a) => m.prefill(a, 57), P.slice(0, 58))).toBe(56);
  await check('after a partly reused prefix', 58);
  // Back further than V4's rings reach (70 positions with chunks of 13): nothing can be reused, the prompt is
  // fed again from position 0 (reusing the 30 matching positions gave a 0.56 relative error before).
  expect(await h((m, a) => m.prefill(a, 0), [...P.slice(0, 30), ...P.slice(30, 100).map((t) => (t + 1) % 320)])).toBe(0);
  expect(await h((m, a) => m.prefill(a, 30), P.slice(0, 40))).toBe(0);
  await check('after a rewind past the rings', 40);
});

test('MTP: a folder converted without the module is refused in plain words', async ({ sharedBatches }) => {
  test.setTimeout(600_000);
  const e = await v4Runs(sharedBatches)(V4_LINES.refusal).then(() => null, (err: Error) => err);
  expect(e, 'webmoe run --mtp on a folder without MTP tensors').not.toBeNull();
  expect(e!.message).toContain('converted without the MTP module');
});
