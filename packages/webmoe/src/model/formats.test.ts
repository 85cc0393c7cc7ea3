import { describe, expect, it } from 'vitest';
import { createRng } from '../util/random';
import { decodeF64, tensorBytesF64 } from './decode-f64';
import {
  BITS_PER_WEIGHT, PRODUCT_FORMATS, TENSOR_FORMATS, WEIGHT_FORMATS, formatFitsCols, dequantize, e2m1ToF32, e4m3ToF32, e8m0ToF32, f16ToF32, tensorLayout,
} from './formats';

describe('WEIGHT_FORMATS', () => {
  it('lists the formats matrix products read, and the u32 tables beside them', () => {
    expect(WEIGHT_FORMATS).toEqual(['f32', 'f16', 'q8', 'q4', 'fp8', 'bf16', 'fp4']);
    expect(PRODUCT_FORMATS).toEqual([...WEIGHT_FORMATS, 'q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k']);
    expect(TENSOR_FORMATS).toEqual([...PRODUCT_FORMATS, 'u32']);
  });
});

describe('scalar decodings, from hand-written bit patterns', () => {
  it('f16', () => {
    const cases: [number, number][] = [[0x0000, 0], [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504],
      [0x0400, 2 ** -14], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x7c00, Infinity], [0xfc00, -Infinity]];
    for (const [h, v] of cases) expect(f16ToF32(h), h.toString(16)).toBe(v);
    expect(Object.is(f16ToF32(0x8000), -0)).toBe(true);
    expect(f16ToF32(0x7e00)).toBeNaN();
  });

  it('e4m3 (OCP "fn": bias 7, no infinities, 0x7F/0xFF NaN)', () => {
    const cases: [number, number][] = [[0x38, 1], [0xb8, -1], [0x3c, 1.5], [0x40, 2], [0x7e, 448], [0xfe, -448],
      [0x08, 2 ** -6], [0x07, 7 * 2 ** -9], [0x01, 2 ** -9], [0x00, 0], [0x77, 240], [0x30, 0.5]];
    for (const [b, v] of cases) expect(e4m3ToF32(b), b.toString(16)).toBe(v);
    expect(e4m3ToF32(0x7f)).toBeNaN();
    expect(e4m3ToF32(0xff)).toBeNaN();
  });

  it('e2m1: codes 0…7 are 0, .5, 1, 1.5, 2, 3, 4, 6; bit 3 is the sign', () => {
    const table = [0, 0.5, 1, 1.5, 2, 3, 4, 6];
    for (let c = 0; c < 16; c++) expect(e2m1ToF32(c)).toBe(c < 8 ? table[c] : -table[c - 8]);
  });

  it('e8m0: 2^(b − 127), 255 is NaN', () => {
    expect(e8m0ToF32(127)).toBe(1);
    expect(e8m0ToF32(128)).toBe(2);
    expect(e8m0ToF32(120)).toBe(1 / 128);
    expect(e8m0ToF32(254)).toBe(2 ** 127);
    expect(e8m0ToF32(0)).toBe(2 ** -127);
    expect(Math.fround(e8m0ToF32(0))).toBe(2 ** -127); // an f32 subnormal: exact
    expect(e8m0ToF32(255)).toBeNaN();
  });
});

describe('bf16', () => {
  it('lays out 2 bytes per element with no scales, padded to 16 bytes', () => {
    for (const [shape, bytes] of [[[3, 5], 32], [[4, 8], 64], [[7], 16], [[1, 9], 32]] as const) {
      const l = tensorLayout('bf16', shape);
      expect(l).toMatchObject({ format: 'bf16', q: { offset: 0, bytes: (shape as readonly number[]).reduce((a, b) => a * b) * 2 }, scales: null, mins: null, bytes });
    }
    expect(BITS_PER_WEIGHT.bf16).toBe(16);
  });

  it('dequantizes exactly: element i is the f32 whose high half is the 16 bits at word i/2, low half first (odd columns)', () => {
    const rng = createRng(21);
    const rows = 3;
    const cols = 7; // odd: rows 1 and 2 start in the middle of a 32-bit word
    const n = rows * cols;
    // Random f32 values truncated to bf16, plus the special cases: zeros, subnormals, the largest finite.
    const want = new Float32Array(n);
    const wantBits = new Uint32Array(want.buffer);
    for (let i = 0; i < n; i++) want[i] = (rng.next() - 0.5) * 2 ** (rng.int(40) - 20);
    wantBits.set([0x00000000, 0x80000000, 0x00010000, 0x807f0000, 0x7f7f0000, 0xff7f0000, 0x3f800000], 0);
    for (let i = 0; i < n; i++) wantBits[i] &= 0xffff0000;
    const layout = tensorLayout('bf16', [rows, cols]);
    const words = new Uint32Array(layout.bytes / 4);
    for (let i = 0; i < n; i++) words[i >> 1] |= (wantBits[i] >>> 16) << (16 * (i & 1));
    const out = dequantize(layout, new Uint8Array(words.buffer));
    expect(Array.from(new Uint32Array(out.buffer))).toEqual(Array.from(wantBits)); // bit-exact, -0 included
  });
});

describe('fp4', () => {
  it('lays out G·16 nibble bytes per row, then one e8m0 byte per group of 32, each section padded to 16 bytes', () => {
    // [3, 40]: G = 2 groups per row (the second holds 8 columns and 24 zero nibbles).
    expect(tensorLayout('fp4', [3, 40])).toEqual({ format: 'fp4', rows: 3, cols: 40, q: { offset: 0, bytes: 96 }, scales: { offset: 96, bytes: 6 }, mins: null, bytes: 112 });
    expect(tensorLayout('fp4', [32, 96])).toMatchObject({ q: { offset: 0, bytes: 1536 }, scales: { offset: 1536, bytes: 96 }, bytes: 1632 });
    expect(BITS_PER_WEIGHT.fp4).toBe(4.25);
  });

  it('dequantizes hand-packed bytes: element 2j in the low nibble of byte j, scale 2^(b − 127) per 32 columns', () => {
    const layout = tensorLayout('fp4', [2, 40]);
    const bytes = new Uint8Array(layout.bytes);
    bytes[0] = 0x71; // row 0: col 0 = code 1 (0.5), col 1 = code 7 (6)
    bytes[1] = 0xa4; // col 2 = code 4 (2), col 3 = code 10 (−1)
    bytes[16] = 0x0d; // row 0, group 1 (col 32) = code 13 (−3), col 33 = 0
    bytes[32 + 19] = 0xf9; // row 1, byte 19 = cols 38, 39: codes 9 (−0.5) and 15 (−6)
    bytes.set([128, 125, 127, 130], layout.scales!.offset); // row 0: ×2, ×1/4; row 1: ×1, ×8
    const out = dequantize(layout, bytes);
    const want = new Float32Array(80);
    want.set([1, 12, 4, -2]);
    want[32] = -0.75;
    want[40 + 38] = -4;
    want[40 + 39] = -48;
    expect(Array.from(out)).toEqual(Array.from(want));
  });
});

describe('u32', () => {
  it('is 4 bytes per element, read as unsigned integers (exact in f32 below 2^24)', () => {
    const layout = tensorLayout('u32', [2, 3]);
    expect(layout).toMatchObject({ q: { offset: 0, bytes: 24 }, scales: null, bytes: 32 });
    const bytes = new Uint8Array(32);
    new DataView(bytes.buffer).setUint32(4, 255, true);
    new DataView(bytes.buffer).setUint32(20, 0x00ffffff, true);
    expect(Array.from(dequantize(layout, bytes))).toEqual([0, 255, 0, 0, 0, 0x00ffffff]);
  });
});

describe('dequantize agrees with the independent float64 decoding', () => {
  // The K-quants take only the widths of whole blocks of 256 (formatFitsCols).
  const allShapes = [[5, 70], [1, 33], [130, 200], [40], [3, 7], [3, 512], [256]];
  const shapesOf = (format: (typeof TENSOR_FORMATS)[number]) => allShapes.filter((s) => formatFitsCols(format, s[s.length - 1]));
  it('in byte counts, for every format and shape', () => {
    for (const format of TENSOR_FORMATS) for (const shape of shapesOf(format)) expect(tensorLayout(format, shape).bytes, `${format} [${shape}]`).toBe(tensorBytesF64(format, shape));
  });

  it('bit for bit (after the one rounding to f32) on random bytes, for every format and shape', () => {
    const rng = createRng(22);
    for (const format of TENSOR_FORMATS) {
      for (const shape of shapesOf(format)) {
        const bytes = new Uint8Array(tensorLayout(format, shape).bytes);
        for (let i = 0; i < bytes.length; i++) bytes[i] = rng.int(256);
        const got = dequantize(tensorLayout(format, shape), bytes);
        const want = decodeF64(format, shape, bytes);
        const bad = Array.from(got).findIndex((g, i) => !Object.is(g, Math.fround(want[i])) && !(Number.isNaN(g) && Number.isNaN(want[i])));
        expect(bad, `${format} [${shape}] element ${bad}: ${got[bad]} vs ${want[bad]}`).toBe(-1);
      }
    }
  });
});
