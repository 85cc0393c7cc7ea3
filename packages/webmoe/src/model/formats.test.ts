import { describe, expect, it } from 'vitest';
import { createRng } from '../util/random';
import { BITS_PER_WEIGHT, WEIGHT_FORMATS, dequantize, tensorLayout } from './formats';

describe('WEIGHT_FORMATS', () => {
  it('keeps the kernels\' FORMAT indices (shaders/matmul.wgsl): new formats are appended', () => {
    expect(WEIGHT_FORMATS).toEqual(['f32', 'f16', 'q8', 'q4', 'fp8', 'bf16']);
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
