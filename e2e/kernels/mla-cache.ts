// The latent cache store in the f16 and FP8 formats (kvStorePacked) against the float64 store of
// kernels/rope.ts' cases (kv_a_layernorm, then rope of k_pe), read back through the format's words.
import { createRng, e4m3ToF32, f16ToF32, kvStorePacked, latentCacheLayout, ropeTable, type KernelContext } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';
import { rmsnormRef } from './rmsnorm';
import { invFreqRef, ropeRef, storeQuery, storeQueryFloats } from './rope';

const EPS = 1e-6;
// Words of rows the store must leave alone.
const UNTOUCHED = 0x5a5a5a5a;
// The f32 row is the rope family's (SwiftShader: 1.1e-6 worst at values up to ~3); then f16 rounds to
// nearest (half an ulp: 2^-11 relative), E4M3 to nearest (2^-4 relative above 2^-6 × scale, and
// half of 2^-9 × scale below). The query rows stay f32: the rope family's tolerance.
const F32_ERR = 4e-6;

const cases = grid({ format: ['f16', 'fp8'], rank: [24, 37, 512], rope: [8, 6, 64], tokens: [1, 5], start: [0, 69], fit: ['fits', 'overflow'] } as const)
  .filter((p) => (p.rank === 512) === (p.rope === 64) && (p.fit === 'fits' || p.tokens === 5))
  .map((p) => ({
    name: caseName(p),
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const { format, rank, rope: dim, tokens, start, fit } = p;
      const layout = latentCacheLayout({ kvLoraRank: rank, qkRopeHeadDim: dim }, fit === 'fits' ? start + tokens + 2 : start + tokens - 2, format);
      const row = layout.rowFloats;
      const kvStride = row + 5;
      const kvOffset = 3;
      const rng = createRng(rank * 97 + dim * 11 + tokens * 3 + start + format.length + fit.length);
      const io = new CaseBuffers(ctx, `kv_store_packed:${caseName(p)}`);
      try {
        const kv = rng.uniform(tokens * kvStride, -3, 3);
        const w = rng.uniform(rank, 0.5, 1.5);
        const cfg = { theta: 10000, dim, yarn: null };
        const inv = invFreqRef(cfg);
        const c = rmsnormRef(kv, w, tokens, rank, EPS, kvStride, kvOffset);
        const bufs = {
          kv: io.input('kv', kv),
          weight: io.input('w', w),
          cache: io.input('cache', new Uint32Array(layout.maxContext * layout.rowWords).fill(UNTOUCHED)),
          table: io.input('table', ropeTable(cfg)),
          positions: io.input('pos', new Uint32Array([9, start])),
        };
        // Every case also rotates query rows in the same dispatch, as forward.ts records it.
        const qv = rng.uniform(tokens * storeQueryFloats(dim), -2, 2);
        const q = { ...storeQuery(qv, tokens, dim, start, inv), x: io.input('q', qv) };
        await io.run(() => [kvStorePacked(ctx, { ...bufs, positionIndex: 1, layout, tokens, eps: EPS, kvStride, kvOffset, query: q })]);
        const words = new Uint32Array((await io.read(bufs.cache, layout.maxContext * layout.rowWords)).buffer);
        const want: number[] = [], got: number[] = [];
        let untouchedWant = 0, untouchedGot = 0;
        let amaxAll = 0;
        for (let s = 0; s < layout.maxContext; s++) {
          const t = s - start;
          const base = s * layout.rowWords;
          if (t < 0 || t >= tokens) {
            for (let i = 0; i < layout.rowWords; i++) {
              untouchedWant++;
              if (words[base + i] === UNTOUCHED) untouchedGot++;
            }
            continue;
          }
          const ref = new Float64Array(row);
          ref.set(c.subarray(t * rank, (t + 1) * rank));
          for (let j = 0; j < dim; j++) ref[rank + j] = kv[t * kvStride + kvOffset + rank + j];
          ropeRef(ref, rank, s, inv);
          const scale = new Float32Array(Uint32Array.of(words[base + layout.rowWords - 1]).buffer)[0];
          for (let d = 0; d < row; d++) {
            want.push(ref[d]);
            amaxAll = Math.max(amaxAll, Math.abs(ref[d]));
            got.push(format === 'f16'
              ? f16ToF32((words[base + (d >> 1)] >>> (16 * (d & 1))) & 0xffff)
              : e4m3ToF32((words[base + (d >> 2)] >>> (8 * (d & 3))) & 0xff) * scale);
          }
        }
        const tol = format === 'f16' ? { atol: F32_ERR, rtol: 2 ** -11 + F32_ERR } : { atol: (amaxAll / 448) * 2 ** -10 + F32_ERR, rtol: 2 ** -4 + F32_ERR };
        return {
          row: compare(Float64Array.from(got), Float64Array.from(want), tol),
          untouched: compare([untouchedGot], [untouchedWant], { atol: 0, rtol: 0 }),
          q: compare(await io.read(q.x, qv.length), q.ref, { atol: F32_ERR, rtol: F32_ERR }),
        };
      } finally {
        io.destroy();
      }
    },
  }));

export const mlaCacheFamily: KernelFamily = { cases: () => cases };
