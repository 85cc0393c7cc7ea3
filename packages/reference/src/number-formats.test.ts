// Decoders against values worked out by hand from each format's bit layout.
import { describe, expect, it } from 'vitest';
import { bf16Value, e2m1Value, e4m3Value, e8m0Value, f16Value } from './number-formats';

describe('number formats', () => {
  it('bfloat16 is the top half of a binary32', () => {
    expect(bf16Value(0x3f80)).toBe(1);
    expect(bf16Value(0xc040)).toBe(-3);
    expect(bf16Value(0x3e20)).toBe(0.15625); // 1.25 · 2^-3
    expect(bf16Value(0x0001)).toBe(2 ** -133); // the smallest subnormal: 2^-149 · 2^16
  });

  it('binary16', () => {
    expect(f16Value(0x3c00)).toBe(1);
    expect(f16Value(0xc500)).toBe(-5); // −1.25 · 2^2
    expect(f16Value(0x0001)).toBe(2 ** -24);
    expect(f16Value(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16Value(0x7bff)).toBe(65504);
    expect(f16Value(0xfc00)).toBe(-Infinity);
    expect(f16Value(0x7e00)).toBeNaN();
  });

  it('FP8 E4M3 (fn): bias 7, subnormals m/8 · 2^-6, no infinities, S.1111.111 NaN', () => {
    expect(e4m3Value(0x38)).toBe(1); // 0.0111.000
    expect(e4m3Value(0xb8)).toBe(-1);
    expect(e4m3Value(0x3c)).toBe(1.5);
    expect(e4m3Value(0x7e)).toBe(448); // 0.1111.110 = 1.75 · 2^8
    expect(e4m3Value(0x78)).toBe(256); // 0.1111.000: exponent 15 is a normal binade
    expect(e4m3Value(0x08)).toBe(2 ** -6);
    expect(e4m3Value(0x01)).toBe(2 ** -9);
    expect(e4m3Value(0x07)).toBe(7 * 2 ** -9);
    expect(Object.is(e4m3Value(0x80), -0)).toBe(true);
    expect(e4m3Value(0x7f)).toBeNaN();
    expect(e4m3Value(0xff)).toBeNaN();
  });

  it('E8M0 scales are 2^(b − 127), 0xFF NaN', () => {
    expect(e8m0Value(127)).toBe(1);
    expect(e8m0Value(130)).toBe(8);
    expect(e8m0Value(120)).toBe(1 / 128);
    expect(e8m0Value(0)).toBe(2 ** -127);
    expect(e8m0Value(254)).toBe(2 ** 127);
    expect(e8m0Value(255)).toBeNaN();
  });

  it('FP4 E2M1 nibbles: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}', () => {
    expect(Array.from({ length: 8 }, (_, c) => e2m1Value(c))).toEqual([0, 0.5, 1, 1.5, 2, 3, 4, 6]);
    expect(Array.from({ length: 8 }, (_, c) => e2m1Value(8 + c))).toEqual([-0, -0.5, -1, -1.5, -2, -3, -4, -6]);
  });
});
