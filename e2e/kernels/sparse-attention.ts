// DeepSeek-V4's shared-KV attention (kernels/sparse-attention.ts) against a float64 reference written from
// the equations: per query position s and head h, the window's entries and (HCA) every complete block or
// (CSA) the selected ones; softmax with the sink's logit in the denominator; the inverse RoPE of the
// output's rope dims at s. Entries are encoded on the CPU (./v4-entries) from values on the FP8 grid, so the
// reference sees exactly what the kernel decodes; ring slots and blocks a query must not see hold garbage.
import { createRng, kvEntryWords, ropeTable, sparseAttention, type KernelContext, type RopeConfig, type Rng } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelCase, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';
import { invFreqRef, ropeRef } from './rope';
import { encodeEntries, FP8, roundTrip } from './v4-entries';
import { compressedRope } from './v4-kv';

// o is a convex combination of entries (|v| < 2) rotated; scores are f32 dot products of up to 512 terms
// (|score| ≲ 6) whose rounding moves the weights by ~1e-7 relative. SwiftShader measures 8.6e-7 worst.
const TOL = { atol: 2e-6, rtol: 1e-5 };
// Unused ring slots and compressed entries: f32 3.4e38, or FP8 codes 0x7F (NaN, decoded ±480) at scale 1.
const GARBAGE = 0x7f7f7f7f;
const MAX_CHUNK = 40;
const UNUSED = 0xffffffff;

type Kind = 'swa' | 'hca' | 'csa';

interface Dims {
  dim: number;
  rope: number;
  window: number;
  /** HCA's block length; CSA's is 4. */
  hcaRatio: number;
  topk: number;
}

// The tiny goldens' sizes, and the release's.
const TINY: Dims = { dim: 80, rope: 16, window: 16, hcaRatio: 16, topk: 8 };
const RELEASE: Dims = { dim: 512, rope: 64, window: 128, hcaRatio: 128, topk: 64 };

interface Case {
  dims: Dims;
  kind: Kind;
  heads: number;
  tokens: number;
  start: number;
  fp8: boolean;
  /** attn_sink: 'large' dominates the denominator, 'small' barely counts. */
  sink: 'large' | 'small';
  /** row; wg: one split; wg-split3: three (some empty when few candidates); wg-auto: chooseSplits'; wg-tile1: tiles of one entry. */
  variant: 'row' | 'wg' | 'wg-split3' | 'wg-auto' | 'wg-tile1';
  topk?: number;
}

/** Values drawn as a projection's output would be, then (FP8) the round trip of the first n per 64. */
function entryValues(rng: Rng, count: number, d: Dims, fp8: boolean): Float64Array {
  const v = Float64Array.from(rng.uniform(count * d.dim, -2, 2));
  if (fp8) for (let e = 0; e < count; e++) roundTrip(v, e * d.dim, d.dim - d.rope, FP8);
  return v;
}

/** A random subset of [0, visible) of size min(k, visible) in random order, padded with UNUSED. */
function selection(rng: Rng, visible: number, k: number): number[] {
  const ids = Array.from({ length: visible }, (_, i) => i);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  return [...ids.slice(0, k), ...new Array(Math.max(0, k - visible)).fill(UNUSED)];
}

/**
 * o[t, h] for query position s = start + t: Σ_i e^{score_i} kv_i / (Σ_i e^{score_i} + e^{sink_h}),
 * score_i = q[t, h]·kv_i·scale over the candidates' entries, then o[n:] rotated by −s.
 */
function attentionRef(q: Float32Array, candidates: (t: number) => Float64Array[], sink: Float32Array, c: Case, scale: number,
  invFreq: number[]): Float64Array {
  const { dim } = c.dims;
  const out = new Float64Array(c.tokens * c.heads * dim);
  for (let t = 0; t < c.tokens; t++) {
    const kvs = candidates(t);
    for (let h = 0; h < c.heads; h++) {
      const qb = (t * c.heads + h) * dim;
      const scores = kvs.map((kv) => {
        let s = 0;
        for (let d = 0; d < dim; d++) s += q[qb + d] * kv[d];
        return s * scale;
      });
      const m = Math.max(sink[h], ...scores);
      let den = Math.exp(sink[h] - m);
      const w = scores.map((s) => Math.exp(s - m));
      for (const x of w) den += x;
      kvs.forEach((kv, i) => {
        for (let d = 0; d < dim; d++) out[qb + d] += (w[i] / den) * kv[d];
      });
      ropeRef(out, qb + dim - c.dims.rope, -(c.start + t), invFreq);
    }
  }
  return out;
}

function attentionCase(c: Case): KernelCase {
  const ratio = c.kind === 'swa' ? 0 : c.kind === 'csa' ? 4 : c.dims.hcaRatio;
  const topk = c.topk ?? c.dims.topk;
  const name = caseName({ dim: c.dims.dim, kind: c.kind, ...(c.kind === 'csa' ? { topk } : {}), heads: c.heads, tokens: c.tokens, start: c.start,
    fp8: c.fp8, sink: c.sink, variant: c.variant });
  return {
    name,
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const { dim, rope, window } = c.dims;
      const { heads, tokens, start, fp8 } = c;
      const rng = createRng(dim * 13 + heads * 101 + tokens * 7 + start + ratio * 3 + (fp8 ? 1 : 0) + c.variant.length);
      const words = kvEntryWords(dim, rope, fp8);
      const slots = window + MAX_CHUNK - 1;
      const end = start + tokens;
      const io = new CaseBuffers(ctx, `sparse-attention:${name}`);
      try {
        // The ring holds the last `slots` positions; earlier slots (a short sequence) hold garbage.
        const first = Math.max(0, end - slots);
        const kv = entryValues(rng, end - first, c.dims, fp8);
        const ringWords = new Uint32Array(slots * words).fill(GARBAGE);
        const encoded = encodeEntries(kv, end - first, dim, rope, fp8);
        for (let pos = first; pos < end; pos++) ringWords.set(encoded.subarray((pos - first) * words, (pos - first + 1) * words), (pos % slots) * words);
        const entryAt = (pos: number) => kv.subarray((pos - first) * dim, (pos - first + 1) * dim);

        // Blocks complete by the chunk's end are written; those after it hold garbage.
        const maxBlocks = ratio ? Math.floor(end / ratio) + 3 : 0;
        const written = ratio ? Math.floor(end / ratio) : 0;
        const blocks = entryValues(rng, written, c.dims, fp8);
        const blockWords = new Uint32Array(Math.max(1, maxBlocks * words)).fill(GARBAGE);
        blockWords.set(encodeEntries(blocks, written, dim, rope, fp8));
        const blockAt = (j: number) => blocks.subarray(j * dim, (j + 1) * dim);

        const visible = (s: number) => Math.min(Math.floor((s + 1) / Math.max(ratio, 1)), maxBlocks);
        const selected = c.kind === 'csa' ? Array.from({ length: tokens }, (_, t) => selection(rng, visible(start + t), topk)) : null;
        const candidates = (t: number): Float64Array[] => {
          const s = start + t;
          const list: Float64Array[] = [];
          for (let pos = Math.max(0, s - window + 1); pos <= s; pos++) list.push(entryAt(pos));
          if (c.kind === 'hca') for (let j = 0; j < visible(s); j++) list.push(blockAt(j));
          if (selected) for (const j of selected[t]) if (j !== UNUSED) list.push(blockAt(j));
          return list;
        };

        const q = rng.uniform(tokens * heads * dim, -1.5, 1.5);
        const sink = rng.uniform(heads, c.sink === 'large' ? 5 : -5, c.sink === 'large' ? 7 : -3);
        const cfg: RopeConfig = ratio ? compressedRope(rope) : { theta: 10000, dim: rope, yarn: null };
        const scale = dim ** -0.5;
        const ref = attentionRef(q, candidates, sink, c, scale, invFreqRef(cfg));

        const bufs = {
          q: io.input('q', q),
          ring: io.input('ring', ringWords),
          compressed: ratio ? io.input('compressed', blockWords) : null,
          selected: selected ? io.input('selected', Uint32Array.from(selected.flat())) : null,
          sink: io.input('sink', sink),
          table: io.input('table', ropeTable(cfg)),
          // The start position sits at index 2 of the position buffer, behind decoys.
          positions: io.input('pos', new Uint32Array([7, 99999, start])),
          out: io.output('o', tokens * heads * dim),
        };
        await io.run(() => sparseAttention(ctx, {
          ...bufs, positionIndex: 2, topk, tokens, heads, dim, rope, window, slots, ratio, maxBlocks, fp8, scale,
          shape: c.variant === 'row' ? 'row' : 'workgroup',
          ...(c.variant === 'wg' || c.variant === 'wg-tile1' ? { splits: 1 } : c.variant === 'wg-split3' ? { splits: 3 } : {}),
          ...(c.variant === 'wg-tile1' ? { tileEntries: 1 } : {}),
        }));
        return { o: compare(await io.read(bufs.out, ref.length), ref, TOL) };
      } finally {
        io.destroy();
      }
    },
  };
}

// Tiny sizes: every kind and variant over mixed settings (one head; three, a short group; four; sixteen, two
// groups; a single decode token; chunks of 5 and 40, the latter wider than the window; positions from 0,
// where the window is still filling and no block is complete, to the thousands).
const TINY_SETTINGS = [
  { heads: 1, tokens: 1, start: 0, fp8: true, sink: 'small' },
  { heads: 3, tokens: 5, start: 3, fp8: false, sink: 'large' },
  { heads: 4, tokens: 40, start: 4093, fp8: true, sink: 'large' },
  { heads: 16, tokens: 40, start: 37, fp8: false, sink: 'small' },
  { heads: 3, tokens: 1, start: 4093, fp8: true, sink: 'small' },
] as const;
// Release sizes: fewer, heavier cases.
const RELEASE_SETTINGS = [
  { heads: 16, tokens: 40, start: 4093, fp8: true, sink: 'small' },
  { heads: 4, tokens: 1, start: 4093, fp8: false, sink: 'large' },
  { heads: 3, tokens: 5, start: 200, fp8: true, sink: 'large' },
] as const;

/** The release setting each kind runs in the workgroup shape (the others in the row shape). */
const RELEASE_WG: Record<Kind, number> = { swa: 0, hca: 1, csa: 0 };

const CASES: Case[] = [
  ...grid({ kind: ['swa', 'hca', 'csa'] as const, variant: ['row', 'wg', 'wg-split3', 'wg-auto'] as const, setting: [0, 1, 2, 3, 4] })
    .map(({ kind, variant, setting }) => ({ dims: TINY, kind, variant, ...TINY_SETTINGS[setting] })),
  ...grid({ kind: ['hca', 'csa'] as const, setting: [2, 3] }).map(({ kind, setting }) => ({ dims: TINY, kind, variant: 'wg-tile1' as const, ...TINY_SETTINGS[setting] })),
  // At release sizes each kind meets every setting and both shapes (18 crossed cases before, 9): the variants'
  // paths are crossed with every setting at the tiny sizes above. The workgroup shape takes settings 0 and 1
  // only: its pipeline is compiled per heads-per-group (8, 4 and 3 for 16, 4 and 3 heads at 512 dims), about
  // 5 s each on SwiftShader, and groups of 3 heads run at the tiny sizes (settings 1 and 4, every variant).
  ...grid({ kind: ['swa', 'hca', 'csa'] as const, setting: [0, 1, 2] })
    .map(({ kind, setting }) => ({ dims: RELEASE, kind, variant: RELEASE_WG[kind] === setting ? 'wg-auto' as const : 'row' as const, ...RELEASE_SETTINGS[setting] })),
  // The release's top-512 at a decode step.
  { dims: RELEASE, kind: 'csa', variant: 'wg-auto', heads: 16, tokens: 1, start: 4093, fp8: true, sink: 'small', topk: 512 },
];

export const sparseAttentionFamily: KernelFamily = { cases: () => CASES.map(attentionCase) };
