// Launcher for shaders/rope.wgsl: the interleaved rotary embedding of q, and the fused store of
// kv_a's output into the latent KV cache (kv_a_layernorm + rope of k_pe + write at the current positions),
// which can rotate the query's rope parts in the same dispatch (KvStoreArgs.query).
import source from '../../../../shaders/rope.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkArg } from './launch-checks';
import { GRID, RMS, ROPE_HEADS, WORKGROUP_REDUCE } from './wgsl-lib';
import { placeholder } from './placeholders';
import { ROPE_MAX_POSITION } from '../model/rope';
import type { LatentCacheLayout } from './mla';

const WG = 64;
const SOURCE = composeWgsl(wgslPiece('rope', source, [GRID, ROPE_HEADS, WORKGROUP_REDUCE, RMS]));

/** What every rope kernel reads: the table from model/rope.ts `ropeTable` and the position source. */
export interface RopeInputs {
  /** f32 [rope/2 × 2]: `ropeTable(config.rope)`, uploaded once per model. */
  table: GPUBuffer;
  /** u32 buffer; token t of the call is at position positions[positionIndex] + t (read on the GPU). */
  positions: GPUBuffer;
  /** Default 0. */
  positionIndex?: number;
}

export interface RopeArgs extends RopeInputs {
  /** Rotated in place: element j of the rope part of head h of token t is at t·rowStride + h·headStride + offset + j. */
  x: GPUBuffer;
  tokens: number;
  heads: number;
  /** qk_rope_head_dim (even). */
  rope: number;
  /** Default heads × headStride. */
  rowStride?: number;
  /** Default rope. */
  headStride?: number;
  /** Default 0; qk_nope_head_dim for q rows laid out per head as [q_nope | q_pe]. */
  offset?: number;
  /** Rotate back (by −angle): DeepSeek-V4's attention output. Default false. */
  inverse?: boolean;
}

/**
 * Entry `rope`. Bindings: 0 table (f32), 1 positions (u32), 2 x (f32, read-write), 3 params
 * {tokens, heads, half, row_stride, head_stride, offset, pos_index, inverse}. One invocation per (token, head, pair).
 */
export function rope(ctx: KernelContext, a: RopeArgs, label = 'rope'): Dispatch {
  checkArg(a.rope % 2 === 0, label, 'rope', `(${a.rope}) is odd`);
  const half = a.rope / 2;
  const headStride = a.headStride ?? a.rope;
  const p = new ParamsWriter().u32(a.tokens).u32(a.heads).u32(half).u32(a.rowStride ?? a.heads * headStride)
    .u32(headStride).u32(a.offset ?? 0).u32(a.positionIndex ?? 0).u32(a.inverse ? 1 : 0);
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'rope',
    variant: 'pair',
    constants: { WG },
    inputs: [a.table, a.positions],
    outputs: [a.x],
    params: p,
    workgroups: grid1d(Math.ceil((a.tokens * a.heads * half) / WG)),
  });
}

export interface KvStoreArgs extends RopeInputs {
  /** kv_a's output: token t's row holds c (kvLoraRank) then k_pe (rope) from t·kvStride + kvOffset. */
  kv: GPUBuffer;
  /** kv_a_layernorm.weight [kvLoraRank]. */
  weight: GPUBuffer;
  /** This layer's latent cache (see LatentCacheLayout in kernels/mla.ts). */
  cache: GPUBuffer;
  layout: LatentCacheLayout;
  tokens: number;
  eps: number;
  /** Default kvLoraRank + rope. */
  kvStride?: number;
  kvOffset?: number;
  shape?: KernelShape;
  /** The query rows whose rope parts the same dispatch rotates at the tokens' positions (what `rope` would do). */
  query?: KvStoreQuery;
}

/** Query rows rotated in place by the latent cache store: as RopeArgs' x, heads, rowStride, headStride, offset (rope width: the layout's). */
export interface KvStoreQuery {
  x: GPUBuffer;
  heads: number;
  rowStride: number;
  headStride: number;
  offset: number;
}

/**
 * The cache store's binding for the query rows (a placeholder without them) and their HeadsRope params
 * (lib/rope-heads.wgsl), shared by kvStore and kvStorePacked.
 */
export function kvStoreQuery(ctx: KernelContext, a: KvStoreArgs, p: ParamsWriter): GPUBuffer {
  const q = a.query;
  if (q) {
    checkArg(q.heads > 0 && q.headStride >= a.layout.rope && q.offset + a.layout.rope <= q.headStride, 'kv_store', 'query',
      `(heads ${q.heads}, head stride ${q.headStride}, offset ${q.offset}) does not hold a rope part of ${a.layout.rope} per head`);
    checkArg(q.x.size >= 4 * ((a.tokens - 1) * q.rowStride + q.heads * q.headStride), 'kv_store', 'query.x', `holds ${q.x.size} bytes, too few for ${a.tokens} rows`);
  }
  p.u32(q?.heads ?? 0).u32(a.layout.rope / 2).u32(q?.rowStride ?? 0).u32(q?.headStride ?? 0).u32(q?.offset ?? 0).u32(0).u32(0).u32(0);
  return q?.x ?? placeholder(ctx.device).write;
}

/**
 * Entries `kv_store_wg` (a workgroup per token) and `kv_store_row` (an invocation per token).
 * Bindings: 0 table, 1 positions, 2 kv (f32), 3 weight (f32), 4 cache (f32, read-write), 5 q (f32,
 * read-write: the query rows, or a placeholder), 6 params {tokens, rank, half, kv_stride, kv_offset,
 * max_context, pos_index, eps, q: HeadsRope}. Writes cache rows start … start+tokens-1 and nothing else;
 * rows at or past maxContext are skipped (the engine reports the overflow before it records the step).
 * With `query`, each token's query rope parts are rotated at its position as well.
 */
export function kvStore(ctx: KernelContext, a: KvStoreArgs, label = 'kv_store'): Dispatch {
  const shape = a.shape ?? ctx.shape;
  const { kvLoraRank, rope: ropeDim, maxContext } = a.layout;
  checkArg(maxContext <= ROPE_MAX_POSITION, label, 'layout.maxContext', `(${maxContext}) exceeds the rope kernels' ${ROPE_MAX_POSITION} positions`);
  checkArg(shape === 'row' || a.tokens <= 65535, label, 'tokens', `(${a.tokens}) exceed one dispatch dimension (65535)`);
  const p = new ParamsWriter().u32(a.tokens).u32(kvLoraRank).u32(ropeDim / 2).u32(a.kvStride ?? kvLoraRank + ropeDim)
    .u32(a.kvOffset ?? 0).u32(maxContext).u32(a.positionIndex ?? 0).f32(a.eps);
  const q = kvStoreQuery(ctx, a, p);
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: shape === 'row' ? 'kv_store_row' : 'kv_store_wg',
    variant: shape,
    constants: { WG },
    inputs: [a.table, a.positions, a.kv, a.weight],
    outputs: [a.cache, q],
    params: p,
    workgroups: [shape === 'row' ? Math.ceil(a.tokens / WG) : a.tokens, 1, 1],
  });
}
