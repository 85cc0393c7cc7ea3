import { describe, expect, it } from 'vitest';
import { FormatAccumulator, klDivergence, logSoftmax, textWindows } from './eval-stats';

function rng(seed: number) {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

describe('textWindows', () => {
  it('puts BOS first and scores every text token once, in order', () => {
    const ids = Array.from({ length: 23 }, (_, i) => 100 + i);
    const w = textWindows(ids, 5, 0);
    expect(w.every((x) => x[0] === 0 && x.length <= 5)).toBe(true);
    expect(w.flatMap((x) => x.slice(1))).toEqual(ids);
  });

  it('without BOS, a window\'s first token is context only', () => {
    const ids = Array.from({ length: 10 }, (_, i) => i);
    const w = textWindows(ids, 4, null);
    expect(w).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]);
  });

  it('drops a last window with nothing to score and refuses a window under 2', () => {
    expect(textWindows([7, 8, 9], 4, null)).toEqual([[7, 8, 9]]);
    expect(textWindows([7, 8, 9, 10, 11], 4, null)).toEqual([[7, 8, 9, 10]]);
    expect(() => textWindows([1], 1, 0)).toThrow(/at least 2/);
  });
});

describe('logSoftmax and klDivergence', () => {
  it('log-probabilities sum to 1 even for large logits, and match the direct formula', () => {
    const r = rng(3);
    const logits = Array.from({ length: 37 }, () => 50 + 20 * r());
    const lp = logSoftmax(logits);
    expect(lp.reduce((a, b) => a + Math.exp(b), 0)).toBeCloseTo(1, 12);
    const z = logits.reduce((a, b) => a + Math.exp(b - 50), 0);
    lp.forEach((v, i) => expect(v).toBeCloseTo(logits[i] - 50 - Math.log(z), 10));
  });

  it('KL is zero for equal rows, positive otherwise, and equals the two-outcome formula', () => {
    const p = logSoftmax([0.3, -1.2]);
    const q = logSoftmax([1.1, 0.4]);
    expect(klDivergence(p, p)).toBe(0);
    const [p0, p1, q0, q1] = [Math.exp(p[0]), Math.exp(p[1]), Math.exp(q[0]), Math.exp(q[1])];
    expect(klDivergence(p, q)).toBeCloseTo(p0 * Math.log(p0 / q0) + p1 * Math.log(p1 / q1), 14);
    expect(klDivergence(p, q)).toBeGreaterThan(0);
  });
});

describe('FormatAccumulator', () => {
  it('perplexity is exp of the mean NLL; KL statistics and top-1 agreement over the positions', () => {
    const r = rng(11);
    const rows = Array.from({ length: 9 }, () => Array.from({ length: 13 }, () => 4 * r()));
    const noisy = rows.map((row, k) => row.map((v, i) => v + (k % 3 === 0 && i === 0 ? 10 : 0.01 * r())));
    const targets = rows.map((_, k) => (5 * k) % 13);
    const ref = new FormatAccumulator();
    const fmt = new FormatAccumulator();
    let nll = 0;
    const kls: number[] = [];
    let agree = 0;
    const top = (row: number[]) => row.indexOf(Math.max(...row));
    rows.forEach((row, k) => {
      const lr = logSoftmax(row);
      const lq = logSoftmax(noisy[k]);
      ref.add(lr, targets[k], null);
      fmt.add(lq, targets[k], lr);
      nll -= lq[targets[k]];
      let kl = 0;
      for (let i = 0; i < row.length; i++) kl += Math.exp(lr[i]) * (lr[i] - lq[i]);
      kls.push(kl);
      if (top(row) === top(noisy[k])) agree++;
    });
    const f = fmt.figures();
    expect(f.tokens).toBe(9);
    expect(f.perplexity).toBeCloseTo(Math.exp(nll / 9), 10);
    expect(f.kl!.mean).toBeCloseTo(kls.reduce((a, b) => a + b, 0) / 9, 12);
    expect(f.kl!.max).toBeCloseTo(Math.max(...kls), 12);
    expect(f.top1Agreement).toBeCloseTo(agree / 9, 12);
    expect(agree).toBeLessThan(9); // the rows shifted by 10 change their argmax
    expect(ref.figures().kl).toBeNull();
    expect(ref.figures().top1Agreement).toBeNull();
  });

  it('refuses a target outside the vocabulary', () => {
    expect(() => new FormatAccumulator().add(logSoftmax([0, 1]), 2, null)).toThrow(/outside the vocabulary of 2/);
  });
});
