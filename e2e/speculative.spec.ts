// Speculative decoding with the MTP module (docs/speculative.md) on the V4 goldens, which carry one:
// greedy replies of 200 tokens with speculation equal those without, in f32 and q8, at depth 1 and at one
// chained depth each (2 or 3, one grid over goldens and quantizations); the demo model (a trained module)
// in q8 at depths 1 and 2 and in f32 at depth 1; and at temperature 0.8 the reply tokens after the first are distributed alike with
// and without it (a two-sample chi-square over seeded replies, each mode with its own seeds).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, test } from '@playwright/test';
import { convertCheckpoint } from '@webmoe/converter';
import { GENERATED } from './lib/models';
import { greedyReplies, openSpeculative } from './lib/speculation';

const root = fileURLToPath(new URL('..', import.meta.url));
const REPLY = 200;
/** The chained depth each golden and quantization is checked at besides 1. */
const CHAINED: Record<string, 2 | 3> = { 'v4fp8 f32': 3, 'v4fp8 q8': 2, 'v4long f32': 2, 'v4long q8': 3 };

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
    test(`speculative greedy ${name} ${quant}: ${REPLY} tokens at depths 1 and ${CHAINED[`${name} ${quant}`]} equal plain decoding's`, async ({ page }) => {
      test.setTimeout(900_000);
      const { url, prompt } = await converted(name, quant);
      const { plain } = await greedyReplies(page, url, prompt, REPLY, [1, CHAINED[`${name} ${quant}`]], `${name} ${quant}`);
      expect(plain.decoding).toMatchObject({ speculative: 'off', drafted: 0, steps: REPLY - 1 });
    });
  }
}

// The demo model as shipped (q8) at depths 1 and 2 (depth 3 runs on the goldens above), and in f32 at depth 1.
test(`speculative greedy demo model (webmoe-tiny): ${REPLY} tokens in q8 at depths 1 and 2, and in f32, equal plain decoding's`, async ({ page }) => {
  test.setTimeout(900_000);
  const { prompt } = JSON.parse(readFileSync(`${root}/fixtures/trained/greedy.json`, 'utf8')) as { prompt: number[] };
  await greedyReplies(page, '/models/webmoe-tiny/', prompt, REPLY, [1, 2], 'demo model q8');
  await convertCheckpoint(`${root}/fixtures/trained/hf`, join(GENERATED, 'trained-f32-mtp'), { quant: 'f32', mtp: true, force: true });
  await greedyReplies(page, '/e2e/generated/trained-f32-mtp/', prompt, REPLY, [1], 'demo model f32');
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

test('speculative sampling at temperature 0.8 keeps plain sampling\'s distribution (v4fp8, vocabulary 320)', async ({ page }) => {
  test.setTimeout(900_000);
  const { url, prompt } = await converted('v4fp8', 'f32');
  const h = await openSpeculative(page);
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
