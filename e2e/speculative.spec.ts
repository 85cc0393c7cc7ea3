// Speculative decoding with the MTP module (docs/speculative.md) on the V4 goldens, which carry one:
// greedy replies (100 or 200 tokens) with speculation equal those without, in f32 and q8, each golden and each
// quantization at depth 1 once and at a chained depth (2 or 3) once; the demo model (a trained module, 64
// tokens) in q8 at depths 1 and 2 and in f32 at depth 1; and at temperature 0.8 the reply tokens after the
// first are distributed alike with and without it (a two-sample chi-square over seeded replies, each mode
// with its own seeds).
// Every test runs in the one speculative harness page of the worker (lib/harness-page.ts, shared with
// mtp-v3.spec.ts's drafting tests), so the engine's pipelines are compiled once per model shape, not per test.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from '@playwright/test';
import { convertCheckpoint } from '@webmoe/converter';
import { test } from './lib/harness-page';
import { GENERATED } from './lib/models';
import { greedyReplies, openSpeculative, type Depth } from './lib/speculation';

const root = fileURLToPath(new URL('..', import.meta.url));
/**
 * The depth each golden and quantization is checked at: one reply with speculation per pair (each is a
 * load and its reply at about 2.5× plain decoding's time on SwiftShader), chosen so that each golden and
 * each quantization meets depth 1 and a chained depth, and depths 2 and 3 both run. The depth is the
 * verify kernel's and the chained rows' business, which the kernel grid checks at depths 1-3 against the
 * float64 reference; the weight format is the products', the same at any depth.
 */
const DEPTH: Record<string, Depth> = { 'v4fp8 f32': 3, 'v4fp8 q8': 1, 'v4long f32': 1, 'v4long q8': 2 };
/**
 * The reply's length per pair. The goldens' random modules accept a draft a few times a reply (measured,
 * accepted first drafts at 100 / 200 tokens: v4fp8 f32 0 / 3, v4fp8 q8 2 / 2, v4long f32 1 / 1, v4long q8
 * 1 / 3), so each reply is long enough for an accepted draft, which the test checks; v4fp8 f32's 200 tokens
 * also keep the longest context (224 positions) for the architecture, whose positions the format does not
 * change, and v4long's prompt of 120 tokens takes its replies of 100 to 220 positions.
 */
const REPLY: Record<string, number> = { 'v4fp8 f32': 200, 'v4fp8 q8': 100, 'v4long f32': 100, 'v4long q8': 100 };

/** The golden converted with its MTP module, and its prompt. */
async function converted(name: string, quant: 'f32' | 'q8'): Promise<{ url: string; prompt: number[] }> {
  const dir = `${root}/fixtures/golden/${name}`;
  const folder = `golden-${name}-${quant}-mtp`;
  await convertCheckpoint(dir, join(GENERATED, folder), { quant, mtp: true, force: true });
  const prompt = (JSON.parse(readFileSync(`${dir}/golden.json`, 'utf8')) as { prompt: number[] }).prompt;
  return { url: `/e2e/generated/${folder}/`, prompt };
}

for (const name of ['v4fp8', 'v4long']) {
  for (const quant of ['f32', 'q8'] as const) {
    const depth = DEPTH[`${name} ${quant}`], reply = REPLY[`${name} ${quant}`];
    test(`speculative greedy ${name} ${quant}: ${reply} tokens at depth ${depth} equal plain decoding's`, async ({ harnessPages }) => {
      test.setTimeout(900_000);
      const { url, prompt } = await converted(name, quant);
      const { plain, spec } = await greedyReplies(harnessPages, url, prompt, reply, [depth], `${name} ${quant}`);
      expect(plain.decoding).toMatchObject({ speculative: 'off', drafted: 0, steps: reply - 1 });
      expect(spec[0].decoding.accepted, 'accepted drafts').toBeGreaterThan(0);
    });
  }
}

// The demo model as shipped (q8) at depths 1 and 2 (depth 3 runs on the goldens above), and in f32 at depth 1.
// The plain replies are also trained.spec.ts's f32 and q8 checks against PyTorch's greedy output
// (fixtures/trained/greedy.json): all its tokens in f32, at least the first 16 in q8 (the demo folder is
// `webmoe convert --quant q8 --mtp` of fixtures/trained/hf, byte for byte). Its trained module accepts most
// drafts (measured at 200 tokens: 83 of 116 steps at depth 1, 46 second drafts at depth 2), so a reply of
// twice PyTorch's 32 tokens meets accepted and rejected drafts at every depth many times over; the goldens'
// random modules accept a draft a few times in 200, which is why they keep their length.
const DEMO_REPLY = 64;
test(`speculative greedy demo model (webmoe-tiny): ${DEMO_REPLY} tokens in q8 at depths 1 and 2, and in f32, equal plain decoding's and begin with PyTorch's`, async ({ harnessPages }) => {
  test.setTimeout(900_000);
  const { prompt, tokens } = JSON.parse(readFileSync(`${root}/fixtures/trained/greedy.json`, 'utf8')) as { prompt: number[]; tokens: number[] };
  const agree = (got: number[]) => {
    let n = 0;
    while (n < tokens.length && got[n] === tokens[n]) n++;
    return n;
  };
  expect(DEMO_REPLY, 'the reply covers PyTorch\'s').toBeGreaterThanOrEqual(tokens.length);
  const replies = async (url: string, depths: Depth[], what: string) => {
    const { plain, spec } = await greedyReplies(harnessPages, url, prompt, DEMO_REPLY, depths, what);
    // Within the shorter reply every draft position is still accepted somewhere, and drafts are rejected too.
    for (const r of spec) {
      for (const [j, a] of (r.decoding.acceptedAt ?? []).entries()) expect(a, `${what} depth ${r.decoding.depth}: steps accepting draft ${j + 1}`).toBeGreaterThan(0);
      expect(r.decoding.accepted, `${what} depth ${r.decoding.depth}: rejected drafts`).toBeLessThan(r.decoding.drafted);
    }
    return plain.tokens;
  };
  const q8 = await replies('/models/webmoe-tiny/', [1, 2], 'demo model q8');
  await convertCheckpoint(`${root}/fixtures/trained/hf`, join(GENERATED, 'trained-f32-mtp'), { quant: 'f32', mtp: true, force: true });
  const f32 = await replies('/e2e/generated/trained-f32-mtp/', [1], 'demo model f32');
  console.log(`  PyTorch's greedy output: f32 ${agree(f32)}/${tokens.length} tokens equal, q8 ${agree(q8)}/${tokens.length}`);
  expect(agree(f32), 'f32 tokens equal to PyTorch\'s').toBe(tokens.length);
  expect(agree(q8), 'q8 tokens equal to PyTorch\'s').toBeGreaterThanOrEqual(16);
});

/**
 * Pearson's two-sample statistic over the tokens' bins, bins with a pooled expected count below 5 merged
 * into one, against mean df and sd sqrt(2·df): 6 sd is beyond chance and well within what a wrong rule gives.
 */
function homogeneity(a: number[], b: number[]): { chi2: number; df: number } {
  const count = (xs: number[]) => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<number, number>());
  const ca = count(a), cb = count(b);
  const na = a.length, nb = b.length, n = na + nb;
  const bins: [number, number][] = [];
  let pool: [number, number] = [0, 0];
  for (const k of new Set([...ca.keys(), ...cb.keys()])) {
    const o: [number, number] = [ca.get(k) ?? 0, cb.get(k) ?? 0];
    if (((o[0] + o[1]) * Math.min(na, nb)) / n < 5) pool = [pool[0] + o[0], pool[1] + o[1]];
    else bins.push(o);
  }
  if (pool[0] + pool[1] > 0) bins.push(pool);
  let chi2 = 0;
  for (const [x, y] of bins) {
    const t = x + y;
    chi2 += (x - (t * na) / n) ** 2 / ((t * na) / n) + (y - (t * nb) / n) ** 2 / ((t * nb) / n);
  }
  return { chi2, df: Math.max(1, bins.length - 1) };
}

test('speculative sampling at temperature 0.8 keeps plain sampling\'s distribution (v4fp8, vocabulary 320)', async ({ harnessPages }) => {
  test.setTimeout(900_000);
  const { url, prompt } = await converted('v4fp8', 'f32');
  const h = await openSpeculative(harnessPages);
  const draws = 240, n = 3;
  const sample = async (mode: 'mtp' | 'off', firstSeed: number) => {
    expect(await h((m, a) => m.load(a.url, a.context, a.mode), { url, context: prompt.length + n + 2, mode })).toBe(mode);
    const seeds = Array.from({ length: draws }, (_, i) => firstSeed + i);
    return h((m, a) => m.replies(a.prompt, a.n, 0.8, a.seeds), { prompt, n, seeds });
  };
  const plain = await sample('off', 1);
  const spec = await sample('mtp', 100_001);
  // Token 0 comes from the prefill's sampler in both modes; tokens 1 and 2 from verified steps with speculation.
  for (const k of [0, 1, 2]) {
    const { chi2, df } = homogeneity(plain.map((r) => r[k]), spec.map((r) => r[k]));
    console.log(`  reply token ${k}: chi2 ${chi2.toFixed(1)} on ${df} df`);
    expect(chi2, `reply token ${k}`).toBeLessThan(df + 6 * Math.sqrt(2 * df));
  }
});
