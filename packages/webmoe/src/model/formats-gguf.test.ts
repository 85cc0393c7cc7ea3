import { describe, expect, it } from 'vitest';
import { createRng } from '../util/random';
import { decodeF64, tensorBytesF64 } from './decode-f64';
import { GGML_BLOCK_FORMATS, dequantize, f32ToF16, tensorLayout, type GgmlBlockFormat } from './formats';
import { quantize } from './quantize';

/** Blocks filled byte by byte from the definitions (docs/gguf.md#block-formats), checked through the oracle. */
describe('block formats: hand-made blocks', () => {
  it('q8_0: d then 32 int8 codes', () => {
    const b = new Uint8Array(48);
    new DataView(b.buffer).setUint16(0, f32ToF16(0.5), true);
    for (let i = 0; i < 32; i++) b[2 + i] = (i - 16) & 255;
    const w = decodeF64('q8_0', [1, 32], b);
    expect(Array.from(w)).toEqual(Array.from({ length: 32 }, (_, i) => 0.5 * (i - 16)));
  });

  it('q4_0: value j in the low nibble of byte j, value j+16 in its high nibble, minus 8', () => {
    const b = new Uint8Array(32);
    new DataView(b.buffer).setUint16(0, f32ToF16(2), true);
    for (let j = 0; j < 16; j++) b[2 + j] = j | ((15 - j) << 4);
    const w = decodeF64('q4_0', [1, 32], b);
    expect(w[3]).toBe(2 * (3 - 8));
    expect(w[16 + 3]).toBe(2 * (12 - 8));
  });

  it('q4_k / q5_k: 6-bit scales and mins of sub-blocks 0–3 in bytes 4–11, 4–7 split over bytes 12–15 and the top bits', () => {
    for (const fmt of ['q4_k', 'q5_k'] as const) {
      const b = new Uint8Array(fmt === 'q4_k' ? 144 : 176);
      const dv = new DataView(b.buffer);
      dv.setUint16(0, f32ToF16(1), true); // d
      dv.setUint16(2, f32ToF16(0.25), true); // dmin
      b[4 + 1] = 5; // scale of sub-block 1
      b[8 + 1] = 3; // min of sub-block 1
      b[4 + 2] = 0b11000000 | 1; // scale of sub-block 2 = 1; top bits: scale of 6 gets 0b11 << 4
      b[8 + 2] = 0b01000000; // top bits of sub-block 6's min: 0b01 << 4
      b[12 + 2] = 0x27; // sub-block 6: scale low 4 bits 7, min low 4 bits 2
      const qs = fmt === 'q4_k' ? 16 : 48;
      b[qs + 0 * 32 + 4] = 0x90; // sub-block 1 (high nibbles of the first 32 bytes), l = 4: code 9
      b[qs + 3 * 32 + 10] = 0x0b; // sub-block 6 (low nibbles of bytes 96–127), l = 10: code 11
      if (fmt === 'q5_k') b[16 + 4] = 1 << 1; // sub-block 1, l = 4: fifth bit
      const w = decodeF64(fmt, [1, 256], b);
      expect(w[32 + 4]).toBe(5 * (9 + (fmt === 'q5_k' ? 16 : 0)) - 0.25 * 3);
      expect(w[6 * 32 + 10]).toBe((7 | (3 << 4)) * 11 - 0.25 * (2 | (1 << 4)));
      expect(w[2 * 32]).toBe(0); // scale 1, code 0, min 0
    }
  });

  it('q6_k: ql, qh, int8 scales per 16, d last', () => {
    const b = new Uint8Array(224);
    const dv = new DataView(b.buffer);
    dv.setUint16(208, f32ToF16(0.5), true);
    dv.setInt8(192 + 8 + 2 * 2 + 1, -3); // value 128 + 64 + 16 + 5 = 213: half 1, quarter 2, l = 21 (second 16)
    b[64 + 21] = 0x0c << 4; // quarter 2 takes the high nibble of ql[64 + l]
    b[128 + 32 + 21] = 0b10 << 4; // quarter 2 takes bits 4–5 of qh[32 + l]
    const w = decodeF64('q6_k', [1, 256], b);
    expect(w[213]).toBe(0.5 * -3 * ((0x0c | (0b10 << 4)) - 32));
  });
});

const SHAPES: Record<GgmlBlockFormat, [number, number][]> = {
  q8_0: [[1, 32], [3, 33], [7, 96], [5, 161]],
  q4_0: [[1, 32], [3, 33], [7, 96], [5, 161]],
  q4_k: [[1, 256], [3, 512], [5, 768]],
  q5_k: [[1, 256], [3, 512], [5, 768]],
  q6_k: [[1, 256], [3, 512], [5, 768]],
};
/** rms(ŵ − w) / rms(w) of round-to-nearest on uniform values: step/√12 over amax/√3, i.e. half the step relative to amax, plus 15% (quantize-gguf.ts). */
const RMS: Record<GgmlBlockFormat, number> = { q8_0: 1.15 / 254, q4_0: 1.15 / 16, q4_k: 1.15 / 15, q5_k: 1.15 / 31, q6_k: 1.15 / 62 };

describe('block formats: quantize → dequantize against the float64 oracle', () => {
  for (const fmt of GGML_BLOCK_FORMATS) {
    it(`${fmt}: formats.ts decodes exactly as the oracle, within the rounding error; odd rows`, () => {
      const rng = createRng(fmt.length * 7 + fmt.charCodeAt(1));
      for (const [rows, cols] of SHAPES[fmt]) {
        const v = rng.uniform(rows * cols, -2, 2);
        for (let i = 0; i < v.length; i += 37) v[i] *= 1e-3; // small values beside large ones
        const layout = tensorLayout(fmt, [rows, cols]);
        const bytes = quantize(fmt, [rows, cols], v);
        expect(bytes.byteLength).toBe(layout.bytes);
        expect(tensorBytesF64(fmt, [rows, cols])).toBe(layout.bytes);
        const ref = decodeF64(fmt, [rows, cols], bytes);
        const got = dequantize(layout, bytes);
        for (let i = 0; i < ref.length; i++) if (got[i] !== Math.fround(ref[i])) expect(got[i], `${fmt} ${rows}x${cols} @${i}`).toBe(Math.fround(ref[i]));
        let e2 = 0;
        let v2 = 0;
        for (let i = 0; i < ref.length; i++) {
          e2 += (ref[i] - v[i]) ** 2;
          v2 += v[i] ** 2;
        }
        expect(Math.sqrt(e2 / v2), `${fmt} ${rows}x${cols}`).toBeLessThan(RMS[fmt]);
      }
    });
  }

  it('K-quants refuse widths that are not whole blocks of 256; q8_0/q4_0 pad a row to whole blocks', () => {
    for (const fmt of ['q4_k', 'q5_k', 'q6_k'] as const) {
      expect(() => tensorLayout(fmt, [4, 96])).toThrow(/multiple of 256/);
      expect(() => quantize(fmt, [1, 300], new Float32Array(300))).toThrow(/multiple of 256/);
    }
    expect(tensorLayout('q8_0', [3, 33]).q.bytes).toBe(3 * 2 * 34);
    expect(tensorLayout('q4_0', [3, 33]).q.bytes).toBe(3 * 2 * 18);
  });

  it('refuses non-finite values naming row and column', () => {
    const v = new Float32Array(512);
    v[300] = NaN;
    expect(() => quantize('q6_k', [2, 256], v)).toThrow(/row 1, column 44/);
  });
});
