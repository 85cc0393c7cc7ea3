// V4's rounding simulations against values worked out by hand and against the formats' grids built here from
// their definitions (sign · 2^(e − bias) · (1 + m/2^M), subnormals at the smallest exponent).
import { describe, expect, it } from 'vitest';
import { createRng } from 'webmoe/model';
import { fp4RoundTrip, fp8RoundTrip, hadamardInPlace, powerOfTwoAtLeast, roundE2m1, roundE4m3 } from './quant-sim';

/** Every non-negative finite value of a format, ascending; index parity = mantissa parity. */
function grid(exponentBits: number, mantissaBits: number, bias: number, skipLast: boolean): number[] {
  const out: number[] = [];
  const M = 2 ** mantissaBits;
  for (let e = 0; e < 2 ** exponentBits; e++) {
    for (let m = 0; m < M; m++) out.push(e === 0 ? (m / M) * 2 ** (1 - bias) : (1 + m / M) * 2 ** (e - bias));
  }
  if (skipLast) out.pop(); // E4M3fn: S.1111.111 is NaN
  return out;
}

/** Nearest grid value by scanning, ties to the even index, for |v| within the grid. */
function nearest(g: number[], v: number): number {
  const a = Math.abs(v);
  let best = 0;
  for (let i = 1; i < g.length; i++) {
    const d = Math.abs(g[i] - a), db = Math.abs(g[best] - a);
    if (d < db || (d === db && i % 2 === 0)) best = i;
  }
  return Math.sign(v) * g[best];
}

const E4M3 = grid(4, 3, 7, true);
const E2M1 = grid(2, 1, 1, false);

describe('FP8 E4M3 rounding', () => {
  it('has the grid of the definition: 448 at the top, 2^-9 at the bottom', () => {
    expect(E4M3.length).toBe(127);
    expect(E4M3.at(-1)).toBe(448);
    expect(E4M3[1]).toBe(2 ** -9);
  });

  it('rounds to nearest, ties to even mantissa, clamps at ±448 (hand-worked values)', () => {
    expect(roundE4m3(1.06)).toBe(1);
    expect(roundE4m3(1.07)).toBe(1.125);
    expect(roundE4m3(1.0625)).toBe(1); // halfway 1 | 1.125: m = 0 wins
    expect(roundE4m3(1.1875)).toBe(1.25); // halfway 1.125 | 1.25: m = 2 wins
    expect(roundE4m3(-1.1875)).toBe(-1.25);
    expect(roundE4m3(440)).toBe(448); // 13.75 steps of 32
    expect(roundE4m3(400)).toBe(384); // 12.5 steps of 32: 12 is even
    expect(roundE4m3(1000)).toBe(448);
    expect(roundE4m3(-1000)).toBe(-448);
    expect(roundE4m3(2 ** -10)).toBe(0); // half the smallest subnormal
    expect(roundE4m3(3 * 2 ** -10)).toBe(2 ** -8); // 1.5 subnormal steps: 2 is even
    expect(roundE4m3(0.0146)).toBe(7 * 2 ** -9); // 7.475 subnormal steps
    expect(roundE4m3(0)).toBe(0);
  });

  it('agrees with the nearest grid value for random inputs and for every midpoint', () => {
    const rng = createRng(11);
    for (let i = 0; i < 3000; i++) {
      const v = (rng.next() * 2 - 1) * 2 ** (rng.int(18) - 10);
      expect(roundE4m3(v)).toBe(nearest(E4M3, v));
    }
    for (let i = 0; i + 1 < E4M3.length; i++) {
      const mid = (E4M3[i] + E4M3[i + 1]) / 2;
      expect(roundE4m3(mid)).toBe(E4M3[i % 2 === 0 ? i : i + 1]);
    }
  });
});

describe('FP4 E2M1 rounding', () => {
  it('rounds to ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}, ties to even mantissa, clamps at ±6 (hand-worked values)', () => {
    expect(E2M1).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6]);
    const cases: [number, number][] = [[0.2, 0], [0.25, 0], [0.75, 1], [1.25, 1], [1.75, 2], [2.4, 2], [2.5, 2], [3.5, 4], [5, 4], [5.5, 6], [7, 6], [-2.5, -2], [-0.3, -0.5]];
    for (const [v, want] of cases) expect(roundE2m1(v)).toBe(want);
  });

  it('agrees with the nearest grid value for random inputs', () => {
    const rng = createRng(12);
    for (let i = 0; i < 2000; i++) {
      const v = (rng.next() * 2 - 1) * 6;
      expect(roundE2m1(v)).toBe(nearest(E2M1, v));
    }
  });
});

describe('E8M0 block scales', () => {
  it('is the smallest power of two at or above the value', () => {
    expect(powerOfTwoAtLeast(1)).toBe(1);
    expect(powerOfTwoAtLeast(1 + 2 ** -52)).toBe(2);
    expect(powerOfTwoAtLeast(0.75)).toBe(1);
    expect(powerOfTwoAtLeast(3)).toBe(4);
    expect(powerOfTwoAtLeast(2 ** -130)).toBe(2 ** -130);
    expect(powerOfTwoAtLeast(2 ** 40 - 1)).toBe(2 ** 40);
  });

  it('FP8 round trip per 64: scale 2^⌈log2(amax/448)⌉, amax floored at 1e-4', () => {
    const x = new Float64Array(128);
    x[0] = 3.5; // amax/448 = 2^-7 exactly: the scale
    x[1] = 1; // 128 · 2^-7, on the grid
    x[2] = 0.3; // 38.4 · 2^-7 → steps of 4 in [32, 64): 40 · 2^-7
    x[3] = -0.33; // 42.24 → 44
    x[64] = 1e-6; // second block: amax floored to 1e-4, scale 2^⌈log2(1e-4/448)⌉ = 2^-22; 4.19 → 4
    fp8RoundTrip(x, 0, 128);
    expect(Array.from(x.subarray(0, 5))).toEqual([3.5, 1, 40 * 2 ** -7, -44 * 2 ** -7, 0]);
    expect(x[64]).toBe(4 * 2 ** -22);
    expect(() => fp8RoundTrip(new Float64Array(80), 0, 80)).toThrow(/whole blocks of 64/);
  });

  it('FP4 round trip per 32: scale 2^⌈log2(amax/6)⌉', () => {
    const x = new Float64Array(32);
    x.set([3, 1.2, 0.7, -1.25, 0.1]); // scale 2^⌈log2(0.5)⌉ = 0.5: 6, 2.4, 1.4, −2.5, 0.2 on the grid
    fp4RoundTrip(x, 0, 32);
    expect(Array.from(x.subarray(0, 5))).toEqual([3, 1, 0.75, -1, 0]);
    const y = new Float64Array(32).fill(0.01);
    y[0] = 3.1; // scale 1 (3.1/6 rounds up to 2^0): 3.1 → 3, 0.01 → 0
    fp4RoundTrip(y, 0, 32);
    expect(y[0]).toBe(3);
    expect(y[1]).toBe(0);
  });
});

describe('Hadamard rotation', () => {
  it('is x·H/√n with H[i][j] = (−1)^popcount(i & j) (Sylvester order), and its own inverse', () => {
    const popcount = (v: number) => v.toString(2).split('').filter((b) => b === '1').length;
    const rng = createRng(5);
    for (const n of [1, 2, 8, 32, 128]) {
      const x = Float64Array.from({ length: n + 3 }, () => rng.normal());
      const y = x.slice();
      hadamardInPlace(y, 3, n);
      for (let j = 0; j < n; j++) {
        let want = 0;
        for (let i = 0; i < n; i++) want += x[3 + i] * (popcount(i & j) % 2 ? -1 : 1);
        expect(y[3 + j]).toBeCloseTo(want / Math.sqrt(n), 12);
      }
      expect(Array.from(y.subarray(0, 3))).toEqual(Array.from(x.subarray(0, 3)));
      hadamardInPlace(y, 3, n);
      for (let i = 0; i < n; i++) expect(y[3 + i]).toBeCloseTo(x[3 + i], 12);
    }
  });
});
