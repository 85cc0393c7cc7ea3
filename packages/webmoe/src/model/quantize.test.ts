import { describe, expect, it } from 'vitest';
import { createRng } from '../util/random';
import { FP8_BLOCK, GROUP, WEIGHT_FORMATS, dequantize, e4m3ToF32, f16ToF32, f32ToF16, tensorLayout, type WeightFormat } from './formats';
import { E4M3_MAX, f16Toward, f32ToE4m3, quantize } from './quantize';

/** Nearest e4m3 by exhaustive search over the finite codes, ties to the even code (independent of f32ToE4m3). */
function nearestE4m3(v: number): number {
  const x = Math.min(Math.abs(v), E4M3_MAX);
  let best = 0;
  let bestErr = Infinity;
  for (let code = 0; code < 0x7f; code++) {
    const err = Math.abs(e4m3ToF32(code) - x);
    if (err < bestErr || (err === bestErr && (code & 1) === 0)) {
      best = code;
      bestErr = err;
    }
  }
  return (v < 0 || Object.is(v, -0) ? 0x80 : 0) | best;
}

describe('f32ToE4m3', () => {
  it('rounds to the nearest e4m3, ties to even, saturating at 448', () => {
    const rng = createRng(11);
    const values: number[] = [0, -0, 448, -448, 460, 1e6, -1e6, 2 ** -6, 2 ** -9, 2 ** -10, 3 * 2 ** -11, 2 ** -6 - 2 ** -10];
    for (let code = 0; code < 0x7e; code++) {
      const a = e4m3ToF32(code);
      const b = e4m3ToF32(code + 1);
      values.push(a, -a, Math.fround((a + b) / 2), Math.fround((a + b) / 2 + 1e-6 * a), Math.fround((a + b) / 2 - 1e-6 * a));
    }
    for (let i = 0; i < 20000; i++) values.push(Math.fround((rng.next() - 0.5) * 2 ** (rng.int(24) - 12)));
    expect(values.filter((v) => f32ToE4m3(v) !== nearestE4m3(v))).toEqual([]);
    expect(f32ToE4m3(NaN) & 0x7f).toBe(0x7f);
  });
});

describe('f16 quantization', () => {
  it('rounds like formats.ts f32ToF16 (nearest even) across the range, ties included', () => {
    const rng = createRng(13);
    const v = new Float32Array(40000);
    for (let i = 0; i < v.length; i++) v[i] = (rng.next() - 0.5) * 2 ** (rng.int(36) - 26);
    for (let i = 0; i < 2000; i++) v[i] = Math.fround((1 + (2 * rng.int(1024) + 1) / 2048) * 2 ** (rng.int(30) - 14)); // exact ties
    v.set([0, -0, 65504, -65504, 65519, 2 ** -14, 2 ** -15, 2 ** -24, 2 ** -25, 6e-8], 2000);
    const h = new Uint16Array(quantize('f16', [v.length], v).buffer.slice(0, 2 * v.length));
    const wrong = Array.from(v).filter((x, i) => h[i] !== f32ToF16(x));
    expect(wrong).toEqual([]);
  });
});

/** Nearest bf16 bits by comparing the two candidates around x in float64, ties to the even one. */
function nearestBf16(x: number): number {
  const f = new Float32Array([x]);
  const u = new Uint32Array(f.buffer);
  const down = u[0] >>> 16; // truncation: toward zero
  const up = down + 1; // one step away from zero (same sign)
  const value = (h: number) => {
    u[0] = h << 16;
    return f[0];
  };
  const dDown = Math.abs(x - value(down));
  const dUp = Math.abs(value(up) - x);
  return dDown < dUp || (dDown === dUp && (down & 1) === 0) ? down : up;
}

describe('bf16 quantization', () => {
  it('rounds to the nearest bf16, ties to even, across the range', () => {
    const rng = createRng(14);
    const v = new Float32Array(40000);
    for (let i = 0; i < v.length; i++) v[i] = (rng.next() - 0.5) * 2 ** (rng.int(80) - 40);
    for (let i = 0; i < 2000; i++) v[i] = Math.fround((1 + (2 * rng.int(128) + 1) / 256) * 2 ** (rng.int(60) - 30)); // exact ties
    v.set([0, -0, 2 ** -126, 2 ** -133, 2 ** -149, -(2 ** -140), 3e38, 1 + 2 ** -8, 1 + 3 * 2 ** -8], 2000);
    const h = new Uint16Array(quantize('bf16', [v.length], v).buffer.slice(0, 2 * v.length));
    expect(Array.from(v).filter((x, i) => h[i] !== nearestBf16(x))).toEqual([]);
  });

  it('is exact for values that are bf16 already (BF16 checkpoints)', () => {
    const rng = createRng(15);
    const v = rng.uniform(999, -3, 3);
    const bits = new Uint32Array(v.buffer);
    for (let i = 0; i < bits.length; i++) bits[i] &= 0xffff0000;
    const out = dequantize(tensorLayout('bf16', [37, 27]), quantize('bf16', [37, 27], v));
    expect(Array.from(new Uint32Array(out.buffer))).toEqual(Array.from(bits));
  });

  it('rejects values that round beyond the bf16 range', () => {
    expect(() => quantize('bf16', [1, 2], new Float32Array([1, 3.4028235e38]))).toThrow(/row 0, column 1 is beyond the bf16 range/);
  });
});

describe('f16Toward', () => {
  it('gives the nearest f16 on the requested side', () => {
    const rng = createRng(12);
    for (let i = 0; i < 5000; i++) {
      const v = (rng.next() - 0.5) * 2 ** (rng.int(40) - 28);
      const up = f16ToF32(f16Toward(v, 1));
      const down = f16ToF32(f16Toward(v, -1));
      expect(up).toBeGreaterThanOrEqual(v);
      expect(down).toBeLessThanOrEqual(v);
      // Adjacent (or equal): nothing representable strictly between them, so each is the nearest on its side.
      expect(up - down).toBeLessThanOrEqual(Math.max(Math.abs(v) * 2 ** -10, 2 ** -24) * 1.0000001);
    }
    expect(() => f16Toward(70000, 1)).toThrow(RangeError);
  });
});

/** Source values with the awkward cases: zeros, constant groups, one outlier, negative-only groups. */
function sample(rows: number, cols: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const v = new Float32Array(rows * cols);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.05;
  v.fill(0, 0, Math.min(cols, 40));
  if (rows > 1) v.fill(0.3, cols, cols + Math.min(cols, 33));
  if (rows > 2) v[2 * cols + 5] = 9;
  if (rows > 3) for (let c = 0; c < cols; c++) v[3 * cols + c] = -Math.abs(v[3 * cols + c]) - 1;
  return v;
}

/** Scales of a quantized tensor read straight from its bytes (f16 for q8/q4, f32 for fp8). */
function section(bytes: Uint8Array, s: { offset: number; bytes: number }, kind: 'f16' | 'f32'): number[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + s.offset, s.bytes);
  return kind === 'f16' ? Array.from({ length: s.bytes / 2 }, (_, i) => f16ToF32(dv.getUint16(2 * i, true)))
    : Array.from({ length: s.bytes / 4 }, (_, i) => dv.getFloat32(4 * i, true));
}

/** Largest err/bound over a tensor (≤ 1 means every element is within its bound), with where it happened. */
function worst(n: number, err: (i: number) => number, bound: (i: number) => number): { ratio: number; at: number } {
  let ratio = 0;
  let at = -1;
  for (let i = 0; i < n; i++) {
    const r = err(i) / bound(i);
    if (!(r <= ratio)) {
      ratio = r;
      at = i;
    }
  }
  return { ratio, at };
}

describe('quantize round-trips through dequantize within each format\'s bound', () => {
  const shapes = [[4, 96], [5, 70], [1, 33], [130, 200], [300]];
  for (const shape of shapes) {
    const rows = shape.length === 1 ? 1 : shape[0];
    const cols = shape[shape.length - 1];
    const v = sample(rows, cols, rows * 1000 + cols);
    const run = (format: WeightFormat) => {
      const layout = tensorLayout(format, shape);
      const bytes = quantize(format, shape, v);
      expect(bytes.byteLength).toBe(layout.bytes);
      return { layout, bytes, out: dequantize(layout, bytes) };
    };
    const name = `[${shape.join(', ')}]`;
    const G = Math.ceil(cols / GROUP);
    const group = (i: number) => Math.floor(i / cols) * G + Math.floor((i % cols) / GROUP);
    const err = (out: Float32Array) => (i: number) => Math.abs(out[i] - v[i]);

    it(`f32 ${name}: exact`, () => {
      expect(Array.from(run('f32').out)).toEqual(Array.from(v));
    });

    it(`f16 ${name}: |err| ≤ 2^-11·|w| (normal range)`, () => {
      const { out } = run('f16');
      expect(worst(v.length, err(out), (i) => Math.max(Math.abs(v[i]) * 2 ** -11, 2 ** -25)).ratio).toBeLessThanOrEqual(1);
    });

    it(`bf16 ${name}: |err| ≤ 2^-8·|w| (normal range)`, () => {
      const { out } = run('bf16');
      expect(worst(v.length, err(out), (i) => Math.max(Math.abs(v[i]) * 2 ** -8, 2 ** -134)).ratio).toBeLessThanOrEqual(1);
    });

    it(`q8 ${name}: |err| ≤ scale/2, scale = amax/127 rounded up to f16`, () => {
      const { layout, bytes, out } = run('q8');
      const scales = section(bytes, layout.scales!, 'f16');
      const amax = new Array(rows * G).fill(0);
      for (let i = 0; i < v.length; i++) amax[group(i)] = Math.max(amax[group(i)], Math.abs(v[i]));
      amax.forEach((a, g) => {
        expect(scales[g]).toBeGreaterThanOrEqual(a / 127);
        expect(scales[g]).toBeLessThanOrEqual((a / 127) * (1 + 2 ** -10) + 2 ** -24);
      });
      const s = (i: number) => scales[group(i)];
      expect(worst(v.length, err(out), (i) => s(i) / 2 + 1e-7 * (s(i) + Math.abs(v[i])) || 1e-30).ratio).toBeLessThanOrEqual(1);
    });

    it(`q4 ${name}: |err| ≤ scale/2 with min rounded down, scale = (max − min)/15 rounded up`, () => {
      const { layout, bytes, out } = run('q4');
      const scales = section(bytes, layout.scales!, 'f16');
      const mins = section(bytes, layout.mins!, 'f16');
      const lo = new Array(rows * G).fill(Infinity);
      const hi = new Array(rows * G).fill(-Infinity);
      for (let i = 0; i < v.length; i++) {
        lo[group(i)] = Math.min(lo[group(i)], v[i]);
        hi[group(i)] = Math.max(hi[group(i)], v[i]);
      }
      lo.forEach((l, g) => {
        expect(mins[g]).toBeLessThanOrEqual(l);
        expect(l - mins[g]).toBeLessThanOrEqual(Math.abs(l) * 2 ** -10 + 2 ** -24);
        expect(scales[g] * 15).toBeGreaterThanOrEqual(hi[g] - mins[g]);
        expect(scales[g]).toBeLessThanOrEqual(((hi[g] - mins[g]) / 15) * (1 + 2 ** -10) + 2 ** -24);
      });
      const s = (i: number) => scales[group(i)];
      expect(worst(v.length, err(out), (i) => s(i) / 2 + 1e-7 * (s(i) + Math.abs(v[i])) || 1e-30).ratio).toBeLessThanOrEqual(1);
    });

    it(`fp8 ${name}: scale = amax/448 per 128×128 block, |err| ≤ max(2^-4·|w|, 2^-10·scale)`, () => {
      const { layout, bytes, out } = run('fp8');
      const scales = section(bytes, layout.scales!, 'f32');
      const bc = Math.ceil(cols / FP8_BLOCK);
      const block = (i: number) => Math.floor(Math.floor(i / cols) / FP8_BLOCK) * bc + Math.floor((i % cols) / FP8_BLOCK);
      const amax = new Array(scales.length).fill(0);
      for (let i = 0; i < v.length; i++) amax[block(i)] = Math.max(amax[block(i)], Math.abs(v[i]));
      expect(scales).toEqual(amax.map((a) => Math.fround(a / 448)));
      const s = (i: number) => scales[block(i)];
      expect(worst(v.length, err(out), (i) => Math.max(Math.abs(v[i]) * 2 ** -4, s(i) * 2 ** -10) * (1 + 1e-6) || 1e-30).ratio).toBeLessThanOrEqual(1);
    });
  }

  it('rejects non-finite values, naming the row and column', () => {
    const v = new Float32Array(64).fill(0.5);
    v[37] = NaN;
    for (const f of WEIGHT_FORMATS) expect(() => quantize(f, [2, 32], v)).toThrow(/row 1, column 5/);
    expect(() => quantize('f16', [1, 2], new Float32Array([1, 1e6]))).toThrow(/f16 range/);
  });
});
