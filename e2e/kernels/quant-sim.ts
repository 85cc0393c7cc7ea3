// DeepSeek-V4's QAT round trips (quantSim) against hand-worked values and a float64 reference that rounds
// by searching the formats' code tables (not by the kernel's quantum arithmetic). FP8 has no transform, so
// the kernel must match exactly; FP4 follows an f32 Hadamard transform, so inputs are redrawn until no value
// lies near a rounding midpoint or a scale boundary, and then it must match exactly too.
import { createRng, quantSim, type KernelShape, type QuantSimMode, type Rng } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelCase, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

const EXACT = { atol: 0, rtol: 0 };
// The rotation alone in f32: log2(n) ≤ 10 butterfly stages of values ~3, each rounding at 2^-24.
const ROTATION = { atol: 1e-5, rtol: 1e-5 };
/** |value/scale − midpoint| and |log2(amax/max) − integer| below these would let f32 Hadamard sums decide. */
const MIDPOINT_MARGIN = 1e-4;
const SCALE_MARGIN = 1e-5;
const REDRAWS = 200;

interface Format {
  /** Non-negative values of the codes 0, 1, … in code order (ties go to the even code). */
  grid: number[];
  max: number;
  block: number;
  amaxMin: number;
}

/** E4M3: codes eeee·mmm, bias 7; subnormals m/8·2⁻⁶; 0x7F (NaN) left out, so the top is 448. */
const E4M3: Format = {
  grid: Array.from({ length: 127 }, (_, c) => {
    const e = c >> 3, m = c & 7;
    return e === 0 ? (m / 8) * 2 ** -6 : (1 + m / 8) * 2 ** (e - 7);
  }),
  max: 448,
  block: 64,
  amaxMin: Math.fround(1e-4),
};

const E2M1: Format = { grid: [0, 0.5, 1, 1.5, 2, 3, 4, 6], max: 6, block: 32, amaxMin: 6 * 2 ** -126 };

/** The nearest grid value to v (|v| ≤ max), ties to the even code. */
function roundToGrid(v: number, f: Format): number {
  const a = Math.abs(v);
  let best = 0;
  for (let c = 1; c < f.grid.length; c++) {
    const d = Math.abs(f.grid[c] - a) - Math.abs(f.grid[best] - a);
    if (d < 0 || (d === 0 && c % 2 === 0)) best = c;
  }
  return Math.sign(v) * f.grid[best];
}

/** The least k with max·2^k ≥ a. */
function scaleExp(a: number, max: number): number {
  let k = Math.ceil(Math.log2(a / max));
  while (max * 2 ** (k - 1) >= a) k--;
  while (max * 2 ** k < a) k++;
  return k;
}

/** Rounds values [b, b + n) of v in place per block of the format; returns the narrowest decision margin. */
function roundBlocks(v: Float64Array, b: number, n: number, f: Format): number {
  let margin = Infinity;
  const mids = f.grid.slice(1).map((g, i) => (g + f.grid[i]) / 2);
  for (let s = 0; s < n; s += f.block) {
    const len = Math.min(f.block, n - s);
    let amax = 0;
    for (let i = 0; i < len; i++) amax = Math.max(amax, Math.abs(v[b + s + i]));
    const a = Math.max(amax, f.amaxMin);
    // The floor is exact; a measured amax may sit at a power-of-two boundary.
    const r = Math.log2(a / f.max);
    if (amax >= f.amaxMin) margin = Math.min(margin, Math.abs(r - Math.round(r)) / SCALE_MARGIN);
    const scale = 2 ** scaleExp(a, f.max);
    for (let i = 0; i < len; i++) {
      const u = Math.min(Math.max(v[b + s + i] / scale, -f.max), f.max);
      for (const m of mids) margin = Math.min(margin, Math.abs(Math.abs(u) - m) / MIDPOINT_MARGIN);
      v[b + s + i] = roundToGrid(u, f) * scale;
    }
  }
  return margin;
}

/** y = H·x/sqrt(n) over [b, b + n) with H[i, j] = (−1)^popcount(i & j), as a matrix product. */
function hadamardRef(v: Float64Array, b: number, n: number): void {
  const x = v.slice(b, b + n);
  const popcount = (z: number) => { let c = 0; for (; z; z &= z - 1) c++; return c; };
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += (popcount(i & j) % 2 ? -1 : 1) * x[j];
    v[b + i] = s / Math.sqrt(n);
  }
}

interface Layout {
  rows: number;
  heads: number;
  dim: number;
  headStride: number;
  rowStride: number;
  offset: number;
  count: number;
}

function vectorBase(l: Layout, v: number): number {
  return Math.floor(v / l.heads) * l.rowStride + (v % l.heads) * l.headStride + l.offset;
}

function bufferLength(l: Layout): number {
  return vectorBase(l, l.rows * l.heads - 1) + l.count + 5;
}

/** The whole buffer after the round trip, in float64; the narrowest margin over the vectors (≥ 1 is clear). */
function quantSimRef(x: Float32Array, l: Layout, mode: QuantSimMode): { y: Float64Array; margin: number } {
  const y = Float64Array.from(x);
  let margin = Infinity;
  for (let v = 0; v < l.rows * l.heads; v++) {
    const b = vectorBase(l, v);
    if (mode !== 'fp8') hadamardRef(y, b, l.count);
    if (mode !== 'hadamard') margin = Math.min(margin, roundBlocks(y, b, l.count, mode === 'fp8' ? E4M3 : E2M1));
  }
  return { y, margin };
}

/** Values whose magnitude varies per vector over ~30 octaves (the scale exponents), zeros in some. */
function drawVector(rng: Rng, x: Float32Array, b: number, n: number): void {
  const kind = rng.int(8);
  const mag = 2 ** (rng.int(32) - 22);
  for (let i = 0; i < n; i++) x[b + i] = kind === 0 ? 0 : (rng.next() * 2 - 1) * mag * (kind === 1 && i % 3 ? 1e-3 : 1);
}

/** Inputs whose FP4 decisions all clear the margins (each vector redrawn until it does). */
function makeInput(rng: Rng, l: Layout, mode: QuantSimMode): Float32Array {
  const x = rng.uniform(bufferLength(l), -3, 3);
  // The rotation alone has no decision to keep clear of, and one magnitude keeps its tolerance simple.
  if (mode === 'hadamard') return x;
  for (let v = 0; v < l.rows * l.heads; v++) {
    const b = vectorBase(l, v);
    const one: Layout = { ...l, rows: 1, heads: 1, offset: 0 };
    for (let attempt = 0; ; attempt++) {
      if (attempt === REDRAWS) throw new Error(`quant-sim test: vector ${v} has no draw clear of rounding boundaries`);
      drawVector(rng, x, b, l.count);
      if (mode !== 'hadamard-fp4' || quantSimRef(x.subarray(b, b + l.count), one, mode).margin > 1) break;
    }
  }
  return x;
}

// Hand-worked E4M3 round trips, per block of 64: [input, expected] pairs, the rest of the block zeros.
const FP8_KNOWN: [number, number][][] = [
  // amax 448: scale 1.
  [[448, 448], [-448, -448], [1.0625, 1], [1.1875, 1.25], [2 ** -10, 0], [3 * 2 ** -10, 2 ** -8], [17, 16], [19, 20],
    [0.3, 0.3125], [432, 448], [400, 384], [-0, 0], [7 * 2 ** -9, 7 * 2 ** -9], [7.5 * 2 ** -9, 2 ** -6]],
  // amax 56 = 448/8: scale 2⁻³.
  [[56, 56], [1, 1], [0.0625, 0.0625], [3.3, 3.25], [0.0008, 3 * 2 ** -12]],
  // amax one ulp above 56: scale 2⁻², so 0.0008 lands on the coarser subnormal grid.
  [[56.000003814697266, 56], [0.0008, 2 ** -10]],
  // amax 449: scale 2 (449/2 = 224.5 rounds to 224).
  [[449, 448], [3, 3], [-5, -5], [0.001, 0]],
  // amax below the 1e-4 floor: scale 2⁻²² (1e-4/448 ≈ 2^-22.1).
  [[1e-6, 2 ** -20], [-3e-7, -1.25 * 2 ** -22]],
  // A last block of 5 (count 325): amax 0.7, scale 2⁻⁹.
  [[0.1, 0.1015625], [-0.2, -0.203125], [0.05, 0.05078125], [0, 0], [0.7, 0.6875]],
];

// Hand-worked E2M1 round trips, per block of 32, of values the kernel's Hadamard transform produces exactly:
// the input is H·y/8 (n = 64: 1/sqrt(64) is exact), which the transform maps back to y.
const FP4_KNOWN: [number, number][][] = [
  // amax 6: scale 1; every tie of the grid goes to the even code.
  [[6, 6], [0.25, 0], [0.75, 1], [1.25, 1], [1.75, 2], [2.5, 2], [3.5, 4], [5, 4], [5.5, 6], [-0.25, 0], [-2.5, -2],
    [0.125, 0], [0.375, 0.5], [2.75, 3], [-6, -6], [1, 1]],
  // amax 12: scale 2.
  [[12, 12], [5, 4], [7, 8], [1, 1], [-0.5, 0], [0.75, 1], [9, 8], [10.5, 12]],
];

function knownCase(mode: QuantSimMode, shape: KernelShape): KernelCase {
  return {
    name: caseName({ mode, values: 'hand-worked', shape }),
    async run(ctx): Promise<Record<string, Comparison>> {
      const fp8 = mode === 'fp8';
      const blocks = fp8 ? FP8_KNOWN : FP4_KNOWN;
      const size = fp8 ? 64 : 32;
      const count = fp8 ? 5 * size + blocks[blocks.length - 1].length : 64;
      // One vector at offset 3 between sentinels (FP4: a second vector of zeros stays zeros).
      const l: Layout = { rows: 1, heads: fp8 ? 1 : 2, dim: count, headStride: count, rowStride: 2 * count, offset: 3, count };
      const y = new Float64Array(count);
      const want = new Float64Array(count);
      blocks.forEach((pairs, k) => pairs.forEach(([v, w], i) => { y[k * size + i] = v; want[k * size + i] = w; }));
      const x = new Float32Array(bufferLength(l)).fill(1.2345);
      const expected = Float64Array.from(x);
      x.set(y, 3);
      if (!fp8) {
        const h = Float64Array.from(y);
        hadamardRef(h, 0, count);
        x.set(h, 3);
        x.fill(0, 3 + count, 3 + 2 * count);
        expected.fill(0, 3 + count, 3 + 2 * count);
      }
      expected.set(want, 3);
      const io = new CaseBuffers(ctx, `quant-sim:${mode}:known`);
      try {
        const buf = io.input('x', x);
        await io.run(() => [quantSim(ctx, { x: buf, ...l, mode, shape })]);
        return { x: compare(await io.read(buf, x.length), expected, EXACT) };
      } finally {
        io.destroy();
      }
    },
  };
}

const LAYOUTS: Record<string, Omit<Layout, 'headStride' | 'rowStride' | 'offset' | 'count'> & Partial<Layout>> = {
  single: { rows: 1, heads: 1, dim: 64 },
  // The attention's KV: the first 448 of 512 values.
  kv: { rows: 7, heads: 3, dim: 512, count: 448 },
  strided: { rows: 5, heads: 2, dim: 100, headStride: 131, rowStride: 300, offset: 3 },
  long: { rows: 37, heads: 1, dim: 1000 },
  // The indexer's queries: heads of 128.
  indexer: { rows: 5, heads: 7, dim: 128 },
  short: { rows: 3, heads: 2, dim: 16, headStride: 21, offset: 2 },
  widest: { rows: 2, heads: 3, dim: 1024 },
  padded: { rows: 37, heads: 4, dim: 130, count: 128, offset: 1 },
};

const RANDOM = [
  ...grid({ mode: ['fp8'] as const, layout: ['single', 'kv', 'strided', 'long'], shape: ['workgroup'] as const }),
  ...grid({ mode: ['hadamard-fp4'] as const, layout: ['single', 'indexer', 'short', 'widest', 'padded'], shape: ['row', 'workgroup'] as const }),
  // The rotation alone (indexer_fp4_roundtrip: false): f32 butterflies against the float64 matrix product.
  ...grid({ mode: ['hadamard'] as const, layout: ['indexer', 'widest'], shape: ['row', 'workgroup'] as const }),
];

function randomCase(p: (typeof RANDOM)[number], seed: number): KernelCase {
  return {
    name: caseName(p),
    async run(ctx): Promise<Record<string, Comparison>> {
      const s = LAYOUTS[p.layout];
      const headStride = s.headStride ?? s.dim;
      const l: Layout = { headStride, rowStride: s.heads * headStride + (s.offset ?? 0), offset: 0, count: s.dim, ...s };
      const rng = createRng(seed);
      const x = makeInput(rng, l, p.mode);
      const io = new CaseBuffers(ctx, `quant-sim:${caseName(p)}`);
      try {
        const buf = io.input('x', x);
        await io.run(() => [quantSim(ctx, { x: buf, ...l, mode: p.mode, shape: p.shape })]);
        return { x: compare(await io.read(buf, x.length), quantSimRef(x, l, p.mode).y, p.mode === 'hadamard' ? ROTATION : EXACT) };
      } finally {
        io.destroy();
      }
    },
  };
}

export const quantSimFamily: KernelFamily = {
  cases: () => [
    knownCase('fp8', 'workgroup'),
    knownCase('hadamard-fp4', 'row'),
    knownCase('hadamard-fp4', 'workgroup'),
    ...RANDOM.map((p, i) => randomCase(p, 7001 + 31 * i)),
  ],
};
