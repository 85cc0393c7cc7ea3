// CPU quantizers: the inverse of formats.ts `dequantize`, producing the byte layouts it defines. Used by the
// converter (Node) and usable in a browser. Each format's error bound, with w the source value and ŵ its
// dequantized value (one more f32 rounding of ŵ comes on top of each):
//
//   f32  exact
//   f16  round to nearest even: |ŵ−w| ≤ 2^-11·|w| (|w| ≥ 2^-14), ≤ 2^-25 below; |w| > 65504 is an error
//   q8   per group of 32: scale = amax/127 rounded UP to f16, q = round(w/scale) in −127..127:
//        |ŵ−w| ≤ scale/2
//   q4   per group of 32: min16 = group min rounded DOWN to f16, scale = (max − min16)/15 rounded UP to
//        f16, q = round((w − min16)/scale) in 0..15: |ŵ−w| ≤ scale/2
//   bf16 round to nearest even: |ŵ−w| ≤ 2^-8·|w| (|w| ≥ 2^-126), ≤ 2^-134 below; exact for BF16 sources;
//        |w| that rounds beyond the bf16 range (≈ 3.39e38) is an error
//   fp8  per 128×128 block: scale = f32(amax/448), q = e4m3(w/scale) rounded to nearest even, saturating at
//        448: |ŵ−w| ≤ 2^-4·|w| where w/scale is a normal e4m3 (≥ 2^-6), ≤ 2^-10·scale below
//   fp4  per group of 32: scale = 2^⌈log2(max(amax, 6·2^-126)/6)⌉ (an e8m0 byte), q = e2m1(w/scale) rounded to
//        nearest even: |ŵ−w| ≤ max(scale, |w|)/4 (V4's own FP4 rounding)
//   u32  integers 0 … 2^32−1 only, exact; anything else is an error
//   q8_0, q4_0, q4_k, q5_k, q6_k: llama.cpp's blocks, quantize-gguf.ts
//
// Rounding the f16 scale up (and q4's min down) keeps every group's values inside the representable range,
// so the bounds hold without a clamp error. A non-finite source value is an error (RangeError naming its
// row and column; callers add the tensor name).
import { FP8_BLOCK, GROUP, f16ToF32, f32ToF16, groupsPerRow, tensorLayout, type TensorLayout, type WeightFormat } from './formats';
import { quantizeBlocks } from './quantize-gguf';

/** The sections of a tensor's bytes (see formats.ts), for a run of whole rows. */
export interface QuantizedRows {
  q: Uint8Array;
  scales: Uint8Array | null;
  mins: Uint8Array | null;
}

export const E4M3_MAX = 448;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** OCP E4M3 byte of the f32 nearest to v: round to nearest even, saturating to ±448 (the format has no infinities); NaN → 0x7F. */
export function f32ToE4m3(v: number): number {
  f32[0] = v;
  const bits = u32[0];
  const sign = (bits >>> 24) & 0x80;
  const a = bits & 0x7fffffff;
  if (a > 0x7f800000) return 0x7f;
  if (a >= 0x43e00000) return sign | 0x7e; // ≥ 448
  if (a < 0x3c800000) {
    // Below 2^-6: subnormal steps of 2^-9. Adding 2^23 makes f32 rounding (nearest even) round to an integer;
    // a result of 8 is the smallest normal, whose code is also 8.
    f32[0] = Math.abs(v) * 512 + 8388608;
    return sign | (f32[0] - 8388608);
  }
  // Normal: round the 23-bit mantissa to 3 bits, nearest even; a carry moves into the exponent as it should.
  const r = a + 0x7ffff + ((a >>> 20) & 1);
  return sign | ((r >>> 20) - 960); // 960 = (127 - 7) << 3 rebiases the exponent
}

let halfTable: Float32Array | null = null;

/** f16ToF32 as a table lookup: the quantizers decode two scales per group of 32 values. */
function half(h: number): number {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = f16ToF32(i);
  }
  return halfTable[h];
}

/** The f16 nearest to v on the side `dir` (+1: ≥ v, −1: ≤ v). Throws on overflow. */
export function f16Toward(v: number, dir: 1 | -1): number {
  // Start from an f16 next to v: in the normal range the f32 bits of v truncated to 10 mantissa bits,
  // elsewhere f32ToF16. Either lands on one of the two f16 neighbours of v; one step fixes the side.
  f32[0] = v;
  const b = u32[0];
  const a = b & 0x7fffffff;
  let h = a >= 0x38800000 && a < 0x477fe000 ? ((b >>> 16) & 0x8000) | ((a >>> 13) - 0x1c000) : f32ToF16(v);
  const x = half(h);
  if ((x - v) * dir < 0) {
    if (x === 0) h = dir > 0 ? 0x0001 : 0x8001;
    else h += (x > 0) === dir > 0 ? 1 : -1; // one f16 step towards `dir`: magnitude up or down by sign
  }
  if ((h & 0x7c00) === 0x7c00) throw new RangeError(`value ${v} is beyond the f16 range`);
  return h;
}

function nonFinite(values: Float32Array, from: number, to: number, cols: number): never {
  for (let i = from; i < to; i++) {
    if (!Number.isFinite(values[i])) throw new RangeError(`non-finite value ${values[i]} at row ${Math.floor(i / cols)}, column ${i % cols}`);
  }
  throw new RangeError('non-finite value');
}

/** Largest |x| over v[from, to); NaN or Infinity when any value is. (Math.max is branchless here, and
 * much faster on random data than a compare-and-branch, which mispredicts.) */
function absMax(v: Float32Array, from: number, to: number): number {
  let amax = 0;
  for (let i = from; i < to; i++) amax = Math.max(amax, Math.abs(v[i]));
  return amax;
}

/**
 * Calls `each` for every group of 32 columns (fewer at a row's end) with its first and end index in `v`,
 * its index r·G + g and its largest |w|; a non-finite value is an error.
 */
function eachGroup(v: Float32Array, rows: number, cols: number, each: (base: number, end: number, group: number, amax: number) => void): void {
  const G = groupsPerRow(cols);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      const base = r * cols + g * GROUP;
      const end = base + Math.min(GROUP, cols - g * GROUP);
      const amax = absMax(v, base, end);
      if (!Number.isFinite(amax)) nonFinite(v, base, end, cols);
      each(base, end, r * G + g, amax);
    }
  }
}

function quantizeQ8(v: Float32Array, rows: number, cols: number): QuantizedRows {
  const G = groupsPerRow(cols);
  const q = new Int8Array(rows * G * GROUP);
  const scales = new Uint16Array(rows * G);
  eachGroup(v, rows, cols, (base, end, group, amax) => {
    const h = f16Toward(amax / 127, 1);
    const s = half(h);
    const inv = s > 0 ? 1 / s : 0;
    // |x·inv| ≤ 127 because the scale was rounded up, so no clamp is needed. Shifting to positive values
    // lets truncation round (half up), which is much faster than Math.round here.
    for (let i = base, o = group * GROUP; i < end; i++, o++) q[o] = ((v[i] * inv + 128.5) | 0) - 128;
    scales[group] = h;
  });
  return { q: new Uint8Array(q.buffer), scales: new Uint8Array(scales.buffer), mins: null };
}

function quantizeQ4(v: Float32Array, rows: number, cols: number): QuantizedRows {
  const G = groupsPerRow(cols);
  const q = new Uint8Array((rows * G * GROUP) / 2);
  const scales = new Uint16Array(rows * G);
  const mins = new Uint16Array(rows * G);
  for (let r = 0; r < rows; r++) {
    for (let g = 0; g < G; g++) {
      const base = r * cols + g * GROUP;
      const end = base + Math.min(GROUP, cols - g * GROUP);
      let lo = v[base];
      let hi = lo;
      for (let i = base; i < end; i++) {
        lo = Math.min(lo, v[i]);
        hi = Math.max(hi, v[i]);
      }
      if (!Number.isFinite(lo) || !Number.isFinite(hi)) nonFinite(v, base, end, cols);
      const mh = f16Toward(lo, -1);
      const m = half(mh);
      const sh = f16Toward((hi - m) / 15, 1);
      const s = half(sh);
      const inv = s > 0 ? 1 / s : 0;
      // 0 ≤ (x − m)·inv ≤ 15 by the rounding directions, so no clamp; +0.5 then truncation rounds half up.
      let o = ((r * G + g) * GROUP) >> 1;
      let i = base;
      for (; i + 1 < end; i += 2, o++) q[o] = (((v[i] - m) * inv + 0.5) | 0) | ((((v[i + 1] - m) * inv + 0.5) | 0) << 4);
      if (i < end) q[o] = ((v[i] - m) * inv + 0.5) | 0; // odd tail; padding nibbles stay 0
      scales[r * G + g] = sh;
      mins[r * G + g] = mh;
    }
  }
  return { q, scales: new Uint8Array(scales.buffer), mins: new Uint8Array(mins.buffer) };
}

/** E4M3 codes of a run of f32 values (given with their bits), normal range inline as in f32ToE4m3. */
function encodeE4m3(scaled: Float32Array, bits: Uint32Array, n: number, q: Uint8Array, off: number): void {
  for (let k = 0; k < n; k++) {
    const b = bits[k];
    const a = b & 0x7fffffff;
    q[off + k] = a >= 0x3c800000 && a < 0x43e00000
      ? ((b >>> 24) & 0x80) | (((a + 0x7ffff + ((a >>> 20) & 1)) >>> 20) - 960)
      : f32ToE4m3(scaled[k]);
  }
}

/**
 * `rows` should be a multiple of 128 unless it ends the tensor: blocks start at row 0 of this run.
 * `scaleFor` gives a block's scale from its largest |w|.
 */
function quantizeFp8(v: Float32Array, rows: number, cols: number, scaleFor = (amax: number) => Math.fround(amax / E4M3_MAX)): QuantizedRows {
  const br = Math.ceil(rows / FP8_BLOCK);
  const bc = Math.ceil(cols / FP8_BLOCK);
  const q = new Uint8Array(rows * cols);
  const scales = new Float32Array(br * bc);
  const amax = new Float64Array(bc);
  const inv = new Float64Array(bc);
  // Whole rows are scaled into f32, then encoded from their bits: long simple loops run far faster
  // than per-block ones here.
  const scaled = new Float32Array(cols);
  const bits = new Uint32Array(scaled.buffer);
  for (let bi = 0; bi < br; bi++) {
    const r0 = bi * FP8_BLOCK;
    const r1 = Math.min(rows, r0 + FP8_BLOCK);
    amax.fill(0);
    for (let r = r0; r < r1; r++) {
      for (let bj = 0; bj < bc; bj++) amax[bj] = Math.max(amax[bj], absMax(v, r * cols + bj * FP8_BLOCK, r * cols + Math.min(cols, (bj + 1) * FP8_BLOCK)));
    }
    for (let bj = 0; bj < bc; bj++) {
      if (!Number.isFinite(amax[bj])) nonFinite(v, r0 * cols, r1 * cols, cols);
      const s = scaleFor(amax[bj]);
      scales[bi * bc + bj] = s;
      inv[bj] = s > 0 ? 1 / s : 0;
    }
    for (let r = r0; r < r1; r++) {
      const off = r * cols;
      for (let bj = 0; bj < bc; bj++) {
        const f = inv[bj];
        for (let c = bj * FP8_BLOCK, e = Math.min(cols, c + FP8_BLOCK); c < e; c++) scaled[c] = v[off + c] * f;
      }
      encodeE4m3(scaled, bits, cols, q, off);
    }
  }
  return { q, scales: new Uint8Array(scales.buffer), mins: null };
}

/** E2M1 code of v (|v| ≤ 6), nearest, ties to the even code; the sign bit is set for negative v. */
export function f32ToE2m1(v: number): number {
  const a = Math.abs(v);
  // Midpoints between the magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6; a tie goes to the even code, so the
  // comparison is ≤ where the lower neighbour's code is even and < where it is odd.
  const code = a <= 0.25 ? 0 : a < 0.75 ? 1 : a <= 1.25 ? 2 : a < 1.75 ? 3 : a <= 2.5 ? 4 : a < 3.5 ? 5 : a <= 5 ? 6 : 7;
  return v < 0 ? code | 8 : code;
}

/**
 * The e8m0 byte of the least power of two s with top·s ≥ max(amax, top·2^-126): every |w|/s of the group
 * then fits a format whose largest value is `top` (e2m1: 6, e4m3: 448). DeepSeek-V4's scale rule (ue8m0).
 */
export function e8m0ScaleByte(amax: number, top: number): number {
  const a = Math.max(amax, top * 2 ** -126);
  let e = Math.ceil(Math.log2(a / top));
  // log2 may be off by an ulp near powers of two: settle e exactly.
  while (top * 2 ** e < a) e++;
  while (e > -126 && top * 2 ** (e - 1) >= a) e--;
  return e + 127;
}

function quantizeFp4(v: Float32Array, rows: number, cols: number): QuantizedRows {
  const G = groupsPerRow(cols);
  const q = new Uint8Array((rows * G * GROUP) / 2);
  const scales = new Uint8Array(rows * G);
  eachGroup(v, rows, cols, (base, end, group, amax) => {
    const b = e8m0ScaleByte(amax, 6);
    const inv = 2 ** (127 - b); // exact: a power of two
    const o = (group * GROUP) >> 1;
    for (let i = base; i < end; i++) q[o + ((i - base) >> 1)] |= f32ToE2m1(v[i] * inv) << (((i - base) & 1) * 4);
    scales[group] = b;
  });
  return { q, scales, mins: null };
}

function quantizeU32(v: Float32Array, rows: number, cols: number): QuantizedRows {
  if (!Number.isFinite(absMax(v, 0, rows * cols))) nonFinite(v, 0, rows * cols, cols);
  const out = new Uint32Array(rows * cols);
  for (let i = 0; i < out.length; i++) {
    const x = v[i];
    if (!(Number.isInteger(x) && x >= 0 && x <= 0xffffffff)) throw new RangeError(`value ${x} at row ${Math.floor(i / cols)}, column ${i % cols} is not an integer in 0 … 2^32−1`);
    out[i] = x;
  }
  return { q: new Uint8Array(out.buffer), scales: null, mins: null };
}

/**
 * fp8 as DeepSeek-V4 releases it: power-of-two block scales (ue8m0), returned as their e8m0 bytes (F8_E8M0)
 * rather than fp8's f32. Used to write V4-style checkpoints; `rows` as for quantizeRows.
 */
export function quantizeFp8Ue8m0(values: Float32Array, rows: number, cols: number): { q: Uint8Array; scales: Uint8Array } {
  const parts = quantizeFp8(values, rows, cols, (amax) => 2 ** (e8m0ScaleByte(amax, E4M3_MAX) - 127));
  const f = new Float32Array(parts.scales!.buffer);
  // A power of two 2^(b−127) ≥ 2^-126 has the f32 exponent field b.
  return { q: parts.q, scales: Uint8Array.from(new Uint32Array(f.buffer), (bits) => bits >>> 23) };
}

function quantizeF16(v: Float32Array, rows: number, cols: number): QuantizedRows {
  const out = new Uint16Array(rows * cols);
  const bits = new Uint32Array(v.buffer, v.byteOffset, rows * cols);
  for (let i = 0; i < out.length; i++) {
    const b = bits[i];
    const a = b & 0x7fffffff;
    if (a >= 0x38800000 && a < 0x477ff000) {
      // Normal f16 range: round the mantissa to 10 bits, nearest even, and rebias the exponent (as f32ToF16).
      out[i] = ((b >>> 16) & 0x8000) | (((a + 0xfff + ((a >>> 13) & 1)) >>> 13) - 0x1c000);
      continue;
    }
    const h = f32ToF16(v[i]);
    if ((h & 0x7c00) === 0x7c00) {
      if (!Number.isFinite(v[i])) nonFinite(v, i, i + 1, cols);
      throw new RangeError(`value ${v[i]} at row ${Math.floor(i / cols)}, column ${i % cols} is beyond the f16 range (±65504)`);
    }
    out[i] = h;
  }
  return { q: new Uint8Array(out.buffer), scales: null, mins: null };
}

function quantizeBf16(v: Float32Array, rows: number, cols: number): QuantizedRows {
  const out = new Uint16Array(rows * cols);
  const bits = new Uint32Array(v.buffer, v.byteOffset, rows * cols);
  for (let i = 0; i < out.length; i++) {
    const b = bits[i];
    // Round the low 16 bits away, nearest even; a carry moves into the exponent as it should.
    const h = (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
    if ((h & 0x7f80) === 0x7f80) {
      if (!Number.isFinite(v[i])) nonFinite(v, i, i + 1, cols);
      throw new RangeError(`value ${v[i]} at row ${Math.floor(i / cols)}, column ${i % cols} is beyond the bf16 range`);
    }
    out[i] = h;
  }
  return { q: new Uint8Array(out.buffer), scales: null, mins: null };
}

function quantizeF32(v: Float32Array, rows: number, cols: number): QuantizedRows {
  if (!Number.isFinite(absMax(v, 0, rows * cols))) nonFinite(v, 0, rows * cols, cols);
  return { q: new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + rows * cols * 4)), scales: null, mins: null };
}

/**
 * Quantizes `rows` whole rows (row-major f32, `cols` each) into the sections of `format`. Runs of rows
 * concatenate section by section into the whole tensor's sections (for fp8, runs of 128·k rows).
 */
export function quantizeRows(format: WeightFormat, values: Float32Array, rows: number, cols: number): QuantizedRows {
  if (values.length < rows * cols) throw new RangeError(`quantizeRows: ${values.length} values for ${rows}×${cols}`);
  switch (format) {
    case 'f32': return quantizeF32(values, rows, cols);
    case 'f16': return quantizeF16(values, rows, cols);
    case 'q8': return quantizeQ8(values, rows, cols);
    case 'q4': return quantizeQ4(values, rows, cols);
    case 'fp8': return quantizeFp8(values, rows, cols);
    case 'bf16': return quantizeBf16(values, rows, cols);
    case 'fp4': return quantizeFp4(values, rows, cols);
    case 'u32': return quantizeU32(values, rows, cols);
    default: return { q: quantizeBlocks(format, values, rows, cols), scales: null, mins: null };
  }
}

/** Places sections into one tensor's bytes, as laid out by tensorLayout. */
export function packTensor(layout: TensorLayout, parts: QuantizedRows): Uint8Array {
  const out = new Uint8Array(layout.bytes);
  const put = (section: TensorLayout['q'] | null, bytes: Uint8Array | null, what: string) => {
    if ((section === null) !== (bytes === null) || (section && bytes!.byteLength !== section.bytes)) {
      throw new RangeError(`packTensor: ${what} holds ${bytes?.byteLength ?? 'no'} bytes, the ${layout.format} layout needs ${section?.bytes ?? 'none'}`);
    }
    if (section) out.set(bytes!, section.offset);
  };
  put(layout.q, parts.q, 'q');
  put(layout.scales, parts.scales, 'scales');
  put(layout.mins, parts.mins, 'mins');
  return out;
}

/** Quantizes a whole tensor (shape [rows, cols] or [n]) into its bytes. */
export function quantize(format: WeightFormat, shape: readonly number[], values: Float32Array): Uint8Array {
  const layout = tensorLayout(format, shape);
  return packTensor(layout, quantizeRows(format, values, layout.rows, layout.cols));
}
