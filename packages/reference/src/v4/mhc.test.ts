// The Sinkhorn normalization of the stream-mixing matrix against 2×2 cases worked out by hand.
import { describe, expect, it } from 'vitest';
import { createRng } from 'webmoe/model';
import { sinkhorn } from './mhc';

describe('Sinkhorn normalization', () => {
  it('one pass: softmax of each row, then columns divided by their sums', () => {
    // rows softmax: [1/2, 1/2], [3/4, 1/4]; column sums 5/4 and 3/4
    const c = Float64Array.from([0, 0, Math.log(3), 0]);
    sinkhorn(c, 2, 1, 0);
    [2 / 5, 2 / 3, 3 / 5, 1 / 3].forEach((v, i) => expect(c[i]).toBeCloseTo(v, 15));
  });

  it('a second pass normalizes rows then columns again', () => {
    // after pass 1: [[2/5, 2/3], [3/5, 1/3]]; rows → [[3/8, 5/8], [9/14, 5/14]]; columns → [[7/19, 7/11], [12/19, 4/11]]
    const c = Float64Array.from([0, 0, Math.log(3), 0]);
    sinkhorn(c, 2, 2, 0);
    [7 / 19, 7 / 11, 12 / 19, 4 / 11].forEach((v, i) => expect(c[i]).toBeCloseTo(v, 15));
  });

  it('adds eps after the softmax and to every sum', () => {
    const c = new Float64Array(4); // softmax 1/2 + 0.1 = 0.6; column sum 1.2 + 0.1
    sinkhorn(c, 2, 1, 0.1);
    for (const v of c) expect(v).toBeCloseTo(0.6 / 1.3, 15);
  });

  it('twenty passes make a random 4×4 matrix nearly doubly stochastic', () => {
    const rng = createRng(3);
    const c = Float64Array.from({ length: 16 }, () => 3 * rng.normal());
    sinkhorn(c, 4, 20, 1e-6);
    for (let i = 0; i < 4; i++) {
      let row = 0, col = 0;
      for (let j = 0; j < 4; j++) {
        row += c[i * 4 + j];
        col += c[j * 4 + i];
      }
      expect(Math.abs(row - 1)).toBeLessThan(1e-3);
      expect(Math.abs(col - 1)).toBeLessThan(1e-5);
    }
  });
});
