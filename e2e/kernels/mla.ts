// Absorbed-form MLA attention (decode and causal prefill chunks) against a float64 reference.
import { createRng, e4m3ToF32, f16ToF32, f32ToE4m3, f32ToF16, latentCacheLayout, mlaAttention, type KernelContext, type KvCacheFormat } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

// o_lat is a convex combination of cache rows in [-1, 1]; a score sums R + ROPE f32 products, so its
// rounding error, and the output's, grows with that length: at 32 (the small dims) SwiftShader measures
// 3.3e-7 worst against atol 2e-6.
const tolFor = (row: number) => ({ atol: 6.25e-8 * row, rtol: 3.2e-7 * row });
const SCALE = 0.45;
// Cache rows past what a token may see hold this: reading one would swamp the softmax (f16 and fp8 rows
// hold the largest f16 instead, which still would).
const FUTURE = 1e30;
const FUTURE_PACKED = 65504;

/**
 * `values` (rows × rowFloats) in the cache format's words (kernels/mla.ts LatentCacheLayout), and the
 * values the words stand for: f16 pairs (value 2w in the low half), or E4M3 codes four per word with the
 * row's scale (its max |value| / 448, as an f32) in the last word.
 */
export function packCache(values: ArrayLike<number>, rows: number, rowFloats: number, format: KvCacheFormat): { words: Uint32Array; decoded: Float64Array } {
  const decoded = Float64Array.from(values);
  if (format === 'f32') return { words: new Uint32Array(Float32Array.from(values).buffer), decoded };
  const rowWords = format === 'f16' ? Math.ceil(rowFloats / 2) : Math.ceil(rowFloats / 4) + 1;
  const words = new Uint32Array(rows * rowWords);
  for (let s = 0; s < rows; s++) {
    let amax = 0;
    for (let d = 0; d < rowFloats; d++) amax = Math.max(amax, Math.abs(values[s * rowFloats + d]));
    const scale = amax === 0 ? 1 : Math.fround(amax / 448);
    for (let d = 0; d < rowFloats; d++) {
      const i = s * rowFloats + d;
      if (format === 'f16') {
        const h = f32ToF16(values[i]);
        words[s * rowWords + (d >> 1)] |= h << (16 * (d & 1));
        decoded[i] = f16ToF32(h);
      } else {
        const code = f32ToE4m3(values[i] / scale);
        words[s * rowWords + (d >> 2)] |= code << (8 * (d & 3));
        decoded[i] = e4m3ToF32(code) * scale;
      }
    }
    if (format === 'fp8') words[s * rowWords + rowWords - 1] = new Uint32Array(Float32Array.of(scale).buffer)[0];
  }
  return { words, decoded };
}

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
// 'heads' is mla_attend_heads (a workgroup per group of heads, each cache tile loaded once for all of
// them), at one split, three ('heads-split3') or headsPlan's count ('heads-auto'); 'heads-l4-t2' forces 4
// lanes per head and tiles of 2 rows. 21 heads make two groups of 11 and 10 (16 per group at most).
const variants = ['row', 'row-chunk', 'wg', 'wg-split3', 'wg-auto', 'tile', 'tile8', 'tile4'] as const;
const headsVariants = ['heads', 'heads-split3', 'heads-auto', 'heads-l4-t2'] as const;
// 'gemm' is the latent GEMM (mla_latent_scores + mla_latent_values, every cache row read twice whatever the
// heads) at latentGemmPlan's splits, or three ('gemm-split3': the combine, with a 5-token chunk whose first
// rows see none of the last split).
const gemmVariants = ['gemm', 'gemm-split3'] as const;
// Decode (tokens 1) sees 1, 7 or 70 positions; a 5-token prefill chunk appends after 0, 6 or 69. The
// 400-position cases give every split several tiles of 64, so the online rescale runs within and across them.
// Dims 2 are V2/V3's real widths (kv_lora_rank 512, rope 64), at V2-Lite's 16 and V3's 128 heads.
const dimsList = [{ rank: 24, rope: 8 }, { rank: 37, rope: 6 }, { rank: 512, rope: 64 }] as const;
// Head counts and widths are paired rather than crossed (each head count at one width, each width at several
// head counts): a head's offset is heads · width whichever pair it is, and the widths' remainders (37 of 4,
// rope 6) and the head groups' remainders are separate loops, so the crossed pairs repeated paths already
// run (556 cases before, 316 now; every variant × start × tokens is kept).
type Params = { heads: number; dims: 0 | 1 | 2; start: number; tokens: number; variant: (typeof variants)[number] | (typeof headsVariants)[number] | (typeof gemmVariants)[number]; cache?: KvCacheFormat };
type HeadsDims = { heads: number; dims: 0 | 1 };
const paired = <T extends Record<string, readonly unknown[]>>(pairs: readonly HeadsDims[], axes: T) =>
  pairs.flatMap((hd) => grid(axes).map((p) => ({ ...hd, ...p })));
const params: Params[] = [
  ...paired([{ heads: 1, dims: 1 }, { heads: 3, dims: 0 }, { heads: 5, dims: 1 }], { start: [0, 6, 69], tokens: [1, 5], variant: variants } as const),
  ...grid({ heads: [3], dims: [1], start: [400], tokens: [1, 5], variant: variants } as const),
  ...paired([{ heads: 11, dims: 1 }, { heads: 21, dims: 0 }], { start: [0, 69], tokens: [1, 37], variant: ['tile', 'tile8', 'tile4', 'row'] } as const),
  ...paired([{ heads: 1, dims: 0 }, { heads: 5, dims: 1 }], { start: [0, 6, 69], tokens: [1, 5], variant: headsVariants } as const),
  ...grid({ heads: [3], dims: [1], start: [400], tokens: [1, 5], variant: headsVariants } as const),
  ...paired([{ heads: 11, dims: 0 }, { heads: 21, dims: 1 }], { start: [0, 69], tokens: [1, 37], variant: ['heads', 'heads-auto'] } as const),
  // Every kernel reading an f16 or fp8 cache (the reference reads the values its words stand for); the
  // tile's f16 read is the real-width case below.
  ...grid({ heads: [5], dims: [1], start: [6, 69], tokens: [1, 5], cache: ['f16', 'fp8'], variant: ['row', 'wg-split3', 'heads', 'heads-split3'] } as const),
  ...grid({ heads: [5], dims: [1], start: [6, 69], tokens: [1, 5], cache: ['fp8'], variant: ['tile'] } as const),
  // At the real widths each kernel meets one cache format (the row kernel two): every entry point reads the
  // cache through one cache_value(s, d) under the FORMAT override, whose only width-dependent term is the
  // row's word count (R + ROPE packed), so a format's read at R 512 is the code that the small widths run
  // for every kernel and format above. What the real widths add is each kernel's own layout there (the heads
  // kernel's 16 lanes of 36 dims in groups of 16 heads, the tile's 576-float rows in workgroup memory, the
  // GEMM's plans), which the format does not change. SwiftShader compiles a pipeline per (kernel, format) at
  // R 512 in 6-14 s, so the crossed pairs went (the heads kernel on f32 and f16 at R 512, the GEMM on fp8 at
  // 128 heads, the small tile on f16): fp8 meets the heads kernel here and the GEMM at the small width.
  ...grid({ heads: [16, 128], dims: [2], start: [69], tokens: [1], cache: ['f32', 'fp8'], variant: ['row'] } as const),
  ...grid({ heads: [16, 128], dims: [2], start: [69], tokens: [1], cache: ['fp8'], variant: ['heads-auto'] } as const),
  ...grid({ heads: [16], dims: [2], start: [0, 69], tokens: [5], cache: ['f16'], variant: ['tile'] } as const),
  ...grid({ heads: [16], dims: [2], start: [0, 69], tokens: [5], cache: ['fp8'], variant: ['heads'] } as const),
  // The latent GEMM at the real widths over 69 positions (V2-Lite's 16 heads: the plan's 2 splits; V3's 128:
  // one split at this context, then three), and at an odd small width (37 columns: a partial vec4 column;
  // 105 query rows: a partial row block) with forced splits in a 5-token chunk whose first rows see none of
  // the last split; each cache format once. Each new pipeline (a set of override constants: the format, the
  // widths, the row blocks) costs SwiftShader about 10 s to compile, so each case meets several of these at
  // once: the 16-head case reads f16, the 128-head ones f32, and one small case takes fp8, the odd width and
  // the chunk (the format is read per cache row whatever the heads and the width, as above; a split's
  // bounds are the same code at any width).
  { heads: 16, dims: 2, start: 68, tokens: 1, cache: 'f16', variant: 'gemm' },
  { heads: 128, dims: 2, start: 68, tokens: 1, cache: 'f32', variant: 'gemm' },
  { heads: 128, dims: 2, start: 68, tokens: 1, cache: 'f32', variant: 'gemm-split3' },
  { heads: 21, dims: 1, start: 6, tokens: 5, cache: 'fp8', variant: 'gemm-split3' },
];

export const mlaFamily: KernelFamily = {
  cases: () =>
    params.map((p) => {
      const { rank, rope } = dimsList[p.dims];
      const name = caseName({ heads: p.heads, rank, rope, start: p.start, tokens: p.tokens, variant: p.variant, ...(p.cache ? { cache: p.cache } : {}) });
      return {
        name,
        async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
          const { heads, start, tokens, variant } = p;
          // Room past the chunk for rows the kernel must not read.
          const format = p.cache ?? 'f32';
          const layout = latentCacheLayout({ kvLoraRank: rank, qkRopeHeadDim: rope }, start + tokens + 9, format);
          const row = layout.rowFloats;
          const rng = createRng(heads * 1009 + rank * 31 + start * 7 + tokens);
          const io = new CaseBuffers(ctx, `mla:${name}`);
          try {
            const values = rng.uniform(layout.maxContext * row, -1, 1);
            values.fill(format === 'f32' ? FUTURE : FUTURE_PACKED, (start + tokens) * row);
            const { words, decoded: cache } = packCache(values, layout.maxContext, row, format);
            const qt = rng.uniform(tokens * heads * rank, -1, 1);
            // q_pe inside q rows laid out per head as [q_nope (3) | q_pe], as q_b writes them.
            const qStride = 3 + rope;
            const q = rng.uniform(tokens * heads * qStride, -1, 1);
            const ref = mlaRef(qt, (t, h, j) => q[(t * heads + h) * qStride + 3 + j], cache, tokens, heads, rank, rope, start, SCALE);
            const bufs = {
              qt: io.input('qt', qt),
              qpe: io.input('q', q),
              cache: io.input('cache', words),
              positions: io.input('pos', new Uint32Array([4, 4, start])),
              out: io.output('o_lat', tokens * heads * rank),
            };
            const args = { ...bufs, layout, positionIndex: 2, tokens, heads, scale: SCALE, qpeHeadStride: qStride, qpeOffset: 3 };
            await io.run(() => mlaAttention(ctx, {
              ...args,
              shape: variant.startsWith('row') ? 'row' : 'workgroup',
              tiled: variant.startsWith('tile'),
              kernel: variant.startsWith('heads') ? 'heads' : variant.startsWith('gemm') ? 'latent-gemm' : 'per-head',
              ...(variant === 'heads' ? { splits: 1 } : variant === 'heads-split3' || variant === 'gemm-split3' ? { splits: 3 } : variant === 'heads-l4-t2' ? { lanes: 4, headsTile: 2 } : {}),
              ...(variant === 'tile4' ? { tilePositions: 4 } : variant === 'tile8' ? { tilePositions: 8 } : {}),
              ...(variant === 'row-chunk' ? { latentChunk: 10 } : {}),
              ...(variant === 'wg' ? { splits: 1 } : variant === 'wg-split3' ? { splits: 3 } : {}),
            }));
            return { o_lat: compare(await io.read(bufs.out, ref.length), ref, tolFor(row)) };
          } finally {
            io.destroy();
          }
        },
      };
    }),
};
