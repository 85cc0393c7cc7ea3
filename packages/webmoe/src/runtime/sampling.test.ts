import { describe, expect, it } from 'vitest';
import { penalizeLogits, sampleLogits, TokenCounts } from './sampling';
import { sampleUniform } from '../kernels/sample';
import { createRng } from '../util/random';

const params = (o: Partial<{ temperature: number; topP: number; topK: number }> = {}, step = 0) => ({ temperature: 1, topP: 1, topK: 0, seed: 7, step, ...o });

/** Reference: the kept set and probabilities by brute force, in float64. */
function distribution(logits: number[], o: { temperature: number; topP: number; topK: number }): number[] {
  const max = Math.max(...logits);
  const e = logits.map((v) => Math.exp((v - max) / o.temperature));
  const desc = [...logits].sort((a, b) => b - a);
  let keep = (v: number) => o.topK <= 0 || o.topK >= logits.length || v >= desc[o.topK - 1];
  if (o.topP < 1) {
    const kept = desc.filter(keep);
    const z = kept.reduce((s, v) => s + Math.exp((v - max) / o.temperature), 0);
    let cum = 0;
    let cut = -Infinity;
    for (const v of kept) {
      cum += Math.exp((v - max) / o.temperature) / z;
      if (cum >= o.topP) {
        cut = v;
        break;
      }
    }
    const k0 = keep;
    keep = (v) => k0(v) && v >= cut;
  }
  const w = logits.map((v, i) => (keep(v) ? e[i] : 0));
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / total);
}

describe('CPU sampler', () => {
  it('is greedy at temperature 0 and top_k 1, lowest id on ties', () => {
    expect(sampleLogits([1, 3, 3, 2], params({ temperature: 0 }))).toBe(1);
    expect(sampleLogits([1, 3, 3, 2], params({ topK: 1 }))).toBe(1);
  });

  it('draws with the GPU kernel uniform: the first id whose running mass exceeds u × total', () => {
    const logits = [0, Math.log(3), Math.log(2), Math.log(4)]; // masses 1, 3, 2, 4 of 10
    for (let step = 0; step < 50; step++) {
      const u = sampleUniform(7, step) * 10;
      const expected = u < 1 ? 0 : u < 4 ? 1 : u < 6 ? 2 : 3;
      expect(sampleLogits(logits, params({}, step))).toBe(expected);
    }
  });

  for (const o of [
    { temperature: 1, topP: 1, topK: 0 },
    { temperature: 0.7, topP: 1, topK: 5 },
    { temperature: 1.3, topP: 0.8, topK: 0 },
    { temperature: 1, topP: 0.5, topK: 6 },
  ]) {
    it(`matches the distribution for ${JSON.stringify(o)}`, () => {
      const rng = createRng(11);
      const logits = Array.from({ length: 12 }, () => rng.normal() * 2);
      logits[3] = logits[4]; // a tie
      const want = distribution(logits, o);
      const n = 20000;
      const counts = new Array(logits.length).fill(0);
      for (let step = 0; step < n; step++) counts[sampleLogits(logits, params(o, step))]++;
      for (let i = 0; i < logits.length; i++) {
        if (want[i] === 0) expect(counts[i], `id ${i} is outside the kept set`).toBe(0);
        else expect(Math.abs(counts[i] / n - want[i]), `id ${i}`).toBeLessThan(4 * Math.sqrt(want[i] / n) + 1e-3);
      }
    });
  }
});

describe('CPU penalties and min_p', () => {
  it('applies bias, then repetition to seen tokens, then frequency and presence to reply tokens', () => {
    // Token 0: in the prompt, positive; 1: twice in the reply, negative; 2: banned; 3: unseen, biased;
    // 4: once in the reply and in the prompt, positive after its bias.
    const counts = new TokenCounts([0, 4]);
    counts.addReply(1);
    counts.addReply(1);
    counts.addReply(4);
    const pen = { logitBias: [[2, -100], [3, 1.5], [4, 0.5]] as [number, number][], repetition: 2, presence: 0.25, frequency: 0.5 };
    const got = penalizeLogits([3, -1, 7, 0.5, 1], pen, counts);
    expect(Array.from(got)).toEqual([3 / 2, -1 * 2 - 2 * 0.5 - 0.25, -Infinity, 2, (1 + 0.5) / 2 - 0.5 - 0.25]);
  });

  it('maps logits to token ids through `ids`', () => {
    const counts = new TokenCounts([40]);
    const got = penalizeLogits([2, 2], { logitBias: [[41, 1]], repetition: 4, presence: 0, frequency: 0 }, counts, [40, 41]);
    expect(Array.from(got)).toEqual([0.5, 3]);
  });

  it('min_p keeps exactly the tokens at least min_p as likely as the likeliest', () => {
    const logits = [0, Math.log(0.5), Math.log(0.2), Math.log(0.05), Math.log(0.3)];
    const seen = new Set<number>();
    for (let step = 0; step < 4000; step++) seen.add(sampleLogits(logits, { ...params({}, step), minP: 0.25 }));
    expect([...seen].sort()).toEqual([0, 1, 4]);
    // At temperature 2 the ratios are square-rooted: 0.2 → 0.447 and 0.05 → 0.224 (still out).
    const hot = new Set<number>();
    for (let step = 0; step < 4000; step++) hot.add(sampleLogits(logits, { ...params({ temperature: 2 }, step), minP: 0.25 }));
    expect([...hot].sort()).toEqual([0, 1, 2, 4]);
  });
});
