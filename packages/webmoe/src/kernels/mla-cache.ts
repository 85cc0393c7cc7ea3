// Launcher for shaders/mla-cache.wgsl: the latent cache store in the f16 and FP8 formats (the f32 cache
// is written by kvStore in kernels/rope.ts, which takes the same arguments).
import source from '../../../../shaders/mla-cache.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import type { Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkArg } from './launch-checks';
import { RMS, ROPE_HEADS, WORKGROUP_REDUCE } from './wgsl-lib';
import { ROPE_MAX_POSITION } from '../model/rope';
import { KV_FORMAT_CODE } from './mla';
import { kvStore, kvStoreQuery, type KvStoreArgs } from './rope';

const WG = 64;
const SOURCE = composeWgsl(wgslPiece('mla-cache', source, [ROPE_HEADS, WORKGROUP_REDUCE, RMS]));

/**
 * Entry `kv_store_packed`, a workgroup per token (`shape` is ignored: one shape serves every adapter).
 * Bindings: 0 table, 1 positions, 2 kv (f32), 3 weight (f32), 4 cache (u32 words, read-write), 5 q (f32,
 * read-write: the query rows, or a placeholder), 6 params {tokens, kv_stride, kv_offset, max_context,
 * pos_index, eps, q: HeadsRope}; overrides WG, RANK, ROPE, FORMAT (1 f16, 2 fp8). Writes cache rows
 * start … start+tokens-1 in layout.format, nothing else; rows at or past maxContext are skipped. With
 * `query`, each token's query rope parts are rotated at its position as well.
 */
export function kvStorePacked(ctx: KernelContext, a: KvStoreArgs, label = 'kv_store'): Dispatch {
  const { kvLoraRank, rope, maxContext, format } = a.layout;
  checkArg(format !== 'f32', label, 'layout.format', 'is f32: kvStore (kernels/rope.ts) writes that cache');
  checkArg(maxContext <= ROPE_MAX_POSITION, label, 'layout.maxContext', `(${maxContext}) exceeds the rope kernels' ${ROPE_MAX_POSITION} positions`);
  checkArg(a.tokens <= 65535, label, 'tokens', `(${a.tokens}) exceed one dispatch dimension (65535)`);
  checkArg(rope % 2 === 0, label, 'layout.rope', `(${rope}) is odd: rope dims come in pairs`);
  checkArg(a.cache.size >= a.layout.bytesPerLayer, label, 'cache', `holds ${a.cache.size} bytes, the ${format} layout needs ${a.layout.bytesPerLayer}`);
  const p = new ParamsWriter().u32(a.tokens).u32(a.kvStride ?? kvLoraRank + rope).u32(a.kvOffset ?? 0).u32(maxContext)
    .u32(a.positionIndex ?? 0).f32(a.eps).u32(0).u32(0);
  const q = kvStoreQuery(ctx, a, p);
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'kv_store_packed',
    variant: format,
    constants: { WG, RANK: kvLoraRank, ROPE: rope, FORMAT: KV_FORMAT_CODE[format] },
    inputs: [a.table, a.positions, a.kv, a.weight],
    outputs: [a.cache, q],
    params: p,
    workgroups: [a.tokens, 1, 1],
  });
}

/** The store for the layout's format: kvStore for f32, kvStorePacked for f16 and fp8. */
export function latentCacheStore(ctx: KernelContext, a: KvStoreArgs, label = 'kv_store'): Dispatch {
  return a.layout.format === 'f32' ? kvStore(ctx, a, label) : kvStorePacked(ctx, a, label);
}
