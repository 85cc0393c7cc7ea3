// DeepSeek-V4's window store and KV compressor (kernels/v4-kv.ts) against float64 references written from
// the equations: the window entries must hold exactly the FP8 round trip of kv[:n] (the stored codes and
// exponent bytes decoded on the CPU) and kv[n:] as given; the compressor's entries (gated pooling, RMSNorm,
// RoPE at the block's first position, then FP8, none, or Hadamard + FP4) within f32 rounding before the
// quantization, and on the quantization's grid after it (compareRounded in ./v4-entries).
import { compressorEmit, compressorStore, createRng, kvEntryWords, kvWindowStore, ropeTable, type KernelContext, type RopeConfig, type Rng } from 'webmoe';
import { hadamardInPlace } from '@webmoe/reference/quant-sim';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelCase, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';
import { invFreqRef, ropeRef } from './rope';
import { compareRounded, decodeEntry, FP4, FP8, FP8_BLOCK, roundTrip } from './v4-entries';

const EXACT = { atol: 0, rtol: 0 };
// Entries are RMS-normed (|v| ≲ 4): pooling ≤ 8 slots, a sum of ≤ 512 squares and a rotation, each a few
// f32 roundings. SwiftShader measures 1.6e-6 worst.
const TOL = { atol: 3e-6, rtol: 3e-6 };
// How far f32 may move a value before the round trip (the same arithmetic, plus the Hadamard transform's
// log2(D) sums for the indexer): an element this close to a rounding midpoint may land on either side.
const MARGIN = { rel: 1e-5, abs: 1e-6 };
const EPS = 1e-6;
// Words the kernels must not write hold this.
const SENTINEL = 0xdeadbeef;

/** V4's compressed layers: compress_rope_theta 160000 with YaRN factor 16 over 65536 positions. */
export function compressedRope(dim: number): RopeConfig {
  return { theta: 160000, dim, yarn: { factor: 16, originalMaxPositions: 65536, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 0 } };
}

/** Values whose magnitude changes per block of 64 over ~30 octaves (some blocks all zero, some below the FP8 floor). */
function kvRows(rng: Rng, rows: number, dim: number): Float32Array {
  const x = new Float32Array(rows * dim);
  for (let b = 0; b < x.length; b += FP8_BLOCK) {
    const kind = rng.int(10);
    const mag = kind === 0 ? 0 : kind === 1 ? 2 ** -16 : 2 ** (rng.int(30) - 22);
    for (let i = b; i < Math.min(b + FP8_BLOCK, x.length); i++) x[i] = (rng.next() * 2 - 1) * mag;
  }
  return x;
}

// ---- window store ----

// A window of 16 and chunks of up to 40: slots = 16 + 40 − 1. A chunk of 40 from 50 wraps the ring.
const WINDOW_SLOTS = 55;
const windowCases: KernelCase[] = grid({ dims: ['80/16', '512/64'], fp8: [true, false], tokens: [1, 7, 40], start: [0, 50, 4093] } as const)
  .map((p) => ({
    name: caseName({ mode: 'window', ...p }),
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const [dim, rope] = p.dims.split('/').map(Number);
      const { fp8, tokens, start } = p;
      const words = kvEntryWords(dim, rope, fp8);
      const rng = createRng(dim * 7 + tokens * 131 + start + (fp8 ? 1 : 0));
      const io = new CaseBuffers(ctx, `v4-kv:${caseName(p)}`);
      try {
        const kv = kvRows(rng, tokens, dim);
        const ring = io.input('ring', new Uint32Array(WINDOW_SLOTS * words).fill(SENTINEL));
        // The start position sits at index 1 of the position buffer, behind a decoy.
        const positions = io.input('pos', new Uint32Array([12345, start]));
        await io.run(() => [kvWindowStore(ctx, { kv: io.input('kv', kv), ring, positions, positionIndex: 1, tokens, dim, rope, slots: WINDOW_SLOTS, fp8 })]);
        const got = await io.readU32(ring, WINDOW_SLOTS * words);

        const n = dim - rope;
        const gotValues: number[] = [], refValues: number[] = [], gotScales: number[] = [], refScales: number[] = [];
        const written = new Set<number>();
        for (let t = 0; t < tokens; t++) {
          const slot = (start + t) % WINDOW_SLOTS;
          written.add(slot);
          const want = Float64Array.from(kv.subarray(t * dim, (t + 1) * dim));
          if (fp8) refScales.push(...roundTrip(want, 0, n, FP8));
          const e = decodeEntry(got, slot, dim, rope, fp8);
          gotValues.push(...e.values);
          gotScales.push(...e.scales);
          refValues.push(...want);
        }
        const untouched: number[] = [];
        for (let s = 0; s < WINDOW_SLOTS; s++) if (!written.has(s)) untouched.push(...got.subarray(s * words, (s + 1) * words));
        const out: Record<string, Comparison> = {
          entries: compare(gotValues, refValues, EXACT),
          untouched: compare(untouched, new Array(untouched.length).fill(SENTINEL), EXACT),
        };
        if (fp8) out.scales = compare(gotScales, refScales, EXACT);
        return out;
      } finally {
        io.destroy();
      }
    },
  }));

// ---- compressor ----

interface CompressorSpec {
  /** Dc and r. */
  dim: number;
  rope: number;
  ratio: number;
  quant: 'fp8' | 'none' | 'hadamard-fp4' | 'hadamard';
}

const SPECS: Record<string, CompressorSpec> = {
  // The tiny goldens' attention compressor (D 80, r 16; CSA ratio 4, HCA ratio 16) and its indexer's (Di 32).
  'csa-80': { dim: 80, rope: 16, ratio: 4, quant: 'fp8' },
  'csa-80-f32': { dim: 80, rope: 16, ratio: 4, quant: 'none' },
  'hca16-80': { dim: 80, rope: 16, ratio: 16, quant: 'fp8' },
  'index-32': { dim: 32, rope: 16, ratio: 4, quant: 'hadamard-fp4' },
  // The indexer with its FP4 simulation switched off (indexer_fp4_roundtrip: false): the rotation alone.
  'index-32-nofp4': { dim: 32, rope: 16, ratio: 4, quant: 'hadamard' },
  // The release's: D 512, r 64, ratios 4 and 128, Di 128.
  'csa-512': { dim: 512, rope: 64, ratio: 4, quant: 'fp8' },
  'hca128-512': { dim: 512, rope: 64, ratio: 128, quant: 'fp8' },
  'hca128-512-f32': { dim: 512, rope: 64, ratio: 128, quant: 'none' },
  'index-128': { dim: 128, rope: 64, ratio: 4, quant: 'hadamard-fp4' },
};

// Calls of these sizes in turn: blocks end inside calls, straddle them, and some calls complete several.
const CHUNKS = [3, 40, 1, 1, 37, 40, 2, 40, 40, 9];
const MAX_CHUNK = 40;

/** Rows p of the compressor's state, as the store writes them: values and logits (gate + ape), W wide each. */
interface StateRows {
  values: Map<number, Float32Array>;
  logits: Map<number, Float64Array>;
}

/** Entry b pooled from the rows (docs: per feature, softmax of the logits over the block's slots), normed, roped; before the quantization. */
function pooledEntry(rows: StateRows, b: number, s: CompressorSpec, norm: Float32Array, invFreq: number[]): Float64Array {
  const { dim, ratio } = s;
  const overlap = ratio === 4;
  const slots: { pos: number; col: number }[] = [];
  if (overlap && b > 0) for (let j = 0; j < ratio; j++) slots.push({ pos: (b - 1) * ratio + j, col: 0 });
  for (let j = 0; j < ratio; j++) slots.push({ pos: b * ratio + j, col: overlap ? dim : 0 });
  const y = new Float64Array(dim);
  for (let f = 0; f < dim; f++) {
    const z = slots.map(({ pos, col }) => rows.logits.get(pos)![col + f]);
    const m = Math.max(...z);
    let num = 0, den = 0;
    slots.forEach(({ pos, col }, i) => {
      const w = Math.exp(z[i] - m);
      den += w;
      num += w * rows.values.get(pos)![col + f];
    });
    y[f] = num / den;
  }
  let ss = 0;
  for (const v of y) ss += v * v;
  const r = 1 / Math.sqrt(ss / dim + EPS);
  for (let f = 0; f < dim; f++) y[f] *= r * norm[f];
  ropeRef(y, dim - s.rope, b * ratio, invFreq);
  return y;
}

function compressorCase(specName: string, start: number): KernelCase {
  const s = SPECS[specName];
  const p = { mode: 'compressor', spec: specName, start };
  return {
    name: caseName(p),
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const { dim, rope, ratio, quant } = s;
      const overlap = ratio === 4;
      const W = (overlap ? 2 : 1) * dim;
      const slots = ratio * Math.ceil((MAX_CHUNK + 2 * ratio) / ratio);
      const end = start + CHUNKS.reduce((a, b) => a + b, 0);
      const maxBlocks = Math.floor(end / ratio) + 2;
      const fp8 = quant === 'fp8';
      const words = kvEntryWords(dim, rope, fp8);
      const rng = createRng(dim * 31 + ratio * 7 + start + quant.length);
      const io = new CaseBuffers(ctx, `v4-kv:${caseName(p)}`);
      try {
        const ape = rng.uniform(ratio * W, -1, 1);
        const norm = rng.uniform(dim, 0.5, 1.5);
        const cfg = compressedRope(rope);
        // The block before the first call's (when there is one) is already in the ring, as earlier calls left it.
        const state = new Float32Array(slots * 2 * W).fill(NaN);
        const rows: StateRows = { values: new Map(), logits: new Map() };
        for (let pos = Math.max(0, start - ratio); pos < start; pos++) {
          const v = rng.uniform(W, -2, 2), z = rng.uniform(W, -3, 3);
          state.set(v, (pos % slots) * 2 * W);
          state.set(z, (pos % slots) * 2 * W + W);
          rows.values.set(pos, v);
          rows.logits.set(pos, Float64Array.from(z));
        }
        const bufs = {
          state: io.input('state', state),
          out: io.input('out', new Uint32Array(maxBlocks * words).fill(SENTINEL)),
          ape: io.input('ape', ape),
          norm: io.input('norm', norm),
          table: io.input('table', ropeTable(cfg)),
        };
        const starts: number[] = [];
        const calls: { kv: GPUBuffer; gate: GPUBuffer; tokens: number }[] = [];
        let pos = start;
        for (const T of CHUNKS) {
          const kv = rng.uniform(T * W, -2, 2), gate = rng.uniform(T * W, -3, 3);
          for (let t = 0; t < T; t++) {
            rows.values.set(pos + t, kv.subarray(t * W, (t + 1) * W));
            const z = new Float64Array(W);
            for (let f = 0; f < W; f++) z[f] = gate[t * W + f] + ape[((pos + t) % ratio) * W + f];
            rows.logits.set(pos + t, z);
          }
          starts.push(pos);
          calls.push({ kv: io.input(`kv${starts.length}`, kv), gate: io.input(`gate${starts.length}`, gate), tokens: T });
          pos += T;
        }
        const positions = io.input('pos', new Uint32Array(starts));
        await io.run(() => calls.flatMap((c, i) => [
          compressorStore(ctx, { ...bufs, ...c, positions, positionIndex: i, width: W, ratio, slots }, `store${i}`),
          compressorEmit(ctx, { ...bufs, positions, positionIndex: i, tokens: c.tokens, dim, rope, ratio, overlap, slots, eps: EPS, quant, maxBlocks }, `emit${i}`),
        ]));
        const got = await io.readU32(bufs.out, maxBlocks * words);

        const invFreq = invFreqRef(cfg);
        const first = Math.floor(start / ratio), last = Math.floor(end / ratio);
        const n = dim - rope;
        const plain = { got: [] as number[], ref: [] as number[] };
        const q = { got: [] as number[], ref: [] as number[], scales: [] as number[] };
        const untouched: number[] = [];
        for (let b = 0; b < maxBlocks; b++) {
          if (b < first || b >= last) {
            untouched.push(...got.subarray(b * words, (b + 1) * words));
            continue;
          }
          const y = pooledEntry(rows, b, s, norm, invFreq);
          const e = decodeEntry(got, b, dim, rope, fp8);
          if (quant === 'none') {
            plain.got.push(...e.values);
            plain.ref.push(...y);
          } else if (quant === 'fp8') {
            q.got.push(...e.values.subarray(0, n));
            q.ref.push(...y.subarray(0, n));
            q.scales.push(...e.scales);
            plain.got.push(...e.values.subarray(n));
            plain.ref.push(...y.subarray(n));
          } else if (quant === 'hadamard') {
            hadamardInPlace(y, 0, dim);
            plain.got.push(...e.values);
            plain.ref.push(...y);
          } else {
            hadamardInPlace(y, 0, dim);
            q.got.push(...e.values);
            q.ref.push(...y);
          }
        }
        const out: Record<string, Comparison> = { untouched: compare(untouched, new Array(untouched.length).fill(SENTINEL), EXACT) };
        if (plain.ref.length) out[quant === 'none' || quant === 'hadamard' ? 'entries' : 'rope dims'] = compare(plain.got, plain.ref, TOL);
        if (q.ref.length) {
          const r = compareRounded(q.got, q.ref, fp8 ? FP8 : FP4, MARGIN, fp8 ? q.scales : undefined);
          // The key says how many values f32 arithmetic put on the other side of a rounding tie.
          out[`${fp8 ? 'fp8 dims' : 'fp4 keys'} (${r.flips} at ties)`] = r.values;
          if (r.scales) out.scales = r.scales;
        }
        return out;
      } finally {
        io.destroy();
      }
    },
  };
}

const compressorCases = Object.keys(SPECS).flatMap((spec) => [compressorCase(spec, 0), compressorCase(spec, 4096)]);

export const v4KvFamily: KernelFamily = { cases: () => [...windowCases, ...compressorCases] };
