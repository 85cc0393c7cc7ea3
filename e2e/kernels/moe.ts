// MoE prefill plumbing (plan: counts → offsets, tile starts and slots; gather; weighted scatter-add) against
// CPU references: integers and copies exactly, weighted sums within f32 tolerance.
import { createRng, moeGather, moePlan, moeScatter, type Rng } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

const EXACT = { atol: 0, rtol: 0 };
// At most 8 products of magnitude ≤ 2 added to a start ≤ 2: partial sums stay below 18, so nine f32
// roundings stay below 1e-5; a wrong or missing term is off by O(1).
const TOL = { atol: 1e-5, rtol: 1e-6 };

/** K distinct experts per token, skewed towards low indices so that some experts are crowded and others empty. */
function drawIds(rng: Rng, T: number, K: number, E: number): Uint32Array {
  const ids = new Uint32Array(T * K);
  for (let t = 0; t < T; t++) {
    const seen = new Set<number>();
    for (let k = 0; k < K; k++) {
      let e: number;
      do e = Math.floor(E * rng.next() ** 2); while (seen.has(e));
      seen.add(e);
      ids[t * K + k] = e;
    }
  }
  return ids;
}

/** Offsets by counting, and each pair's row: its expert's offset plus the pairs before it (in (t, k) order) with the same expert. */
export function planRef(ids: ArrayLike<number>, pairs: number, E: number): { offsets: number[]; slot: number[] } {
  const counts = new Array<number>(E).fill(0);
  for (let i = 0; i < pairs; i++) counts[ids[i]]++;
  const offsets = [0];
  for (let e = 0; e < E; e++) offsets.push(offsets[e] + counts[e]);
  const next = offsets.slice(0, E);
  const slot: number[] = [];
  for (let i = 0; i < pairs; i++) slot.push(next[ids[i]]++);
  return { offsets, slot };
}

/** Tile starts: expert e's tiles of S rows begin after Σ_{e'<e} ⌈n_e'/S⌉ (E + 1 entries). */
export function tileStartsRef(offsets: readonly number[], S: number): number[] {
  const starts = [0];
  for (let e = 0; e + 1 < offsets.length; e++) starts.push(starts[e] + Math.ceil((offsets[e + 1] - offsets[e]) / S));
  return starts;
}

/** out[t, c] = base[t, c] + Σ_k w[t, k] · y[slot[t, k], c] in float64. */
function scatterRef(y: Float32Array, w: Float32Array, base: Float32Array, T: number, K: number, d: number, slot: number[]): Float64Array {
  const out = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < d; c++) {
      let s = base[t * d + c];
      for (let k = 0; k < K; k++) s += w[t * K + k] * y[slot[t * K + k] * d + c];
      out[t * d + c] = s;
    }
  }
  return out;
}

interface MoeCaseSpec {
  T: number;
  K: number;
  E: number;
  d: number;
}

const SPECS: MoeCaseSpec[] = [
  ...grid({ T: [1, 7, 33, 300], K: [1, 2, 6], E: [6, 64], d: [5, 33, 97] } as const),
  // V3-sized routing over several blocks of 256 tokens.
  { T: 600, K: 8, E: 256, d: 33 },
];

export const moeFamily: KernelFamily = {
  cases: () =>
    SPECS.filter((p) => p.K <= p.E).map((p) => ({
      name: caseName(p as unknown as Record<string, unknown>),
      async run(ctx): Promise<Record<string, Comparison>> {
        const { T, K, E, d } = p;
        const pairs = T * K;
        const rng = createRng(T * 1_000_003 + K * 10_007 + E * 101 + d);
        const ids = drawIds(rng, T, K, E);
        const x = rng.uniform(T * d, -2, 2);
        const w = rng.uniform(pairs, 0, 1);
        const yGrouped = rng.uniform(pairs * d, -2, 2);
        const out0 = rng.uniform(T * d, -2, 2);
        const ref = planRef(ids, pairs, E);
        // Rows per tile: 1 (a tile per row) to 7, odd ones included.
        const S = 1 + (T % 7);

        const io = new CaseBuffers(ctx, `moe:${caseName(p as unknown as Record<string, unknown>)}`);
        try {
          const b = {
            ids: io.input('ids', ids),
            offsets: io.output('offsets', 2 * (E + 1)),
            slot: io.output('slot', pairs),
            x: io.input('x', x),
            xGrouped: io.output('x_grouped', pairs * d),
            yGrouped: io.input('y_grouped', yGrouped),
            weights: io.input('weights', w),
            // Scatter accumulates onto out0.
            scattered: io.input('scattered', out0),
          };
          const dims = { tokens: T, topK: K, dim: d };
          await io.run(() => [
            moePlan(ctx, { ids: b.ids, offsets: b.offsets, slot: b.slot, tokens: T, topK: K, experts: E, tileTokens: S }),
            moeGather(ctx, { x: b.x, slot: b.slot, xGrouped: b.xGrouped, ...dims }),
            moeScatter(ctx, { yGrouped: b.yGrouped, slot: b.slot, weights: b.weights, out: b.scattered, ...dims, accumulate: true }),
          ]);
          const gathered = new Float32Array(pairs * d);
          for (let i = 0; i < pairs; i++) gathered.set(x.subarray(Math.floor(i / K) * d, Math.floor(i / K) * d + d), ref.slot[i] * d);
          const written = await io.readU32(b.offsets, 2 * (E + 1));
          return {
            offsets: compare(written.slice(0, E + 1), ref.offsets, EXACT),
            tiles: compare(written.slice(E + 1), tileStartsRef(ref.offsets, S), EXACT),
            slot: compare(await io.readU32(b.slot, pairs), ref.slot, EXACT),
            gather: compare(await io.read(b.xGrouped, pairs * d), gathered, EXACT),
            scatter: compare(await io.read(b.scattered, T * d), scatterRef(yGrouped, w, out0, T, K, d, ref.slot), TOL),
          };
        } finally {
          io.destroy();
        }
      },
    })),
};
