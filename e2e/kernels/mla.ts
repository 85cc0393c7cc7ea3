// Absorbed-form MLA attention (decode and causal prefill chunks) against a float64 reference.
import { createRng, latentCacheLayout, mlaAttention, type KernelContext } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

// o_lat is a convex combination of cache rows in [-1, 1]; scores sum ~40 f32 products. SwiftShader
// measures 3.3e-7 worst.
const TOL = { atol: 2e-6, rtol: 1e-5 };
const SCALE = 0.45;
// Cache rows past what a token may see hold this: reading one would swamp the softmax.
const FUTURE = 1e30;

/**
 * o[t,h] = Σ_{s ≤ start+t} softmax_s((q̃[t,h]·c[s] + qpe[t,h]·kpe[s]) × scale) c[s], in float64.
 * cache rows are [c (rank) | kpe (rope)]; qpe(t, h, j) gives q_pe's element.
 */
export function mlaRef(qt: ArrayLike<number>, qpe: (t: number, h: number, j: number) => number, cache: ArrayLike<number>,
  tokens: number, heads: number, rank: number, rope: number, start: number, scale: number): Float64Array {
  const row = rank + rope;
  const out = new Float64Array(tokens * heads * rank);
  for (let t = 0; t < tokens; t++) {
    const n = start + t + 1;
    for (let h = 0; h < heads; h++) {
      const q = (t * heads + h) * rank;
      const scores = new Float64Array(n);
      for (let s = 0; s < n; s++) {
        let dot = 0;
        for (let d = 0; d < rank; d++) dot += qt[q + d] * cache[s * row + d];
        for (let j = 0; j < rope; j++) dot += qpe(t, h, j) * cache[s * row + rank + j];
        scores[s] = dot * scale;
      }
      const m = Math.max(...scores);
      let z = 0;
      for (let s = 0; s < n; s++) z += (scores[s] = Math.exp(scores[s] - m));
      for (let s = 0; s < n; s++) {
        for (let d = 0; d < rank; d++) out[q + d] += (scores[s] / z) * cache[s * row + d];
      }
    }
  }
  return out;
}

// 'row' scores once per (token, head); 'row-chunk' splits the latent dims over invocations (10 each);
// 'wg' is one workgroup per (token, head); 'wg-split3' forces three position splits and the combine pass
// (with empty splits when fewer than three positions are visible); 'wg-auto' takes chooseSplits' count.
// 'tile' is the prefill kernel (4 heads per invocation, cache tiles of up to 64 rows in workgroup memory,
// softmax blocks of 8; 'tile8' and 'tile4' force tiles of 8 and 4), also run at tokens 1; 11 and 21 heads
// leave a short last group of heads, 37 tokens several workgroups, 69 and 400 cached positions several
// tiles with a partial last one.
const variants = ['row', 'row-chunk', 'wg', 'wg-split3', 'wg-auto', 'tile', 'tile8', 'tile4'] as const;
// Decode (tokens 1) sees 1, 7 or 70 positions; a 5-token prefill chunk appends after 0, 6 or 69. The
// 400-position cases give every split several tiles of 64, so the online rescale runs within and across them.
const dimsList = [{ rank: 24, rope: 8 }, { rank: 37, rope: 6 }] as const;
const params = [
  ...grid({ heads: [1, 3, 5], dims: [0, 1], start: [0, 6, 69], tokens: [1, 5], variant: variants } as const),
  ...grid({ heads: [3], dims: [1], start: [400], tokens: [1, 5], variant: variants } as const),
  ...grid({ heads: [11, 21], dims: [0, 1], start: [0, 69], tokens: [1, 37], variant: ['tile', 'tile8', 'tile4', 'row'] } as const),
];

export const mlaFamily: KernelFamily = {
  cases: () =>
    params.map((p) => {
      const { rank, rope } = dimsList[p.dims];
      const name = caseName({ heads: p.heads, rank, rope, start: p.start, tokens: p.tokens, variant: p.variant });
      return {
        name,
        async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
          const { heads, start, tokens, variant } = p;
          // Room past the chunk for rows the kernel must not read.
          const layout = latentCacheLayout({ kvLoraRank: rank, qkRopeHeadDim: rope }, start + tokens + 9);
          const row = layout.rowFloats;
          const rng = createRng(heads * 1009 + rank * 31 + start * 7 + tokens);
          const io = new CaseBuffers(ctx, `mla:${name}`);
          try {
            const cache = rng.uniform(layout.maxContext * row, -1, 1);
            cache.fill(FUTURE, (start + tokens) * row);
            const qt = rng.uniform(tokens * heads * rank, -1, 1);
            // q_pe inside q rows laid out per head as [q_nope (3) | q_pe], as q_b writes them.
            const qStride = 3 + rope;
            const q = rng.uniform(tokens * heads * qStride, -1, 1);
            const ref = mlaRef(qt, (t, h, j) => q[(t * heads + h) * qStride + 3 + j], cache, tokens, heads, rank, rope, start, SCALE);
            const bufs = {
              qt: io.input('qt', qt),
              qpe: io.input('q', q),
              cache: io.input('cache', cache),
              positions: io.input('pos', new Uint32Array([4, 4, start])),
              out: io.output('o_lat', tokens * heads * rank),
            };
            const args = { ...bufs, layout, positionIndex: 2, tokens, heads, scale: SCALE, qpeHeadStride: qStride, qpeOffset: 3 };
            await io.run(() => mlaAttention(ctx, {
              ...args,
              shape: variant.startsWith('row') ? 'row' : 'workgroup',
              tiled: variant.startsWith('tile'),
              ...(variant === 'tile4' ? { tilePositions: 4 } : variant === 'tile8' ? { tilePositions: 8 } : {}),
              ...(variant === 'row-chunk' ? { latentChunk: 10 } : {}),
              ...(variant === 'wg' ? { splits: 1 } : variant === 'wg-split3' ? { splits: 3 } : {}),
            }));
            return { o_lat: compare(await io.read(bufs.out, ref.length), ref, TOL) };
          } finally {
            io.destroy();
          }
        },
      };
    }),
};
