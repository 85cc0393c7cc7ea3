import { describe, expect, it } from 'vitest';
import { createRng } from '../util/random';
import { decodeF64 } from './decode-f64';
import { E2M1_VALUES, FP8_BLOCK, GROUP, WEIGHT_FORMATS, dequantize, e4m3ToF32, f16ToF32, tensorLayout, type WeightFormat } from './formats';
import { E4M3_MAX, e8m0ScaleByte, f16Toward, f32ToE2m1, f32ToE4m3, quantize, quantizeFp8Ue8m0 } from './quantize';

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

/** All finite non-negative f16 values in code order (increasing), decoded by the independent decoder. */
const F16_POSITIVE = decodeF64('f16', [0x7c00], new Uint8Array(Uint16Array.from({ length: 0x7c00 }, (_, i) => i).buffer));

/** Nearest f16 code by binary search over the decoded values, ties to the even code (x within ±65504 + half a step). */
function nearestF16(x: number): number {
  const a = Math.abs(x);
  let lo = 0;
  let hi = F16_POSITIVE.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (F16_POSITIVE[mid] <= a) lo = mid;
    else hi = mid;
  }
  const dLo = a - F16_POSITIVE[lo];
  const dHi = F16_POSITIVE[hi] - a;
  const code = dLo < dHi || (dLo === dHi && (lo & 1) === 0) ? lo : hi;
  return (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | code;
}

describe('f16 quantization', () => {
  it('rounds to the nearest f16, ties to even, across the range', () => {
    const rng = createRng(13);
    const v = new Float32Array(40000);
    for (let i = 0; i < v.length; i++) v[i] = (rng.next() - 0.5) * 2 ** (rng.int(36) - 26);
    for (let i = 0; i < 2000; i++) v[i] = Math.fround((1 + (2 * rng.int(1024) + 1) / 2048) * 2 ** (rng.int(30) - 14)); // exact ties
    v.set([0, -0, 65504, -65504, 65519, 2 ** -14, 2 ** -15, 2 ** -24, 2 ** -25, 6e-8], 2000);
    const h = new Uint16Array(quantize('f16', [v.length], v).buffer.slice(0, 2 * v.length));
    const wrong = Array.from(v).filter((x, i) => h[i] !== nearestF16(x));
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

/** Quantizes, then decodes with the independent float64 decoder; formats.ts dequantize must agree with it. */
function roundTrip(format: WeightFormat, shape: number[], v: Float32Array) {
  const layout = tensorLayout(format, shape);
  const bytes = quantize(format, shape, v);
  expect(bytes.byteLength).toBe(layout.bytes);
  const out = decodeF64(format, shape, bytes);
  const f32 = dequantize(layout, bytes);
  expect(f32.every((x, i) => x === Math.fround(out[i])), `${format}: dequantize disagrees with the float64 decoding`).toBe(true);
  return { layout, bytes, out };
}

describe('quantize round-trips within each format\'s bound (decoded independently, in float64)', () => {
  const shapes = [[4, 96], [5, 70], [1, 33], [130, 200], [300]];
  for (const shape of shapes) {
    const rows = shape.length === 1 ? 1 : shape[0];
    const cols = shape[shape.length - 1];
    const v = sample(rows, cols, rows * 1000 + cols);
    const run = (format: WeightFormat) => roundTrip(format, shape, v);
    const name = `[${shape.join(', ')}]`;
    const G = Math.ceil(cols / GROUP);
    const group = (i: number) => Math.floor(i / cols) * G + Math.floor((i % cols) / GROUP);
    const err = (out: Float64Array) => (i: number) => Math.abs(out[i] - v[i]);

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

    it(`fp4 ${name}: scale = the least power of two ≥ amax/6 per 32, each code the nearest e2m1 (ties even), |err| ≤ max(scale, |w|)/4`, () => {
      const { layout, bytes, out } = run('fp4');
      const amax = new Array(rows * G).fill(0);
      for (let i = 0; i < v.length; i++) amax[group(i)] = Math.max(amax[group(i)], Math.abs(v[i]));
      const scaleBytes = bytes.subarray(layout.scales!.offset, layout.scales!.offset + rows * G);
      const scale = (g: number) => 2 ** (scaleBytes[g] - 127);
      amax.forEach((a, g) => {
        const want = Math.max(a, 6 * 2 ** -126);
        expect(6 * scale(g), `group ${g}`).toBeGreaterThanOrEqual(want);
        if (scaleBytes[g] > 1) expect(3 * scale(g), `group ${g}`).toBeLessThan(want);
      });
      // Each decoded value is the e2m1 grid point nearest to w/scale (exhaustive over the 15 values).
      const wrong: number[] = [];
      for (let i = 0; i < v.length; i++) {
        const y = v[i] / scale(group(i));
        const best = Math.min(...E2M1_VALUES.flatMap((m) => [m, -m]).map((g) => Math.abs(g - y)));
        if (Math.abs(out[i] / scale(group(i)) - y) !== best) wrong.push(i);
      }
      expect(wrong).toEqual([]);
      expect(worst(v.length, err(out), (i) => Math.max(scale(group(i)), Math.abs(v[i])) / 4 || 1e-30).ratio).toBeLessThanOrEqual(1);
    });
  }

  it('rejects non-finite values, naming the row and column', () => {
    const v = new Float32Array(64).fill(0.5);
    v[37] = NaN;
    for (const f of [...WEIGHT_FORMATS, 'u32' as const]) expect(() => quantize(f, [2, 32], v)).toThrow(/row 1, column 5/);
    expect(() => quantize('f16', [1, 2], new Float32Array([1, 1e6]))).toThrow(/f16 range/);
  });
});

/** Nearest e2m1 code by exhaustive search, ties to the even code; sign bit for negative values. */
function nearestE2m1(v: number): number {
  const a = Math.abs(v);
  let best = 0;
  for (let c = 1; c < 8; c++) {
    const d = Math.abs(E2M1_VALUES[c] - a);
    const dBest = Math.abs(E2M1_VALUES[best] - a);
    if (d < dBest || (d === dBest && (c & 1) === 0)) best = c;
  }
  return v < 0 ? best | 8 : best;
}

describe('f32ToE2m1 and e8m0ScaleByte', () => {
  it('round to the nearest e2m1, ties to the even code, at every midpoint and around it', () => {
    const values = [0, -0, 6, -6, 0.1, -5.999];
    for (let c = 0; c < 7; c++) {
      const mid = (E2M1_VALUES[c] + E2M1_VALUES[c + 1]) / 2;
      values.push(mid, -mid, mid + 1e-9, mid - 1e-9, E2M1_VALUES[c], -E2M1_VALUES[c]);
    }
    const rng = createRng(17);
    for (let i = 0; i < 5000; i++) values.push((rng.next() - 0.5) * 12);
    expect(values.filter((x) => f32ToE2m1(x) !== nearestE2m1(x))).toEqual([]);
    expect([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5].map(f32ToE2m1)).toEqual([0, 2, 2, 4, 4, 6, 6]); // the ties, by hand
  });

  it('gives the least power of two s with 6·s ≥ amax (at least 2^-126)', () => {
    const cases: [number, number][] = [[6, 127], [6.000001, 128], [3, 126], [3.0000001, 127], [12, 128], [0, 1], [1e-40, 1], [6 * 2 ** -126, 1], [7 * 2 ** -126, 2], [0.75, 124], [3e38, 253]];
    for (const [amax, b] of cases) expect(e8m0ScaleByte(amax, 6), `${amax}`).toBe(b);
    expect([448, 449, 224, 1, 0].map((a) => e8m0ScaleByte(a, 448))).toEqual([127, 128, 126, 119, 1]); // 448·2^-8 = 1.75 ≥ 1
    const rng = createRng(18);
    for (let i = 0; i < 2000; i++) {
      const a = rng.next() * 2 ** (rng.int(100) - 50);
      const b = e8m0ScaleByte(a, 6);
      expect(6 * 2 ** (b - 127)).toBeGreaterThanOrEqual(a);
      expect(6 * 2 ** (b - 128)).toBeLessThan(Math.max(a, 6 * 2 ** -126) * (1 + 1e-15) + (b === 1 ? 1 : 0));
    }
  });
});

describe('u32 tables', () => {
  it('store integers exactly and refuse anything else, naming the place', () => {
    const v = new Float32Array([0, 7, 255, 16777215]);
    expect(Array.from(new Uint32Array(quantize('u32', [2, 2], v).buffer.slice(0, 16)))).toEqual([0, 7, 255, 16777215]);
    expect(() => quantize('u32', [2, 2], new Float32Array([0, 1, 2.5, 3]))).toThrow(/row 1, column 0 is not an integer/);
    expect(() => quantize('u32', [1, 2], new Float32Array([0, -1]))).toThrow(/row 0, column 1/);
  });
});

/** A weight-like tensor: normal values (σ 0.02) with a few outliers, as trained matrices have. */
function weights(rows: number, cols: number, seed: number): Float32Array {
  const rng = createRng(seed);
  const v = new Float32Array(rows * cols);
  for (let i = 0; i < v.length; i++) v[i] = rng.normal() * 0.02;
  for (let k = 0; k < 20; k++) v[rng.int(v.length)] = (rng.next() - 0.5) * 0.5;
  return v;
}

/**
 * The whole-tensor error of each format, measured on one weight-like tensor and decoded independently:
 * RMS relative error ‖ŵ−w‖/‖w‖ and the largest |ŵ−w| relative to max|w|. The limits are the figures
 * measured when the quantizers were written, with a 10% margin; a quantizer change that loses accuracy
 * fails here (and the figures are printed for docs/model-folder.md's table).
 */
describe('measured quantization error', () => {
  const MEASURED: Partial<Record<WeightFormat, { rms: number; max: number }>> = {
    f32: { rms: 0, max: 0 },
    u32: { rms: 0, max: 0 },
    f16: { rms: 2.07e-4, max: 2.12e-4 },
    bf16: { rms: 1.66e-3, max: 1.64e-3 },
    q8: { rms: 5.45e-3, max: 3.82e-3 },
    q4: { rms: 7.87e-2, max: 3.74e-2 },
    fp8: { rms: 2.66e-2, max: 3.45e-2 },
    fp4: { rms: 1.19e-1, max: 9.07e-2 },
  };
  const shape = [384, 320];
  const v = weights(shape[0], shape[1], 31);
  it.each(WEIGHT_FORMATS.map((f) => [f]))('%s', (format) => {
    const { out } = roundTrip(format, shape, v);
    let num = 0;
    let den = 0;
    let maxErr = 0;
    let maxW = 0;
    for (let i = 0; i < v.length; i++) {
      num += (out[i] - v[i]) ** 2;
      den += v[i] ** 2;
      maxErr = Math.max(maxErr, Math.abs(out[i] - v[i]));
      maxW = Math.max(maxW, Math.abs(v[i]));
    }
    const rms = Math.sqrt(num / den);
    const max = maxErr / maxW;
    console.log(`${format}: RMS relative error ${rms.toExponential(2)}, max |err| / max |w| ${max.toExponential(2)}`);
    const measured = MEASURED[format];
    if (!measured) throw new Error(`no measured error for ${format}`);
    expect(rms).toBeLessThanOrEqual(measured.rms * 1.1);
    expect(max).toBeLessThanOrEqual(measured.max * 1.1);
  });
});

describe('quantizeFp8Ue8m0 (V4 release style)', () => {
  it('takes the least power of two ≥ amax/448 per 128×128 block as an e8m0 byte, and each code nearest to w/scale', () => {
    const [rows, cols] = [150, 260];
    const v = sample(rows, cols, 41);
    const { q, scales } = quantizeFp8Ue8m0(v, rows, cols);
    const bc = Math.ceil(cols / 128);
    const amax = new Array(Math.ceil(rows / 128) * bc).fill(0);
    const block = (i: number) => Math.floor(Math.floor(i / cols) / 128) * bc + Math.floor((i % cols) / 128);
    for (let i = 0; i < v.length; i++) amax[block(i)] = Math.max(amax[block(i)], Math.abs(v[i]));
    expect(scales.length).toBe(amax.length);
    amax.forEach((a, k) => {
      const s = 2 ** (scales[k] - 127);
      expect(448 * s).toBeGreaterThanOrEqual(a);
      expect(224 * s).toBeLessThan(a);
    });
    const wrong: number[] = [];
    for (let i = 0; i < v.length; i++) if (q[i] !== nearestE4m3(v[i] / 2 ** (scales[block(i)] - 127))) wrong.push(i);
    expect(wrong).toEqual([]);
  });
});
