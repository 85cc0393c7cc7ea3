// DeepSeek-V4 KV entries on the CPU side of the tests (docs/kernels.md#v4-kv-entries), written from the
// layout's description, and the check of values that went through a rounding after f32 arithmetic.
import { e4m3ToF32 } from 'webmoe';
import { E2M1_MAX, E4M3_MAX, powerOfTwoAtLeast, roundE2m1, roundE4m3 } from '@webmoe/reference/quant-sim';
import type { Comparison } from '../lib/compare';
import { compare } from '../lib/compare';

export const FP8_BLOCK = 64;
export const FP4_BLOCK = 32;

/** A block format of V4's round trips: per block, scale 2^⌈log2(max(amax, floor)/max)⌉, value round(x/scale)·scale. */
export interface BlockFormat {
  block: number;
  max: number;
  floor: number;
  round: (v: number) => number;
}

export const FP8: BlockFormat = { block: FP8_BLOCK, max: E4M3_MAX, floor: 1e-4, round: roundE4m3 };
export const FP4: BlockFormat = { block: FP4_BLOCK, max: E2M1_MAX, floor: 6 * 2 ** -126, round: roundE2m1 };

export function blockScale(amax: number, f: BlockFormat): number {
  return powerOfTwoAtLeast(Math.max(amax, f.floor) / f.max);
}

function amaxOf(v: ArrayLike<number>, b: number, n: number): number {
  let a = 0;
  for (let i = b; i < b + n; i++) a = Math.max(a, Math.abs(v[i]));
  return a;
}

/** v[b, b+n) through the round trip in place; returns the blocks' scales. */
export function roundTrip(v: Float64Array, b: number, n: number, f: BlockFormat): number[] {
  const scales: number[] = [];
  for (let k = b; k < b + n; k += f.block) {
    const s = blockScale(amaxOf(v, k, f.block), f);
    scales.push(s);
    for (let i = k; i < k + f.block; i++) v[i] = f.round(v[i] / s) * s;
  }
  return scales;
}

/** u32 words of an entry: [n/4 E4M3 codes] [⌈n/256⌉ E8M0 bytes] [r f32] with FP8, else D f32. */
export function entryWords(dim: number, rope: number, fp8: boolean): number {
  const n = dim - rope;
  return fp8 ? n / 4 + Math.ceil(n / FP8_BLOCK / 4) + rope : dim;
}

// E4M3 codes by value (positive codes; the sign is bit 7).
const E4M3_CODES = new Map<number, number>();
for (let c = 0; c < 0x7f; c++) E4M3_CODES.set(e4m3ToF32(c), c);

/**
 * Encodes `count` entries of `values` (count × dim, in float64). With FP8 the first n dims of each must be
 * the round trip's output: the scale is recomputed from the block's max and every value/scale must be a code.
 */
export function encodeEntries(values: Float64Array, count: number, dim: number, rope: number, fp8: boolean): Uint32Array {
  const words = entryWords(dim, rope, fp8);
  const out = new Uint32Array(count * words);
  const f32 = new Float32Array(out.buffer);
  const n = dim - rope;
  for (let e = 0; e < count; e++) {
    const v = values.subarray(e * dim, (e + 1) * dim);
    const w = e * words;
    if (!fp8) {
      f32.set(v, w);
      continue;
    }
    const bytes = new Uint8Array(out.buffer, w * 4, (n / 4 + Math.ceil(n / FP8_BLOCK / 4)) * 4);
    for (let k = 0; k < n / FP8_BLOCK; k++) {
      const s = blockScale(amaxOf(v, k * FP8_BLOCK, FP8_BLOCK), FP8);
      bytes[n + k] = Math.log2(s) + 127;
      for (let i = k * FP8_BLOCK; i < (k + 1) * FP8_BLOCK; i++) {
        const code = E4M3_CODES.get(Math.abs(v[i] / s));
        if (code === undefined) throw new Error(`encodeEntries: ${v[i]} is not an E4M3 value at scale ${s}`);
        bytes[i] = code | (v[i] < 0 || Object.is(v[i], -0) ? 0x80 : 0);
      }
    }
    f32.set(v.subarray(n), w + words - rope);
  }
  return out;
}

export interface DecodedEntry {
  values: Float64Array;
  /** FP8: each block's scale from its exponent byte. */
  scales: number[];
}

/** Entry `e` of `words` (FP8: codes × 2^(byte − 127); the rope dims as f32). */
export function decodeEntry(words: Uint32Array, e: number, dim: number, rope: number, fp8: boolean): DecodedEntry {
  const total = entryWords(dim, rope, fp8);
  const f32 = new Float32Array(words.buffer, words.byteOffset, words.length);
  const values = new Float64Array(dim);
  const w = e * total;
  if (!fp8) return { values: Float64Array.from(f32.subarray(w, w + dim)), scales: [] };
  const n = dim - rope;
  const bytes = new Uint8Array(words.buffer, words.byteOffset + w * 4, total * 4);
  const scales = Array.from({ length: n / FP8_BLOCK }, (_, k) => 2 ** (bytes[n + k] - 127));
  for (let i = 0; i < n; i++) values[i] = e4m3ToF32(bytes[i]) * scales[Math.floor(i / FP8_BLOCK)];
  values.set(f32.subarray(w + total - rope, w + total), n);
  return { values, scales };
}

/**
 * Rounded outputs of f32 arithmetic against float64 pre-rounding values y: an element passes when it lies
 * between the round trips of y − e and y + e (e = rel·|y| + abs·amax of its block), at a scale that the
 * block's max within the same margin allows. Rounding is monotone, so this admits exactly the other side
 * of a tie that f32 arithmetic may fall on, and nothing more. `scales`: the scales the entry stored, checked
 * against the allowed ones and used for the values. Returns the comparisons (exact against the accepted
 * values) and how many elements took the other side of a tie.
 */
export function compareRounded(got: ArrayLike<number>, y: ArrayLike<number>, f: BlockFormat, margin: { rel: number; abs: number },
  scales?: readonly number[]): { values: Comparison; scales?: Comparison; flips: number } {
  const ref = new Float64Array(y.length);
  const refScales: number[] = [];
  let flips = 0;
  for (let k = 0; k < y.length; k += f.block) {
    const amax = amaxOf(y, k, f.block);
    const s0 = blockScale(amax, f);
    const allowed = [s0, blockScale(amax * (1 - margin.rel), f), blockScale(amax * (1 + margin.rel), f)];
    const stored = scales?.[k / f.block];
    if (stored !== undefined) refScales.push(allowed.includes(stored) ? stored : s0);
    // The scale that explains the most elements (all of them when the block passes).
    let best = { ok: -1, ref: [] as number[] };
    for (const s of stored !== undefined ? [stored] : allowed) {
      let ok = 0;
      const r: number[] = [];
      for (let i = k; i < k + f.block; i++) {
        const e = margin.rel * Math.abs(y[i]) + margin.abs * amax;
        const inside = got[i] >= f.round((y[i] - e) / s) * s && got[i] <= f.round((y[i] + e) / s) * s;
        if (inside) ok++;
        r.push(inside ? got[i] : f.round(y[i] / s) * s);
      }
      if (ok > best.ok) best = { ok, ref: r };
    }
    best.ref.forEach((v, j) => {
      ref[k + j] = v;
      if (v === got[k + j] && v !== f.round(y[k + j] / s0) * s0) flips++;
    });
  }
  const values = compare(got, ref, { atol: 0, rtol: 0 });
  return scales ? { values, scales: compare(scales, refScales, { atol: 0, rtol: 0 }), flips } : { values, flips };
}
