// DeepSeek-V4's lightning indexer: indexerScores against a float64 reference (−∞ exactly where a block is
// not visible), and topkSelect against a sort of the visible scores (ids exactly: the kernel's order is
// ascending block id, and equal scores at the k-th place go to the lower ids), over thousands of blocks,
// scores drawn from a few values so that ties at the k-th place are the rule, and ±0.
import { createRng, indexerScores, topkSelect, TOPK_NONE, type KernelShape, type Rng } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelCase, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

const EXACT = { atol: 0, rtol: 0 };
const RTOL = 1e-5;

function visibleRef(pos: number, ratio: number, maxBlocks: number): number {
  return Math.min(Math.floor((pos + 1) / ratio), maxBlocks);
}

interface ScoresRef {
  scores: Float64Array;
  /** Σ_h |w_h·scale|·Σ_c |q_c·k_c| at its largest: what f32 rounding in the sums scales with. */
  magnitude: number;
}

/** I(t, b) = Σ_h (w_h·scale)·relu(q_h·K_b) for visible b, −∞ elsewhere. */
export function indexerScoresRef(q: Float32Array, w: Float32Array, keys: Float32Array, pos0: number, T: number, H: number, D: number,
  ratio: number, maxBlocks: number, scale: number): ScoresRef {
  const scores = new Float64Array(T * maxBlocks).fill(-Infinity);
  let magnitude = 0;
  for (let t = 0; t < T; t++) {
    const vis = visibleRef(pos0 + t, ratio, maxBlocks);
    for (let b = 0; b < vis; b++) {
      let s = 0;
      let m = 0;
      for (let h = 0; h < H; h++) {
        let d = 0;
        let a = 0;
        for (let c = 0; c < D; c++) {
          const p = q[(t * H + h) * D + c] * keys[b * D + c];
          d += p;
          a += Math.abs(p);
        }
        s += w[t * H + h] * scale * Math.max(d, 0);
        m += Math.abs(w[t * H + h] * scale) * a;
      }
      scores[t * maxBlocks + b] = s;
      magnitude = Math.max(magnitude, m);
    }
  }
  return { scores, magnitude };
}

/** Per token the min(k, visible) best blocks (score descending, then id ascending), listed in id order, then TOPK_NONE. */
export function topkRef(scores: ArrayLike<number>, pos0: number, T: number, k: number, ratio: number, maxBlocks: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < T; t++) {
    const vis = visibleRef(pos0 + t, ratio, maxBlocks);
    const s = (b: number) => scores[t * maxBlocks + b];
    const best = Array.from({ length: vis }, (_, b) => b).sort((a, b) => s(b) - s(a) || a - b).slice(0, k).sort((a, b) => a - b);
    out.push(...best, ...new Array<number>(k - best.length).fill(TOPK_NONE));
  }
  return out;
}

/** Where a score is −∞ (1) or not (0), and the scores with −∞ replaced by 0, for compare(). */
function splitMasked(v: ArrayLike<number>): { masked: number[]; finite: number[] } {
  const masked = Array.from(v, (x) => (x === -Infinity ? 1 : 0));
  return { masked, finite: Array.from(v, (x) => (x === -Infinity ? 0 : x)) };
}

/** positions[1] = pos0, read with positionIndex 1 so that the index is honoured; positions[0] is a decoy. */
function positionsOf(pos0: number): Uint32Array {
  return Uint32Array.of(pos0 + 977, pos0);
}

interface ScoreSpec { T: number; heads: number; dim: number; ratio: number; maxBlocks: number; pos0: number }

const SCORE_SPECS: ScoreSpec[] = [
  // Decode at a long position: 250 of 300 blocks visible.
  { T: 1, heads: 64, dim: 128, ratio: 4, maxBlocks: 300, pos0: 1000 },
  // The later tokens see more blocks than the buffer holds: clipped at maxBlocks.
  { T: 37, heads: 4, dim: 33, ratio: 4, maxBlocks: 50, pos0: 170 },
  // The first tokens see no block at all.
  { T: 5, heads: 7, dim: 5, ratio: 3, maxBlocks: 7, pos0: 0 },
  { T: 37, heads: 64, dim: 128, ratio: 4, maxBlocks: 61, pos0: 100 },
  { T: 3, heads: 1, dim: 1, ratio: 1, maxBlocks: 1, pos0: 0 },
];

function scoresCase(s: ScoreSpec, seed: number): KernelCase {
  return {
    name: caseName({ op: 'scores', ...s }),
    async run(ctx): Promise<Record<string, Comparison>> {
      const { T, heads: H, dim: D, ratio, maxBlocks, pos0 } = s;
      const rng = createRng(seed);
      const q = rng.uniform(T * H * D, -1, 1);
      const w = rng.uniform(T * H, -1, 1);
      const keys = rng.uniform(maxBlocks * D, -1, 1);
      const scale = D ** -0.5 * H ** -0.5;
      const io = new CaseBuffers(ctx, `indexer:scores:${caseName({ ...s })}`);
      try {
        const scores = io.output('scores', T * maxBlocks);
        await io.run(() => [indexerScores(ctx, {
          q: io.input('q', q), w: io.input('w', w), keys: io.input('keys', keys), positions: io.input('positions', positionsOf(pos0)),
          positionIndex: 1, scores, tokens: T, heads: H, dim: D, ratio, maxBlocks, scale,
        })]);
        const ref = indexerScoresRef(q, w, keys, pos0, T, H, D, ratio, maxBlocks, scale);
        const got = splitMasked(await io.read(scores, T * maxBlocks));
        const want = splitMasked(ref.scores);
        // f32 sums of D products and H terms: each rounding is relative to the running sum of magnitudes.
        const atol = 4 * (D + H) * 2 ** -24 * ref.magnitude + 1e-30;
        return { masked: compare(got.masked, want.masked, EXACT), scores: compare(got.finite, want.finite, { atol, rtol: RTOL }) };
      } finally {
        io.destroy();
      }
    },
  };
}

/** 'ties': 13 values (±0 among them) so that the k-th place is shared; 'spread': signs and ~40 octaves. */
function drawScores(rng: Rng, n: number, values: 'ties' | 'spread'): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    if (values === 'ties') {
      const v = (rng.int(13) - 6) / 2;
      out[i] = v === 0 && rng.next() < 0.5 ? -0 : v;
    } else {
      out[i] = (rng.next() * 2 - 1) * 2 ** (rng.int(40) - 20);
    }
  }
  return out;
}

interface TopkSpec { T: number; maxBlocks: number; k: number; ratio: number; pos0: number }

const TOPK_SPECS: TopkSpec[] = [
  // Visible blocks grow past k = 512 within the call: the first tokens take every visible block.
  { T: 37, maxBlocks: 4099, k: 512, ratio: 4, pos0: 4 * 505 },
  // Visible beyond the buffer: clipped at maxBlocks.
  { T: 5, maxBlocks: 4099, k: 1024, ratio: 1, pos0: 4096 },
  { T: 3, maxBlocks: 37, k: 8, ratio: 4, pos0: 20 },
  { T: 37, maxBlocks: 1000, k: 1, ratio: 4, pos0: 3000 },
  // Nothing visible: every slot unused.
  { T: 2, maxBlocks: 1, k: 4, ratio: 4, pos0: 0 },
  { T: 1, maxBlocks: 3000, k: 2999, ratio: 1, pos0: 2999 },
  // The k-th place among the 'ties' values falls on zero, where −0 and +0 must tie.
  { T: 4, maxBlocks: 1000, k: 500, ratio: 1, pos0: 996 },
];

function topkCase(s: TopkSpec, values: 'ties' | 'spread', shape: KernelShape, seed: number): KernelCase {
  return {
    name: caseName({ op: 'topk', ...s, values, shape }),
    async run(ctx): Promise<Record<string, Comparison>> {
      const { T, maxBlocks, k, ratio, pos0 } = s;
      const scores = drawScores(createRng(seed), T * maxBlocks, values);
      const io = new CaseBuffers(ctx, `indexer:topk:${caseName({ ...s, values, shape })}`);
      try {
        const ids = io.output('ids', T * k);
        await io.run(() => [topkSelect(ctx, {
          scores: io.input('scores', scores), positions: io.input('positions', positionsOf(pos0)), positionIndex: 1,
          ids, tokens: T, k, ratio, maxBlocks, shape,
        })]);
        return { ids: compare(await io.readU32(ids, T * k), topkRef(scores, pos0, T, k, ratio, maxBlocks), EXACT) };
      } finally {
        io.destroy();
      }
    },
  };
}

export const indexerFamily: KernelFamily = {
  cases: () => [
    ...SCORE_SPECS.map((s, i) => scoresCase(s, 5300 + 13 * i)),
    ...grid({ spec: TOPK_SPECS.map((_, i) => i), values: ['ties', 'spread'] as const, shape: ['row', 'workgroup'] as const })
      .map((g, i) => topkCase(TOPK_SPECS[g.spec], g.values, g.shape, 6100 + 7 * i)),
  ],
};
