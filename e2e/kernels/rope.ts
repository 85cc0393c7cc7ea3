// Interleaved RoPE on q rows, and the fused latent-cache store, against float64 references. The kernels
// read the engine's table (model/rope.ts ropeTable, their input); the expected angles come from the
// formula here (docs/architecture-v3.md#rope), so a wrong table fails as a wrong kernel would.
import { createRng, kvStore, latentCacheLayout, rope, ropeTable, type KernelContext, type RopeConfig } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';
import { rmsnormRef } from './rmsnorm';

// Angles are exact to ~1e-7 turns at any position and sin/cos are series to f32 precision: SwiftShader
// measures 1.1e-6 worst (values up to ~3). A plain f32 angle would be off by ~1e-2 at start=100003, and
// WGSL's own sin/cos by ~3e-4 on SwiftShader.
const TOL = { atol: 4e-6, rtol: 4e-6 };
const EPS = 1e-6;
// Cache rows the store must leave alone hold this.
const UNTOUCHED = 7.25;

/** YaRN as V3 configures it, at the test's rope width: its ramp spans pairs 1 … 3 (width 8) and 0 … 3 (width 6). */
function ropeConfig(dim: number): RopeConfig {
  return { theta: 10000, dim, yarn: { factor: 40, originalMaxPositions: 4096, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 1 } };
}

/**
 * inv_freq of each pair: base^(-2i/r), blended towards base^(-2i/r) / factor by YaRN's ramp between the
 * pairs that turn beta_fast and beta_slow times within the original context.
 */
export function invFreqRef(cfg: RopeConfig): number[] {
  const r = cfg.dim;
  const freq = Array.from({ length: r / 2 }, (_, i) => cfg.theta ** (-2 * i / r));
  const y = cfg.yarn;
  if (!y) return freq;
  const pairTurning = (turns: number) => (r * Math.log(y.originalMaxPositions / (2 * Math.PI * turns))) / (2 * Math.log(cfg.theta));
  const low = Math.max(Math.floor(pairTurning(y.betaFast)), 0);
  const high = Math.min(Math.ceil(pairTurning(y.betaSlow)), r - 1);
  return freq.map((f, i) => {
    const ramp = Math.min(1, Math.max(0, (i - low) / (high === low ? 0.001 : high - low)));
    return (f / y.factor) * ramp + f * (1 - ramp);
  });
}

/** Rotates pairs (x[b+2i], x[b+2i+1]) by pos × invFreq[i] in float64, in place. */
export function ropeRef(x: Float64Array, b: number, pos: number, invFreq: ArrayLike<number>): void {
  for (let i = 0; i < invFreq.length; i++) {
    const a = pos * invFreq[i];
    const [x0, x1] = [x[b + 2 * i], x[b + 2 * i + 1]];
    x[b + 2 * i] = x0 * Math.cos(a) - x1 * Math.sin(a);
    x[b + 2 * i + 1] = x0 * Math.sin(a) + x1 * Math.cos(a);
  }
}

// inverse: the rotation back by −angle (DeepSeek-V4's attention output).
const ropeCases = grid({ heads: [1, 3, 5], rope: [8, 6], tokens: [1, 5], start: [0, 69, 100003], inverse: [false, true] } as const).map((p) => ({
  name: caseName({ mode: 'q', ...p }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { heads, rope: dim, tokens, start, inverse } = p;
    // q rows as q_b writes them: per head [q_nope (5) | q_pe (dim)]; only q_pe may change.
    const nope = 5;
    const headStride = nope + dim;
    const rng = createRng(heads * 131 + dim * 17 + tokens * 7 + start);
    const io = new CaseBuffers(ctx, `rope:${caseName(p)}`);
    try {
      const q = rng.uniform(tokens * heads * headStride, -2, 2);
      const cfg = ropeConfig(dim);
      const inv = invFreqRef(cfg);
      const ref = Float64Array.from(q);
      for (let t = 0; t < tokens; t++) for (let h = 0; h < heads; h++) ropeRef(ref, (t * heads + h) * headStride + nope, (inverse ? -1 : 1) * (start + t), inv);
      // The start position sits at index 1 of the position buffer, behind a decoy.
      const bufs = { x: io.input('q', q), table: io.input('table', ropeTable(cfg)), positions: io.input('pos', new Uint32Array([12345, start])) };
      await io.run(() => [rope(ctx, { ...bufs, positionIndex: 1, tokens, heads, rope: dim, headStride, offset: nope, inverse })]);
      return { q: compare(await io.read(bufs.x, q.length), ref, TOL) };
    } finally {
      io.destroy();
    }
  },
}));

/**
 * Query rows for a cache store to rotate in its dispatch: per token 3 heads of [q_nope (5) | q_pe (dim)]
 * and 2 floats of padding, and their float64 rotation at start + t (every token, also those past the
 * cache's end: the query is rotated whether or not its row is stored).
 */
export function storeQuery(values: Float32Array, tokens: number, dim: number, start: number, inv: ArrayLike<number>) {
  const heads = 3, nope = 5, headStride = nope + dim, rowStride = heads * headStride + 2;
  if (values.length !== tokens * rowStride) throw new Error(`storeQuery: ${values.length} values, ${tokens * rowStride} expected`);
  const ref = Float64Array.from(values);
  for (let t = 0; t < tokens; t++) for (let h = 0; h < heads; h++) ropeRef(ref, t * rowStride + h * headStride + nope, start + t, inv);
  return { ref, heads, rowStride, headStride, offset: nope };
}

/** Floats of storeQuery's rows per token. */
export const storeQueryFloats = (dim: number) => 3 * (5 + dim) + 2;

// 'overflow' stores a chunk whose last two tokens fall past the cache's end: they must be dropped.
// query 'q': the same dispatch rotates query rows too (forward.ts does, instead of a rope dispatch).
const kvCases = grid({ rank: [24, 37], rope: [8, 6], tokens: [1, 5], start: [0, 6, 69], fit: ['fits', 'overflow'], shape: ['row', 'workgroup'], query: ['none', 'q'] } as const)
  .filter((p) => (p.fit === 'fits' || p.tokens === 5) && (p.query === 'none' || p.rank === 37))
  .map((p) => ({
    name: caseName({ mode: 'kv', ...p }),
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const { rank, rope: dim, tokens, start, fit, shape, query } = p;
      const layout = latentCacheLayout({ kvLoraRank: rank, qkRopeHeadDim: dim }, fit === 'fits' ? start + tokens + 2 : start + tokens - 2);
      const row = layout.rowFloats;
      // kv_a's rows inside a wider buffer: [3 junk | c | k_pe | 2 junk].
      const kvStride = row + 5;
      const kvOffset = 3;
      const rng = createRng(rank * 101 + dim * 13 + tokens * 5 + start + fit.length);
      const io = new CaseBuffers(ctx, `kv_store:${caseName(p)}`);
      try {
        const kv = rng.uniform(tokens * kvStride, -3, 3);
        const w = rng.uniform(rank, 0.5, 1.5);
        const cfg = ropeConfig(dim);
        const inv = invFreqRef(cfg);
        const ref = new Float64Array(layout.maxContext * row).fill(UNTOUCHED);
        const c = rmsnormRef(kv, w, tokens, rank, EPS, kvStride, kvOffset);
        for (let t = 0; t < tokens && start + t < layout.maxContext; t++) {
          const dst = (start + t) * row;
          ref.set(c.subarray(t * rank, (t + 1) * rank), dst);
          for (let j = 0; j < dim; j++) ref[dst + rank + j] = kv[t * kvStride + kvOffset + rank + j];
          ropeRef(ref, dst + rank, start + t, inv);
        }
        const bufs = {
          kv: io.input('kv', kv),
          weight: io.input('w', w),
          cache: io.input('cache', new Float32Array(layout.maxContext * row).fill(UNTOUCHED)),
          table: io.input('table', ropeTable(cfg)),
          positions: io.input('pos', new Uint32Array([start])),
        };
        const qv = rng.uniform(tokens * storeQueryFloats(dim), -2, 2);
        const q = query === 'q' ? { ...storeQuery(qv, tokens, dim, start, inv), x: io.input('q', qv) } : null;
        await io.run(() => [kvStore(ctx, { ...bufs, layout, tokens, eps: EPS, kvStride, kvOffset, shape, ...(q ? { query: q } : {}) })]);
        const cache = compare(await io.read(bufs.cache, ref.length), ref, TOL);
        return q ? { cache, q: compare(await io.read(q.x, qv.length), q.ref, TOL) } : { cache };
      } finally {
        io.destroy();
      }
    },
  }));

export const ropeFamily: KernelFamily = { cases: () => [...ropeCases, ...kvCases] };
