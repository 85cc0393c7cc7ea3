// The matrix-product family (dense, transposed, batched heads, output modes, MoE slots, grouped experts,
// row gather) against float64 CPU references written from the math. Weights are quantized with the
// engine's model/quantize.ts, and the references read them back with the tests' own decoder
// (e2e/lib/weights-ref.ts), never with the engine's; the values are shaped so that the codes include
// subnormal f16 scales and subnormal e4m3 values. Tensors sit at an offset inside a buffer filled with
// 0xFF bytes (NaN as f32/f16) so that a read outside the tensor shows.
import {
  WEIGHT_FORMATS, createKernelContext, acquireGpu, createRng, gatherRows, matmul, quantize, tensorLayout,
  uploadStorage, createStorage, recordDispatches, timeDispatches, type MatmulPrefill,
  type Dispatch, type KernelContext, type KernelShape, type Rng, type TensorLayout, type WeightFormat, type WeightRef,
} from 'webmoe';
import { compare, type Comparison, type Tolerance } from '../lib/compare';
import { decodeWeights } from '../lib/weights-ref';
import { caseName, grid, type KernelCase, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';
import { tileStartsRef } from './moe';

const SHAPES: readonly KernelShape[] = ['row', 'workgroup'];
const ALIGN = 256;
const align = (n: number, a = ALIGN) => Math.ceil(n / a) * a;

interface TestTensor {
  layout: TensorLayout;
  bytes: Uint8Array;
  /** Decoded by e2e/lib/weights-ref.ts, row-major. */
  w: Float64Array;
}

/**
 * A [rows, cols] tensor of values in (-1, 1) quantized to `format`. Every 7th group of 32 columns is
 * scaled by 1e-4 (its q8/q4 scales fall below f16's normal range, which a kernel must not flush to zero)
 * and every 13th value by 1e-5 (subnormal e4m3 codes).
 */
export function testTensor(format: WeightFormat, rows: number, cols: number, rng: Rng, withValues = true): TestTensor {
  const values = rng.uniform(rows * cols, -1, 1);
  for (let i = 0; i < values.length; i++) {
    if (Math.floor((i % cols) / 32) % 7 === 3) values[i] *= 1e-4;
    else if (i % 13 === 5) values[i] *= 1e-5;
  }
  const layout = tensorLayout(format, [rows, cols]);
  const bytes = quantize(format, [rows, cols], values);
  return { layout, bytes, w: withValues ? decodeWeights(layout, bytes) : new Float64Array(0) };
}

/** Tensors (experts) at a stride of `stride` bytes from byte `offset` of one buffer, with 0xFF everywhere else. */
function pack(tensors: TestTensor[], offset = ALIGN, stride = align(tensors[0].layout.bytes)): { bytes: Uint8Array; offset: number; stride: number } {
  const bytes = new Uint8Array(offset + tensors.length * stride + ALIGN).fill(0xff);
  tensors.forEach((t, i) => bytes.set(t.bytes, offset + i * stride));
  return { bytes, offset, stride };
}

const maxAbs = (v: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < v.length; i++) m = Math.max(m, Math.abs(v[i]));
  return m;
};

/** The arithmetic a kernel variant computes its products in: f32, or f16 partial sums (product_gemm's 'gemm-f16'). */
export type Arithmetic = 'f32' | 'f16';

/**
 * The error of one product term, relative to its bound: f32 accumulation 1e-5 (docs/kernels.md#tolerances);
 * f16 4e-3: x and the weights rounded to f16 (2^-11 each) and partial sums of up to 64 columns rounded in f16
 * (about √64 · 2^-11 per term over a step), docs/kernels.md#prefill-gemm-in-f16. A wrong index errs by O(1).
 */
export const TERM_ERROR: Record<Arithmetic, number> = { f32: 1e-5, f16: 4e-3 };

/** Accumulation of n products bounded by `term`: errors grow like √n. */
export function dotTolerance(n: number, term: number, arith: Arithmetic = 'f32'): Tolerance {
  return { atol: TERM_ERROR[arith] * Math.sqrt(n) * term + 1e-30, rtol: TERM_ERROR[arith] };
}

/** Σ_c W[row, c] · x[xBase + c] over `cols` in float64. */
function rowDot(t: TestTensor, row: number, x: ArrayLike<number>, xBase: number): number {
  const cols = t.layout.cols;
  let s = 0;
  for (let c = 0; c < cols; c++) s += t.w[row * cols + c] * x[xBase + c];
  return s;
}

const silu = (v: number) => v / (1 + Math.exp(-v));

type Run = (ctx: KernelContext) => Promise<Record<string, Comparison>>;

function withBuffers(ctx: KernelContext, name: string, body: (io: CaseBuffers) => Promise<Record<string, Comparison>>) {
  const io = new CaseBuffers(ctx, `matmul:${name}`);
  return body(io).finally(() => io.destroy());
}

function weightRef(io: CaseBuffers, name: string, packed: { bytes: Uint8Array; offset: number }, layout: TensorLayout): WeightRef {
  return { buffer: io.input(name, packed.bytes), offset: packed.offset, layout };
}

// ---------------------------------------------------------------------------------------------------
// Plain and transposed products: y[t, r] = Σ_c W[r, c] x[t, c]; y[t, c] = Σ_r W[r, c] x[t, r].
// ---------------------------------------------------------------------------------------------------

// Odd sizes throughout; 1031 columns give every lane of a 64-wide workgroup two units and a partial third.
export const SIZES = [
  { rows: 1, cols: 5, T: 1 },
  { rows: 7, cols: 33, T: 3 },
  { rows: 67, cols: 257, T: 1 },
  { rows: 133, cols: 130, T: 17 },
  { rows: 19, cols: 1031, T: 2 },
  // Columns a multiple of 4 with several tokens take matmul_tile (four rows per invocation, x as vec4s):
  // 133, 10 and 67 rows leave a last invocation with 1, 2 and 3 rows, 11 and 17 tokens a partial tile of 8.
  { rows: 133, cols: 132, T: 17 },
  { rows: 10, cols: 36, T: 11 },
  { rows: 67, cols: 36, T: 2 },
] as const;

export function plainCase(format: WeightFormat, shape: KernelShape, dir: 'n' | 't', size: { rows: number; cols: number; T: number }, arith: Arithmetic = 'f32'): KernelCase {
  const name = caseName({ op: 'mv', format, shape, dir, ...size });
  const run: Run = (ctx) => withBuffers(ctx, name, async (io) => {
    const { rows, cols, T } = size;
    const rng = createRng(rows * 131 + cols * 7 + T + WEIGHT_FORMATS.indexOf(format) * 1009 + (dir === 't' ? 5 : 0));
    const W = testTensor(format, rows, cols, rng);
    const [inLen, outLen] = dir === 'n' ? [cols, rows] : [rows, cols];
    const x = rng.uniform(T * inLen, -1, 1);
    const ref = new Float64Array(T * outLen);
    for (let t = 0; t < T; t++) {
      for (let o = 0; o < outLen; o++) {
        let s = 0;
        if (dir === 'n') s = rowDot(W, o, x, t * inLen);
        else for (let r = 0; r < rows; r++) s += W.w[r * cols + o] * x[t * inLen + r];
        ref[t * outLen + o] = s;
      }
    }
    const weight = weightRef(io, 'w', pack([W]), W.layout);
    const bufs = { x: io.input('x', x), y: io.output('y', T * outLen) };
    await io.run(() => [matmul(ctx, { weight, ...bufs, tokens: T, transposed: dir === 't', shape }, name)]);
    return { y: compare(await io.read(bufs.y, T * outLen), ref, dotTolerance(inLen, maxAbs(W.w), arith)) };
  });
  return { name, run };
}

// ---------------------------------------------------------------------------------------------------
// Attention heads: MLA's absorbed query q̃_h = W_UK[h]ᵀ q_nope_h, and o_h = W_UV[h] o_lat_h, over all heads
// in one dispatch each; kv_b is [H·(nope+v), kvLoraRank], per head nope rows of W_UK then v rows of W_UV.
// ---------------------------------------------------------------------------------------------------

const MLA = { H: 3, nope: 21, rope: 3, v: 27, lora: 67, T: 2 } as const;

export function headsCase(format: WeightFormat, shape: KernelShape, part: 'absorb' | 'uv'): KernelCase {
  const name = caseName({ op: 'heads', format, shape, part });
  const run: Run = (ctx) => withBuffers(ctx, name, async (io) => {
    const { H, nope, rope, v, lora, T } = MLA;
    const rng = createRng(4242 + WEIGHT_FORMATS.indexOf(format) * 17 + part.length);
    const W = testTensor(format, H * (nope + v), lora, rng);
    const weight = weightRef(io, 'kv_b', pack([W]), W.layout);
    const at = (h: number, i: number, c: number) => W.w[(h * (nope + v) + i) * lora + c];
    if (part === 'absorb') {
      const q = rng.uniform(T * H * (nope + rope), -1, 1);
      const ref = new Float64Array(T * H * lora);
      for (let t = 0; t < T; t++) {
        for (let h = 0; h < H; h++) {
          for (let c = 0; c < lora; c++) {
            let s = 0;
            for (let i = 0; i < nope; i++) s += at(h, i, c) * q[(t * H + h) * (nope + rope) + i];
            ref[(t * H + h) * lora + c] = s;
          }
        }
      }
      const bufs = { x: io.input('q', q), y: io.output('q_absorbed', T * H * lora) };
      await io.run(() => [matmul(ctx, {
        weight, ...bufs, tokens: T, transposed: true, rows: nope, rowStride: nope + v, batch: H,
        xBatchStride: nope + rope, xTokenStride: H * (nope + rope), shape,
      }, name)]);
      return { y: compare(await io.read(bufs.y, T * H * lora), ref, dotTolerance(nope, maxAbs(W.w))) };
    }
    // o_h written into the middle of wider rows, as a fused layout would.
    const yOffset = 5;
    const yTok = H * v + 9;
    const oLat = rng.uniform(T * H * lora, -1, 1);
    const yLen = yOffset + T * yTok;
    const ref = new Float64Array(yLen);
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        for (let j = 0; j < v; j++) ref[yOffset + t * yTok + h * v + j] = rowDot(W, h * (nope + v) + nope + j, oLat, (t * H + h) * lora);
      }
    }
    const bufs = { x: io.input('o_lat', oLat), y: io.output('o', yLen) };
    await io.run(() => [matmul(ctx, {
      weight, ...bufs, tokens: T, rows: v, rowBase: nope, rowStride: nope + v, batch: H, yOffset, yTokenStride: yTok, shape,
    }, name)]);
    return { y: compare(await io.read(bufs.y, yLen), ref, dotTolerance(lora, maxAbs(W.w))) };
  });
  return { name, run };
}

// ---------------------------------------------------------------------------------------------------
// Output modes: accumulate (recorded twice: the Dispatch is reusable) and the fused SwiGLU pair.
// ---------------------------------------------------------------------------------------------------

// Accumulating over T = 10 (130 columns: matmul_row, tiles of 8) and T = 20 (132: matmul_tile, tiles of
// 16) spans two token tiles: a tile that ran twice would add twice.
export const OUT_SIZES = [
  { mode: 'accumulate', rows: 67, cols: 130, T: 3 },
  { mode: 'accumulate', rows: 67, cols: 130, T: 10 },
  { mode: 'swiglu', rows: 67, cols: 130, T: 1 },
  { mode: 'swiglu', rows: 9, cols: 257, T: 5 },
  { mode: 'accumulate', rows: 67, cols: 132, T: 20 },
  { mode: 'swiglu', rows: 67, cols: 132, T: 9 },
  // DeepSeek-V4's clamped SwiGLU: the sums spread over about ±4, so a limit of 1.5 clamps most of them.
  { mode: 'swiglu-limit', rows: 67, cols: 130, T: 1 },
  { mode: 'swiglu-limit', rows: 67, cols: 132, T: 9 },
] as const;
const SWIGLU_LIMIT = 1.5;

export function outputCase(format: WeightFormat, shape: KernelShape, size: { mode: (typeof OUT_SIZES)[number]['mode']; rows: number; cols: number; T: number }, arith: Arithmetic = 'f32'): KernelCase {
  const name = caseName({ op: 'out', format, shape, ...size });
  const run: Run = (ctx) => withBuffers(ctx, name, async (io) => {
    const { mode, rows, cols, T } = size;
    const rng = createRng(777 + rows * 3 + T + WEIGHT_FORMATS.indexOf(format) * 101);
    const G = testTensor(format, rows, cols, rng);
    const x = rng.uniform(T * cols, -1, 1);
    const tol = dotTolerance(cols, maxAbs(G.w), arith);
    if (mode === 'accumulate') {
      const y0 = rng.uniform(T * rows, -2, 2);
      const ref = Float64Array.from(y0, (v, i) => v + 2 * rowDot(G, i % rows, x, Math.floor(i / rows) * cols));
      const bufs = { x: io.input('x', x), y: io.input('y', y0) };
      const weight = weightRef(io, 'w', pack([G]), G.layout);
      await io.run(() => {
        const d = matmul(ctx, { weight, ...bufs, tokens: T, output: 'accumulate', shape }, name);
        return [d, d];
      });
      return { y: compare(await io.read(bufs.y, T * rows), ref, { atol: 2 * tol.atol, rtol: tol.rtol }) };
    }
    // Gate and up in one buffer at different offsets, as a loader may pack them.
    const U = testTensor(format, rows, cols, rng);
    const limit = mode === 'swiglu-limit' ? SWIGLU_LIMIT : 0;
    const clampG = (g: number) => (limit ? Math.min(g, limit) : g);
    const clampU = (u: number) => (limit ? Math.min(Math.max(u, -limit), limit) : u);
    const packed = pack([G, U]);
    const buffer = io.input('gate_up', packed.bytes);
    const ref = new Float64Array(T * rows);
    let gMax = 0;
    let uMax = 0;
    for (let t = 0; t < T; t++) {
      for (let r = 0; r < rows; r++) {
        const g = clampG(rowDot(G, r, x, t * cols));
        const u = clampU(rowDot(U, r, x, t * cols));
        gMax = Math.max(gMax, Math.abs(silu(g)));
        uMax = Math.max(uMax, Math.abs(u));
        ref[t * rows + r] = silu(g) * u;
      }
    }
    const bufs = { x: io.input('x', x), y: io.output('y', T * rows) };
    await io.run(() => [matmul(ctx, {
      weight: { buffer, offset: packed.offset, layout: G.layout },
      up: { buffer, offset: packed.offset + packed.stride, layout: U.layout },
      ...bufs, tokens: T, shape, swigluLimit: limit,
    }, name)]);
    // silu' ≤ 1.1 and the clamps' slopes ≤ 1: the gate's error reaches y scaled by |u|, the up's by |silu(g)|.
    const e = dotTolerance(cols, Math.max(maxAbs(G.w), maxAbs(U.w)), arith).atol;
    return { y: compare(await io.read(bufs.y, T * rows), ref, { atol: e * (1.1 * uMax + gMax + 1), rtol: TERM_ERROR[arith] }) };
  });
  return { name, run };
}

// ---------------------------------------------------------------------------------------------------
// MoE decode: K slots read experts ids[k] of a buffer holding all E experts. gate/up: per-slot SwiGLU of
// one hidden state; down: y += Σ_k w_k · W_{ids[k]} h_k in one dispatch. `shared`: the buffer holds one
// more expert after the E (a shared expert), run as slot K with weight 1. `range`: the buffer holds only
// experts [base, base + count) of the E (+ shared), as one part of a group split over buffers does; the
// slots of other experts must leave their rows as they were (gate/up) or add nothing (down).
// ---------------------------------------------------------------------------------------------------

const MOE = { E: 5, K: 3, d: 130, inter: 19 } as const;

type ExpertRange = { base: number; count: number };

export function expertsCase(format: WeightFormat, shape: KernelShape, part: 'gate_up' | 'down', shared = false, range?: ExpertRange): KernelCase {
  const name = caseName({ op: 'experts', format, shape, part, ...(shared ? { shared: 'slot' } : {}), ...(range ? { range: `${range.base}+${range.count}` } : {}) });
  const run: Run = (ctx) => withBuffers(ctx, name, async (io) => {
    const { E, K, d, inter } = MOE;
    const rng = createRng(9001 + WEIGHT_FORMATS.indexOf(format) * 13 + part.length + (shared ? 7 : 0));
    // Ids at an offset of 1 in their buffer, as a router's output row might be.
    const ids = [3, 0, 4];
    const idsBuf = io.input('ids', new Uint32Array([2, ...ids]));
    // Slot k's expert; the shared one (index E of the buffer) in slot K.
    const S = shared ? 1 : 0;
    const slotExpert = [...ids, ...(shared ? [E] : [])];
    const slotArgs = { ...(shared ? { shared: E } : {}), ...(range ? { range } : {}) };
    const held = (e: number) => !range || (e >= range.base && e < range.base + range.count);
    // The buffer holds the experts of the range only (expert e at e - base).
    const packHeld = (all: TestTensor[]) => pack(range ? all.slice(range.base, range.base + range.count) : all);
    if (part === 'gate_up') {
      const gates = Array.from({ length: E + S }, () => testTensor(format, inter, d, rng));
      const ups = Array.from({ length: E + S }, () => testTensor(format, inter, d, rng));
      const gp = packHeld(gates);
      const up = packHeld(ups);
      const x = rng.uniform(d, -1, 1);
      // The rows of skipped slots keep what was there.
      const h0 = rng.uniform((K + S) * inter, -1, 1);
      const ref = Float64Array.from(h0);
      let computed = 0;
      for (let k = 0; k < K + S; k++) {
        const e = slotExpert[k];
        if (!held(e)) continue;
        for (let r = 0; r < inter; r++) {
          ref[k * inter + r] = silu(rowDot(gates[e], r, x, 0)) * rowDot(ups[e], r, x, 0);
          computed = Math.max(computed, Math.abs(ref[k * inter + r]));
        }
      }
      const bufs = { x: io.input('x', x), y: io.input('h', h0) };
      await io.run(() => [matmul(ctx, {
        weight: weightRef(io, 'gate', gp, gates[0].layout), up: weightRef(io, 'up', up, ups[0].layout), ...bufs,
        batch: K + S, xBatchStride: 0, experts: { ids: idsBuf, idsOffset: 1, strideBytes: gp.stride, ...slotArgs }, shape,
      }, name)]);
      const e = dotTolerance(d, Math.max(...gates.map((t) => maxAbs(t.w)), ...ups.map((t) => maxAbs(t.w)))).atol;
      return { y: compare(await io.read(bufs.y, (K + S) * inter), ref, { atol: e * (2.1 * computed + 2), rtol: 1e-5 }) };
    }
    const downs = Array.from({ length: E + S }, () => testTensor(format, d, inter, rng));
    const packed = packHeld(downs);
    const h = rng.uniform((K + S) * inter, -1, 1);
    const slotW = Float32Array.from([0, 0.5, 0.3, 0.2]); // from offset 1
    const y0 = rng.uniform(d, -1, 1);
    const ref = Float64Array.from(y0);
    for (let k = 0; k < K + S; k++) {
      if (!held(slotExpert[k])) continue;
      const wk = k < K ? slotW[1 + k] : 1;
      for (let r = 0; r < d; r++) ref[r] += wk * rowDot(downs[slotExpert[k]], r, h, k * inter);
    }
    const bufs = { x: io.input('h', h), y: io.input('y', y0) };
    await io.run(() => [matmul(ctx, {
      weight: weightRef(io, 'down', packed, downs[0].layout), ...bufs, batch: K + S, output: 'accumulate',
      experts: { ids: idsBuf, idsOffset: 1, strideBytes: packed.stride, weights: io.input('slot_w', slotW), weightsOffset: 1, sum: true, ...slotArgs }, shape,
    }, name)]);
    return { y: compare(await io.read(bufs.y, d), ref, dotTolerance((K + S) * inter, Math.max(...downs.map((t) => maxAbs(t.w))))) };
  });
  return { name, run };
}

// ---------------------------------------------------------------------------------------------------
// Grouped prefill: rows of x sorted by expert, segment e = [offsets[e], offsets[e+1]); one launch over
// all experts, an empty expert included, spans smaller than the largest segment. Segments of at most 4
// rows take matmul_wg on the workgroup shape, longer ones matmul_row.
// ---------------------------------------------------------------------------------------------------

// 36 columns take matmul_tile (tiles of 16 tokens: 37 rows in spans of 32 make two tiles and a partial
// one), 33 matmul_row (tiles of 8).
const GROUPED = [
  { counts: [5, 0, 11, 1], span: 8, cols: 33 },
  { counts: [2, 0, 4, 1], span: 2, cols: 33 },
  { counts: [5, 0, 19, 1], span: 16, cols: 36 },
  { counts: [37, 3, 0, 20], span: 32, cols: 36 },
] as const;

// With tile starts (docs/kernels.md#expert-tiles): the grid lists only the (expert, tile) pairs that exist,
// computed here by counting; `base` > 0 launches experts base … E-1 as one part of a split group (their
// offsets and tile starts read from index base on), whose rows of the others must stay untouched. Empty
// experts between full ones, a tile of one row, a bound above the tiles that exist (entries that exit).
const GROUPED_TILES = [
  { counts: [5, 0, 11, 1], tiles: 4, base: 0, cols: 33 },
  { counts: [0, 0, 3, 0, 0, 0, 1, 0, 0, 2], tiles: 1, base: 0, cols: 36 },
  { counts: [37, 3, 0, 20], tiles: 16, base: 1, cols: 36 },
] as const;

interface GroupedSize {
  counts: readonly number[];
  span?: number;
  cols: number;
  tiles?: number;
  base?: number;
}

export function groupedCase(format: WeightFormat, shape: KernelShape, mode: 'write' | 'swiglu', size: GroupedSize, arith: Arithmetic = 'f32'): KernelCase {
  const where = size.tiles === undefined ? { span: size.span } : { tiles: size.tiles, base: size.base };
  const name = caseName({ op: 'grouped', format, shape, mode, counts: size.counts.join('/'), ...where, cols: size.cols });
  const run: Run = (ctx) => withBuffers(ctx, name, async (io) => {
    const { counts, span, cols } = size;
    const base = size.base ?? 0;
    const rows = 19;
    const E = counts.length;
    const rng = createRng(31337 + WEIGHT_FORMATS.indexOf(format) * 7 + mode.length + (span ?? 0) + (size.tiles ?? 0) * 3);
    const offsets = [0];
    for (const n of counts) offsets.push(offsets[offsets.length - 1] + n);
    const N = offsets[E];
    const expertOf = (i: number) => offsets.findIndex((o, e) => i >= o && i < offsets[e + 1]);
    const gates = Array.from({ length: E }, () => testTensor(format, rows, cols, rng));
    const ups = mode === 'swiglu' ? Array.from({ length: E }, () => testTensor(format, rows, cols, rng)) : [];
    const x = rng.uniform(N * cols, -1, 1);
    const ref = new Float64Array(N * rows);
    for (let i = 0; i < N; i++) {
      const e = expertOf(i);
      if (e < base) continue;
      for (let r = 0; r < rows; r++) {
        const g = rowDot(gates[e], r, x, i * cols);
        ref[i * rows + r] = mode === 'swiglu' ? silu(g) * rowDot(ups[e], r, x, i * cols) : g;
      }
    }
    const gp = pack(gates);
    const bufs = { x: io.input('x', x), y: io.output('y', N * rows) };
    // The part's tensors begin at expert `base`'s.
    const at = (ref: WeightRef): WeightRef => ({ ...ref, offset: (ref.offset ?? 0) + base * gp.stride });
    const tiles = size.tiles === undefined ? [] : tileStartsRef(offsets, size.tiles);
    await io.run(() => [matmul(ctx, {
      weight: at(weightRef(io, 'gate', gp, gates[0].layout)),
      up: mode === 'swiglu' ? at(weightRef(io, 'up', pack(ups), ups[0].layout)) : undefined,
      ...bufs, tokens: N, batch: E - base, shape,
      groups: {
        offsets: io.input('offsets', new Uint32Array([...offsets, ...tiles])), offsetsOffset: base, strideBytes: gp.stride, maxRows: Math.max(...counts), span,
        tiles: size.tiles === undefined ? undefined : { tokens: size.tiles, offset: E + 1 + base },
      },
    }, name)]);
    const wMax = Math.max(...[...gates, ...ups].map((t) => maxAbs(t.w)));
    const e = dotTolerance(cols, wMax, arith).atol;
    const tol = mode === 'swiglu' ? { atol: e * (2.1 * maxAbs(ref) + 2), rtol: TERM_ERROR[arith] } : dotTolerance(cols, wMax, arith);
    return { y: compare(await io.read(bufs.y, N * rows), ref, tol) };
  });
  return { name, run };
}

// ---------------------------------------------------------------------------------------------------
// Embedding gather: exact (dequantization only: each format's value is one f32 rounding of the decoded
// code times its scale, plus its min for q4); an id past the table gives a zero row.
// ---------------------------------------------------------------------------------------------------

const GATHER = [
  { rows: 67, cols: 130, ids: [5, 66, 0, 5, 67] },
  { rows: 7, cols: 5, ids: [6, 1, 3] },
] as const;

function gatherCase(format: WeightFormat, size: { rows: number; cols: number; ids: readonly number[] }): KernelCase {
  const name = caseName({ op: 'gather', format, rows: size.rows, cols: size.cols, T: size.ids.length });
  const run: Run = (ctx) => withBuffers(ctx, name, async (io) => {
    const { rows, cols, ids } = size;
    const T = ids.length;
    const W = testTensor(format, rows, cols, createRng(55 + rows + WEIGHT_FORMATS.indexOf(format)));
    const yOffset = 3;
    const yTok = cols + 2;
    const yLen = yOffset + T * yTok;
    const ref = new Float64Array(yLen);
    ids.forEach((id, t) => {
      if (id < rows) for (let c = 0; c < cols; c++) ref[yOffset + t * yTok + c] = Math.fround(W.w[id * cols + c]);
    });
    const y = io.output('y', yLen);
    const weight = weightRef(io, 'table', pack([W]), W.layout);
    await io.run(() => [gatherRows(ctx, { weight, ids: io.input('ids', new Uint32Array([9, ...ids])), idsOffset: 1, y, tokens: T, yOffset, yTokenStride: yTok }, name)]);
    return { y: compare(await io.read(y, yLen), ref, { atol: 0, rtol: 0 }) };
  });
  return { name, run };
}

// One part of a split group (docs/paging.md#binding-limit): [3, 6) holds ids 3 and 4 and the shared expert
// and skips id 0; [0, 3) holds id 0 only, the shared expert outside. Few cases: the whole grid is costly.
const EXPERT_RANGES = [
  ...grid({ shape: SHAPES, part: ['gate_up', 'down'] as const }).map((p) => ({ ...p, format: 'q4' as const, range: { base: 3, count: 3 } })),
  ...(['gate_up', 'down'] as const).map((part) => ({ part, shape: 'workgroup' as const, format: 'f16' as const, range: { base: 0, count: 3 } })),
];

/** Every case of the family for formats that take any width. */
function allCases(formats: readonly WeightFormat[]): KernelCase[] {
  return [
    ...grid({ format: formats, shape: SHAPES, dir: ['n', 't'] as const, size: SIZES }).map((p) => plainCase(p.format, p.shape, p.dir, p.size)),
    ...grid({ format: formats, shape: SHAPES, part: ['absorb', 'uv'] as const }).map((p) => headsCase(p.format, p.shape, p.part)),
    ...grid({ format: formats, shape: SHAPES, size: OUT_SIZES }).map((p) => outputCase(p.format, p.shape, p.size)),
    ...grid({ format: formats, shape: SHAPES, part: ['gate_up', 'down'] as const, shared: [false, true] }).map((p) => expertsCase(p.format, p.shape, p.part, p.shared)),
    ...grid({ format: formats, shape: SHAPES, mode: ['write', 'swiglu'] as const, size: GROUPED }).map((p) => groupedCase(p.format, p.shape, p.mode, p.size)),
    ...grid({ format: formats, size: GATHER }).map((p) => gatherCase(p.format, p.size)),
  ];
}

export const matmulFamily: KernelFamily = {
  cases: () => [
    ...allCases(WEIGHT_FORMATS), ...EXPERT_RANGES.map((r) => expertsCase(r.format, r.shape, r.part, true, r.range)),
    // Tiles change which workgroups run, not how a format is read: one format, both shapes and modes.
    ...grid({ shape: SHAPES, size: GROUPED_TILES }).map((p, i) => groupedCase('q4', p.shape, i % 2 ? 'swiglu' : 'write', p.size)),
  ],
};

// llama.cpp's block formats kept from GGUF files (docs/gguf.md#block-formats), a family of their own.
// q8_0 and q4_0 take any width (rows padded to whole blocks of 32; 34- and 18-byte blocks put fields at
// every even byte), so they run every grid above; the K-quants need widths of whole blocks of 256 and
// run the plain, transposed and gather grids on such widths, with odd row counts and token counts.
export const ANY_WIDTH_BLOCKS = ['q8_0', 'q4_0'] as const;
export const K_QUANTS = ['q4_k', 'q5_k', 'q6_k'] as const;
export const K_SIZES = [
  { rows: 1, cols: 256, T: 1 },
  { rows: 7, cols: 512, T: 3 },
  { rows: 67, cols: 768, T: 17 },
  { rows: 19, cols: 1280, T: 2 },
  { rows: 11, cols: 256, T: 11 },
];
const K_GATHER = [{ rows: 7, cols: 512, ids: [6, 1, 3] }, { rows: 3, cols: 256, ids: [2, 9] }];

export const matmulGgufFamily: KernelFamily = {
  cases: () => [
    ...allCases(ANY_WIDTH_BLOCKS),
    ...grid({ format: K_QUANTS, shape: SHAPES, dir: ['n', 't'] as const, size: K_SIZES }).map((p) => plainCase(p.format, p.shape, p.dir, p.size)),
    ...grid({ format: K_QUANTS, size: K_GATHER }).map((p) => gatherCase(p.format, p.size)),
  ],
};

// ---------------------------------------------------------------------------------------------------
// Benchmark (not a test): a 4096×4096 matrix-vector product per format and shape. From the harness page:
//   const { benchMatmul } = await import('/e2e/kernels/matmul.ts'); console.table(await benchMatmul());
// ---------------------------------------------------------------------------------------------------

export interface BenchRow {
  format: WeightFormat;
  shape: KernelShape;
  ms: number;
  /** Weight bytes read per second. */
  gbps: number;
}

export async function benchMatmul(opts: { ctx?: KernelContext; size?: number; iters?: number; formats?: readonly WeightFormat[]; shapes?: readonly KernelShape[] } = {}): Promise<BenchRow[]> {
  const ctx = opts.ctx ?? createKernelContext(await acquireGpu());
  const n = opts.size ?? 4096;
  const iters = opts.iters ?? 3;
  const device = ctx.device;
  const rng = createRng(1);
  const x = uploadStorage(device, 'bench:x', rng.uniform(n, -1, 1));
  const y = createStorage(device, 'bench:y', n * 4);
  const out: BenchRow[] = [];
  const time = async (d: Dispatch, count: number) => {
    const t0 = performance.now();
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    recordDispatches(pass, Array<Dispatch>(count).fill(d));
    pass.end();
    device.queue.submit([encoder.finish()]);
    await device.queue.onSubmittedWorkDone();
    return (performance.now() - t0) / count;
  };
  for (const format of opts.formats ?? WEIGHT_FORMATS) {
    const W = testTensor(format, n, n, rng, false);
    const buffer = uploadStorage(device, `bench:${format}`, W.bytes);
    for (const shape of opts.shapes ?? SHAPES) {
      const d = matmul(ctx, { weight: { buffer, layout: W.layout }, x, y, shape }, `bench:${format}:${shape}`);
      await time(d, 1); // compiles the pipeline
      const ms = await time(d, iters);
      out.push({ format, shape, ms, gbps: W.layout.bytes / (ms * 1e6) });
    }
    buffer.destroy();
  }
  x.destroy();
  y.destroy();
  return out;
}

/** One prefill-sized product per format and prefill entry: GPU ms (timestamp queries where the device has them). */
export interface PrefillBenchRow {
  format: WeightFormat;
  prefill: MatmulPrefill;
  rows: number;
  cols: number;
  T: number;
  /** The first launch, pipeline compilation included (wall clock). */
  firstMs: number;
  ms: number;
  /** Weight bytes over the time: what one read of the weights per launch would move. */
  gbps: number;
  timestamps: boolean;
}

export async function benchPrefill(opts: { rows?: number; cols?: number; T?: number; formats?: readonly WeightFormat[]; prefill?: readonly MatmulPrefill[] } = {}): Promise<PrefillBenchRow[]> {
  const base = createKernelContext(await acquireGpu());
  const { rows = 2048, cols = 2048, T = 64 } = opts;
  const device = base.device;
  const rng = createRng(2);
  const x = uploadStorage(device, 'bench:x', rng.uniform(T * cols, -1, 1));
  const y = createStorage(device, 'bench:y', T * rows * 4);
  const out: PrefillBenchRow[] = [];
  for (const format of opts.formats ?? ['f32', 'q4'] as const) {
    const W = testTensor(format, rows, cols, rng, false);
    const buffer = uploadStorage(device, `bench:${format}`, W.bytes);
    for (const prefill of opts.prefill ?? ['tile', 'gemm'] as const) {
      const ctx: KernelContext = { ...base, matmulPrefill: prefill };
      const d = matmul(ctx, { weight: { buffer, layout: W.layout }, x, y, tokens: T }, `bench:${format}:${prefill}`);
      const t0 = performance.now();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      recordDispatches(pass, [d]);
      pass.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      const firstMs = performance.now() - t0;
      const ms = await timeDispatches(device, [d]);
      out.push({ format, prefill, rows, cols, T, firstMs, ms, gbps: W.layout.bytes / (ms * 1e6), timestamps: device.features.has('timestamp-query') });
    }
    buffer.destroy();
  }
  x.destroy();
  y.destroy();
  return out;
}
