// DeepSeek-V3's MTP module (layer num_hidden_layers of fixtures/golden/v3) on the GPU: GpuModel.logitsWithMtp's
// rows against the float64 reference (packages/reference) reading the same converted folder, in f32 and q8,
// each row within 1e-4 relative: the prompt and reply fed at once, in chunks of 5 (the module carries the last
// hidden state of one chunk into the next), after prefill and decode, and after a partly reused prefix,
// with speculation off and on. DeepSeek's own code has no MTP, so the reference is the only expected value
// here. Then the module as speculative decoding's drafter: greedy replies equal plain decoding's (depth 2 in
// f32, 1 in q8, 3 with the repeat drafter, whose drafts are accepted). The tests share the worker's MTP and
// speculative harness pages (lib/harness-page.ts) with mtp.spec.ts and speculative.spec.ts: the engine's
// pipelines are compiled once per page and model shape instead of once per test; each test loads its own model.
import { join } from 'node:path';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from '@playwright/test';
import { convertCheckpoint } from '@webmoe/converter';
import { loadReferenceModel } from '@webmoe/reference';
import { test } from './lib/harness-page';
import { GENERATED, relError } from './lib/models';
import { openMtp } from './lib/mtp-page';
import { greedyReplies } from './lib/speculation';

const root = fileURLToPath(new URL('..', import.meta.url));
const golden = JSON.parse(readFileSync(join(root, 'fixtures/golden/v3/golden.json'), 'utf8')) as { prompt: number[]; tokens: number[] };
const SEQ = [...golden.prompt, ...golden.tokens];
const VOCAB = 320;

const ROW_CASES = [{ quant: 'f32', speculative: 'off' }, { quant: 'f32', speculative: 'mtp' }, { quant: 'q8', speculative: 'off' }] as const;

for (const { quant, speculative } of ROW_CASES) {
  test(`MTP v3 (${quant}, speculation ${speculative}): logitsWithMtp equals the reference, at once, in chunks, after decode and a reused prefix`, async ({ harnessPages }) => {
    test.setTimeout(300_000);
    const dir = join(GENERATED, `golden-v3-mtp-${quant}`);
    await convertCheckpoint(join(root, 'fixtures/golden/v3'), dir, { quant, mtp: true, force: true });
    // Row i: the module at position i fed SEQ[i+1], predicting SEQ[i+2].
    const model = await loadReferenceModel(dir, { mtp: true });
    model.forward(SEQ.slice(0, -1), 0);
    const ref = model.mtpForward(SEQ.slice(1));
    const h = await openMtp(harnessPages);
    const url = `/e2e/generated/golden-v3-mtp-${quant}/`;
    /** logitsWithMtp(SEQ[from …]) after what the cache holds: the rows from position from-1 (from 0 at position 0). */
    const check = async (what: string, from: number) => {
      const rows = await h((m, a) => m.mtpRows(a), SEQ.slice(from));
      const first = Math.max(0, from - 1);
      const errors = rows.map((row, i) => relError(row, ref[first + i]));
      console.log(`  MTP v3 ${quant} ${speculative} ${what}: max row error ${Math.max(...errors).toExponential(2)} over ${rows.length} rows (positions ${first} …)`);
      expect(rows.length).toBe(SEQ.length - 1 - first);
      for (const [i, e] of errors.entries()) expect(e, `${what}: MTP row ${first + i}`).toBeLessThan(1e-4);
    };
    await h((m, a) => m.load(a.url, 64, 64, a.speculative), { url, speculative });
    await check('at once', 0);
    await h((m, a) => m.load(a.url, 64, 5, a.speculative), { url, speculative });
    await check('in chunks of 5', 0);
    // Prefill in chunks (the module runs without logits), two decode steps (the carried row; with
    // speculation the module ran ahead and the step may have fed its draft), then rows.
    expect(await h((m, a) => m.prefill(a, 0), SEQ.slice(0, 20))).toBe(0);
    await h((m, a) => m.decode(a), SEQ[20]);
    await h((m, a) => m.decode(a), SEQ[21]);
    await check('after prefill and decode', 22);
    // A cached sequence that leaves SEQ at position 17, reused up to there: the module's row at 16 was fed
    // the other token, so position 16 is fed again (16 kept, not 17).
    const other = SEQ.slice(17, 21).map((t) => (t + 1) % VOCAB);
    expect(await h((m, a) => m.prefill(a, 0), [...SEQ.slice(0, 17), ...other])).toBe(0);
    expect(await h((m, a) => m.prefill(a, 17), SEQ.slice(0, 18))).toBe(16);
    await check('after a partly reused prefix', 18);
  });
}

// The module as speculative decoding's drafter (recordDraft, recordChain, and the main model's
// recordAllLogits): greedy replies equal plain decoding's, one depth per format (the depth is the verify
// kernel's business, the format the products'; e2e/speculative.spec.ts does the same for V4), and depth 3
// with the repeat drafter below. The golden's random module accepts none of its drafts (measured: 0 of 199
// steps in 200 tokens at either depth), so every step drafts, verifies and rejects whatever the reply's
// length, and 64 tokens run the paths 200 did (accepted drafts run with the repeat drafter below, 200
// tokens, and on the demo model's trained module in speculative.spec.ts).
const RANDOM_REPLY = 64;
for (const [quant, depth] of [['f32', 2], ['q8', 1]] as const) {
  test(`MTP v3 (${quant}) drafting: a greedy reply of ${RANDOM_REPLY} tokens equals plain decoding's at depth ${depth}`, async ({ harnessPages }) => {
    test.setTimeout(600_000);
    await convertCheckpoint(join(root, 'fixtures/golden/v3'), join(GENERATED, `golden-v3-mtp-${quant}`), { quant, mtp: true, force: true });
    const { plain } = await greedyReplies(harnessPages, `/e2e/generated/golden-v3-mtp-${quant}/`, golden.prompt, RANDOM_REPLY, [depth], `MTP v3 ${quant}`);
    // q8 moves the logits enough to change the golden's greedy tokens; f32 keeps them.
    if (quant === 'f32') expect(plain.tokens.slice(0, golden.tokens.length)).toEqual(golden.tokens);
  });
}

/**
 * The golden with its MTP layer made to draft the token it is fed: eh_proj passes enorm(embed) through, the
 * block adds nothing (o_proj and the feed-forward's input norm zero), the head is the module's own embedding
 * (each row of this one is its own best match). The random module accepts none of its drafts; this one is
 * accepted wherever the reply repeats a token, so steps keep two tokens and the second comes from the
 * verified row 1.
 */
async function repeatDrafter(): Promise<string> {
  const src = join(root, 'fixtures/golden/v3');
  const dir = join(GENERATED, 'golden-v3-repeat-drafter');
  mkdirSync(join(dir, 'hf'), { recursive: true });
  copyFileSync(join(src, 'config.json'), join(dir, 'hf', 'config.json'));
  const bytes = readFileSync(join(src, 'model.safetensors'));
  const headerBytes = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerBytes).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const tensor = (name: string) => {
    const { dtype, data_offsets: [a, b] } = header[name];
    if (dtype !== 'BF16') throw new Error(`${name} is ${dtype}, not BF16`);
    return bytes.subarray(8 + headerBytes + a, 8 + headerBytes + b);
  };
  const fill = (name: string, value: (i: number) => number) => {
    const t = tensor(name);
    for (let i = 0; i < t.length / 2; i++) t.writeUInt16LE(value(i), 2 * i);
  };
  const ONE = 0x3f80, d = 96, p = 'model.layers.3';
  fill(`${p}.eh_proj.weight`, (i) => (i % (2 * d) === Math.floor(i / (2 * d)) ? ONE : 0));
  fill(`${p}.enorm.weight`, () => ONE);
  fill(`${p}.shared_head.norm.weight`, () => ONE);
  fill(`${p}.self_attn.o_proj.weight`, () => 0);
  fill(`${p}.post_attention_layernorm.weight`, () => 0);
  tensor(`${p}.embed_tokens.weight`).copy(tensor(`${p}.shared_head.head.weight`));
  writeFileSync(join(dir, 'hf', 'model.safetensors'), bytes);
  await convertCheckpoint(join(dir, 'hf'), join(dir, 'f32'), { quant: 'f32', mtp: true, force: true });
  return '/e2e/generated/golden-v3-repeat-drafter/f32/';
}

// Depth 3 only: accepted drafts at depths 1 and 2 run on the demo model's trained module (speculative.spec.ts).
test('MTP v3 drafting with accepted drafts: a greedy reply of 200 tokens equals plain decoding\'s at depth 3', async ({ harnessPages }) => {
  test.setTimeout(600_000);
  const { plain, spec } = await greedyReplies(harnessPages, await repeatDrafter(), golden.prompt, 200, [3], 'MTP v3 repeat drafter');
  const repeats = plain.tokens.filter((t, i) => i > 0 && t === plain.tokens[i - 1]).length;
  console.log(`  MTP v3 repeat drafter: the reply repeats a token ${repeats} times`);
  expect(plain.tokens.slice(0, golden.tokens.length)).toEqual(golden.tokens);
  // The chained drafts repeat the token too: runs of three repeats keep all three.
  for (const r of spec) expect(r.decoding.accepted).toBeGreaterThan(0);
});

test('MTP v3: a folder converted without the module is refused in plain words', async ({ harnessPages }) => {
  test.setTimeout(120_000);
  await convertCheckpoint(join(root, 'fixtures/golden/v3'), join(GENERATED, 'golden-v3-no-mtp'), { quant: 'f32', force: true });
  const error = await (await openMtp(harnessPages))((m, a) => m.load(a, 64, 8, 'off').then(() => '', (e: Error) => e.message), '/e2e/generated/golden-v3-no-mtp/');
  expect(error).toContain('converted without the MTP module');
});
