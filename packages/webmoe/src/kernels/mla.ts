// Launcher for shaders/mla.wgsl (absorbed-form MLA attention), and the latent KV cache's layout.
import source from '../../../../shaders/mla.wgsl?raw';
import { shapeFor, kernelUniform, kernelStorage, type KernelContext, type KernelShape, type MlaDecodeKernel, type MlaPrefillKernel } from '../gpu/kernel-context';
import { ParamsWriter, createStorage } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel, type KernelLaunch } from './dispatch';
import { checkArg } from './launch-checks';
import { GRID, WORKGROUP_REDUCE } from './wgsl-lib';
import type { ModelConfig } from '../model/config';
import { WebmoeError } from '../errors';

/**
 * How the latent cache stores values: 'f32' (exact, the default); 'f16', value pairs packed in u32 words
 * (pack2x16float: no shader-f16 needed); 'fp8', E4M3 codes four per word with an f32 scale per row.
 */
export type KvCacheFormat = 'f32' | 'f16' | 'fp8';
export const KV_CACHE_FORMATS: readonly KvCacheFormat[] = ['f32', 'f16', 'fp8'];
/** The shaders' FORMAT override of each format (shaders/mla.wgsl cache_value). */
export const KV_FORMAT_CODE: Readonly<Record<KvCacheFormat, number>> = { f32: 0, f16: 1, fp8: 2 };

/** u32 words of one cache row of `rowFloats` values. */
export function kvRowWords(rowFloats: number, format: KvCacheFormat): number {
  if (format === 'f16') return Math.ceil(rowFloats / 2);
  if (format === 'fp8') return Math.ceil(rowFloats / 4) + 1;
  return rowFloats;
}

/**
 * The latent KV cache of one layer: a GPU buffer of rows [maxContext, rowWords] u32 words. Row s holds
 * token s's c_kv after kv_a_layernorm, then its k_pe after rope, in `format` (written by kvStore in
 * kernels/rope.ts for f32, kvStorePacked in kernels/mla-cache.ts otherwise).
 * This is MLA's KV compression: kvLoraRank + rope values per token per layer (576 for V3) where a
 * multi-head cache holds H × (nope + rope + v) (40960 for V3).
 */
export interface LatentCacheLayout {
  readonly maxContext: number;
  readonly kvLoraRank: number;
  readonly rope: number;
  /** Values per row: kvLoraRank + rope. */
  readonly rowFloats: number;
  readonly format: KvCacheFormat;
  /** u32 words per row (rowFloats for f32). */
  readonly rowWords: number;
  readonly bytesPerLayer: number;
}

export function latentCacheLayout(cfg: Pick<ModelConfig, 'kvLoraRank' | 'qkRopeHeadDim'>, maxContext: number, format: KvCacheFormat = 'f32'): LatentCacheLayout {
  if (!KV_CACHE_FORMATS.includes(format)) {
    throw new WebmoeError('invalid-request', `kvCacheFormat is ${String(format)}, not one of ${KV_CACHE_FORMATS.join(', ')}`, { detail: { format } });
  }
  const rowFloats = cfg.kvLoraRank + cfg.qkRopeHeadDim;
  const rowWords = kvRowWords(rowFloats, format);
  return { maxContext, kvLoraRank: cfg.kvLoraRank, rope: cfg.qkRopeHeadDim, rowFloats, format, rowWords, bytesPerLayer: maxContext * rowWords * 4 };
}

/** One cache buffer per layer; fails with 'insufficient-limits' when a layer's cache cannot be bound. */
export function createLatentCache(device: GPUDevice, layout: LatentCacheLayout, layers: number, label = 'kv-cache'): GPUBuffer[] {
  const limit = device.limits.maxStorageBufferBindingSize;
  if (layout.bytesPerLayer > limit) {
    throw new WebmoeError('insufficient-limits',
      `A ${layout.maxContext}-token latent cache needs ${layout.bytesPerLayer} bytes per layer; this GPU binds at most ${limit}. Ask for a shorter context.`,
      { detail: { maxContext: layout.maxContext, bytesPerLayer: layout.bytesPerLayer, limit } });
  }
  return Array.from({ length: layers }, (_, i) => createStorage(device, `${label}:${i}`, layout.bytesPerLayer));
}

export interface KvCacheBytes {
  /** Latent cache: a row's words (kvRowWords) × layers × 4. */
  latent: number;
  /** A standard multi-head cache of the same model: H × (nope + rope + v) × layers × 4. */
  mha: number;
  /** latent / mha (V3: 0.0141). */
  ratio: number;
}

/** Bytes per token of context, over `layers` layers (default: the main layers; MTP adds its own); the multi-head figure is f32. */
export function kvCacheBytesPerToken(
  cfg: Pick<ModelConfig, 'kvLoraRank' | 'qkRopeHeadDim' | 'numHeads' | 'qkNopeHeadDim' | 'vHeadDim' | 'numLayers'>,
  layers = cfg.numLayers,
  format: KvCacheFormat = 'f32',
): KvCacheBytes {
  const latent = kvRowWords(cfg.kvLoraRank + cfg.qkRopeHeadDim, format) * layers * 4;
  const mha = cfg.numHeads * (cfg.qkNopeHeadDim + cfg.qkRopeHeadDim + cfg.vHeadDim) * layers * 4;
  return { latent, mha, ratio: latent / mha };
}

export interface MlaAttentionArgs {
  /** q̃ = W_UKᵀ q_nope per head: f32 [tokens, heads, kvLoraRank]. */
  qt: GPUBuffer;
  /** Roped q_pe: element j of head h of token t at t·qpeTokenStride + h·qpeHeadStride + qpeOffset + j. */
  qpe: GPUBuffer;
  /** This layer's latent cache, already holding positions 0 … start+tokens-1. */
  cache: GPUBuffer;
  layout: LatentCacheLayout;
  /** u32 buffer; the call's first token is at position positions[positionIndex] (read on the GPU). */
  positions: GPUBuffer;
  positionIndex?: number;
  /** o_lat: f32 [tokens, heads, kvLoraRank]. */
  out: GPUBuffer;
  tokens: number;
  heads: number;
  /** softmaxScale(config) from model/rope.ts. */
  scale: number;
  /** Default heads × qpeHeadStride. */
  qpeTokenStride?: number;
  /** Default rope. */
  qpeHeadStride?: number;
  qpeOffset?: number;
  shape?: KernelShape;
  /** 'workgroup': position splits (flash-decoding). Default: chooseSplits(tokens × heads, maxContext). */
  splits?: number;
  /** 'workgroup' with splits > 1: the partial records, mlaScratchBytes(...) bytes. Created when absent. */
  scratch?: GPUBuffer;
  /** kernel 'latent-gemm': the scores S, latentGemmPlan(...).scoresBytes bytes. Created when absent. */
  scores?: GPUBuffer;
  /** 'row': latent dims per invocation (default all: scores are then computed once per (token, head)). */
  latentChunk?: number;
  /**
   * mla_attend_tile, whatever the shape. Default: for prefill chunks (tokens > 1) where prefillKernel() is
   * 'tile'; where it is 'heads' or 'latent-gemm', the chunk runs that kernel (as `tiled: false, kernel: …`).
   */
  tiled?: boolean;
  /** mla_attend_tile's positions per tile, a power of two from 4 to 64; default tilePositions() (the largest that fits). */
  tilePositions?: number;
  /**
   * Decode in the 'workgroup' shape (or any call with tiled: false): 'heads' is mla_attend_heads, every
   * cache row loaded once per group of heads; 'latent-gemm' is mla_latent_scores + mla_latent_values, every
   * cache row loaded twice whatever the heads; 'per-head' is mla_attend_wg, a workgroup per head. Default
   * ctx.mlaDecode, else defaultDecodeKernel().
   */
  kernel?: MlaDecodeKernel;
  /** mla_attend_heads: invocations per head, positions per tile (defaults: headsPlan()). */
  lanes?: number;
  headsTile?: number;
}

export type { MlaDecodeKernel, MlaPrefillKernel };

/**
 * A prefill chunk's attention kernel: ctx.mlaPrefill, else mla_attend_tile. mla_attend_heads and the latent GEMM
 * were measured against the tile on an H200 and neither won in every run (docs/kernels.md#prefill-attention),
 * so they are options.
 */
export function prefillKernel(ctx: KernelContext): MlaPrefillKernel {
  return ctx.mlaPrefill ?? 'tile';
}

const SOURCE = composeWgsl(wgslPiece('mla', source, [GRID, WORKGROUP_REDUCE]));
const WG_GROUP = 64;
const WG_ROW = 4;
// mla_attend_wg scores a tile of one position per invocation at a time.
const WG_TILE = WG_GROUP;
// mla_attend_tile: heads per invocation (vec4 lanes in the .wgsl).
const TILE_HEADS = 4;

/**
 * mla_attend_tile's positions per tile: the largest power of two from 4 to 64 whose cache rows fit the
 * workgroup memory (bigger tiles only spare barriers; the softmax runs over blocks of 8).
 */
export function tilePositions(device: GPUDevice, rowFloats: number): number {
  let n = 64;
  while (n > 4 && n * rowFloats * 4 > device.limits.maxComputeWorkgroupStorageSize) n /= 2;
  return n;
}

/** How mla_attend_heads is laid out for a call: see headsPlan. */
export interface HeadsPlan {
  /** Invocations per head: each owns ⌈rowFloats / lanes⌉ ≤ HEADS_DMAX query and accumulator dims. */
  lanes: number;
  /** Heads per workgroup, and workgroups per (split, token) covering all heads. */
  headsPerGroup: number;
  groups: number;
  /** Cache rows per tile in workgroup memory. */
  tile: number;
  splits: number;
}

// shaders/mla.wgsl DMAX and TP_MAX: the private arrays' sizes.
const HEADS_DMAX = 40;
const HEADS_TP_MAX = 16;
// Splits of mla_attend_heads and the latent GEMM: enough workgroups for a GPU's cores, never shorter than
// this many positions at the full context, and partial records at most half the full cache's bytes.
const HEADS_MIN_WORKGROUPS = 128;
const HEADS_MIN_SPLIT = 64;

/**
 * mla_attend_heads' layout on this device: the fewest lanes (a power of two from 4) whose dims fit the
 * registers, as many heads per workgroup as the invocation limit allows (split evenly over the groups),
 * the largest tile (a power of two up to 16) whose rows and score shares fit the workgroup memory, and
 * splits as in the constants above unless `splits` is given.
 */
export function headsPlan(limits: GPUSupportedLimits, layout: Pick<LatentCacheLayout, 'rowFloats' | 'kvLoraRank' | 'maxContext'>,
  heads: number, tokens: number, over: { lanes?: number; tile?: number; splits?: number } = {}): HeadsPlan {
  const row = layout.rowFloats;
  let lanes = over.lanes ?? 4;
  while (over.lanes === undefined && Math.ceil(row / lanes) > HEADS_DMAX) lanes *= 2;
  const maxInvocations = workgroupInvocations(limits);
  const perGroupMax = Math.max(1, Math.floor(maxInvocations / lanes));
  const groups = Math.ceil(heads / perGroupMax);
  const headsPerGroup = Math.ceil(heads / groups);
  const bytes = (tp: number) => (tp * row + headsPerGroup * tp * lanes) * 4;
  let tile = over.tile ?? HEADS_TP_MAX;
  while (over.tile === undefined && tile > 1 && bytes(tile) > limits.maxComputeWorkgroupStorageSize) tile /= 2;
  return { lanes, headsPerGroup, groups, tile, splits: over.splits === undefined ? defaultSplits(layout, heads, tokens, tokens * groups) : Math.min(over.splits, layout.maxContext) };
}

function workgroupInvocations(limits: GPUSupportedLimits): number {
  return Math.min(256, limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
}

/** Position splits of a decode kernel with `workgroups` per split: see the constants above. */
function defaultSplits(layout: Pick<LatentCacheLayout, 'rowFloats' | 'kvLoraRank' | 'maxContext'>, heads: number, tokens: number, workgroups: number): number {
  const partialsCap = Math.floor((layout.maxContext * layout.rowFloats) / (2 * tokens * heads * (layout.kvLoraRank + 2)));
  const splits = Math.max(1, Math.min(64, Math.ceil(HEADS_MIN_WORKGROUPS / workgroups), Math.ceil(layout.maxContext / HEADS_MIN_SPLIT), partialsCap));
  return Math.min(splits, layout.maxContext);
}

/** How mla_latent_scores and mla_latent_values are laid out for a call: see latentGemmPlan. */
export interface LatentGemmPlan {
  /** Blocks of 4 query rows (t·heads + h) per workgroup (override LG_M), and the workgroups covering all rows. */
  rowBlocks: number;
  rowGroups: number;
  /** Scores: blocks of 8 positions per workgroup (LG_P), and cache/query dims per workgroup-memory chunk (LG_K). */
  positionBlocks: number;
  dimChunk: number;
  /** Values: column groups per workgroup (LG_C), vec4 columns per invocation (LG_V), the slices covering kvLoraRank. */
  columnGroups: number;
  columnVecs: number;
  slices: number;
  /** Values: positions per tile (LG_T). */
  tile: number;
  splits: number;
  /** Bytes of the scores S: tokens × heads rows of maxContext f32. */
  scoresBytes: number;
}

// shaders/mla.wgsl LG_VMAX, and at most this many row blocks (128 query rows) per workgroup.
const LG_VMAX = 4;
const LG_ROW_BLOCKS = 32;
const LG_POSITION_BLOCKS = 8;

/**
 * The latent GEMM's layout (docs/kernels.md#latent-gemm): all query rows in one workgroup up to 128 (more
 * rows re-read the cache once per 128), the rest of the invocations over positions (scores: 8 each, at most
 * 64 per workgroup) or latent columns (values, up to 4 vec4 columns each so that few slices re-read the scores),
 * the largest power-of-two chunks and tiles up to 64 that fit the workgroup memory, and splits as for
 * mla_attend_heads unless `splits` is given.
 */
export function latentGemmPlan(limits: GPUSupportedLimits, layout: Pick<LatentCacheLayout, 'rowFloats' | 'kvLoraRank' | 'maxContext'>,
  heads: number, tokens: number, over: { splits?: number } = {}): LatentGemmPlan {
  const invocations = workgroupInvocations(limits);
  const rows = tokens * heads;
  const rowBlocks = Math.min(Math.ceil(rows / 4), LG_ROW_BLOCKS, invocations);
  const rowGroups = Math.ceil(rows / (4 * rowBlocks));
  const perRowBlock = Math.max(1, Math.floor(invocations / rowBlocks));
  const positionBlocks = Math.min(perRowBlock, LG_POSITION_BLOCKS);
  const vec4Columns = Math.ceil(layout.kvLoraRank / 4);
  const columnGroups = Math.min(perRowBlock, Math.ceil(vec4Columns / LG_VMAX));
  const columnVecs = Math.min(LG_VMAX, Math.ceil(vec4Columns / columnGroups));
  const slices = Math.ceil(vec4Columns / (columnGroups * columnVecs));
  const fit = (bytes: (n: number) => number) => {
    let n = 64;
    while (n > 1 && bytes(n) > limits.maxComputeWorkgroupStorageSize) n /= 2;
    return n;
  };
  const dimChunk = fit((k) => (rowBlocks + 2 * positionBlocks) * k * 16);
  const tile = fit((t) => (rowBlocks + columnGroups * columnVecs) * t * 16 + rowBlocks * 32);
  const splits = over.splits === undefined ? defaultSplits(layout, heads, tokens, slices * rowGroups) : Math.min(over.splits, layout.maxContext);
  return { rowBlocks, rowGroups, positionBlocks, dimChunk, columnGroups, columnVecs, slices, tile, splits, scoresBytes: rows * layout.maxContext * 4 };
}

/**
 * The 'workgroup' shape's decode kernel: the latent GEMM once the heads outnumber one mla_attend_heads group
 * (every further group re-reads the cache) and its scores fit a binding; else mla_attend_heads.
 */
export function defaultDecodeKernel(limits: GPUSupportedLimits, layout: Pick<LatentCacheLayout, 'rowFloats' | 'kvLoraRank' | 'maxContext'>,
  heads: number, tokens = 1): MlaDecodeKernel {
  if (headsPlan(limits, layout, heads, tokens).groups <= 1) return 'heads';
  return latentGemmPlan(limits, layout, heads, tokens).scoresBytes <= limits.maxStorageBufferBindingSize ? 'latent-gemm' : 'heads';
}

/**
 * Scratch bytes of one decode step in the 'workgroup' shape with `kernel` (default defaultDecodeKernel; size
 * the buffers once with this).
 */
export function decodeScratchBytes(limits: GPUSupportedLimits, layout: LatentCacheLayout, heads: number,
  kernel: MlaDecodeKernel = defaultDecodeKernel(limits, layout, heads)): { partials: number; scores: number } {
  if (kernel === 'latent-gemm') {
    const plan = latentGemmPlan(limits, layout, heads, 1);
    return { partials: plan.splits > 1 ? mlaScratchBytes(1, heads, plan.splits, layout.kvLoraRank) : 0, scores: plan.scoresBytes };
  }
  if (kernel === 'per-head') return { partials: mlaScratchBytes(1, heads, Math.min(chooseSplits(heads, layout.maxContext), layout.maxContext), layout.kvLoraRank), scores: 0 };
  return { partials: headsScratchBytes(limits, layout, heads), scores: 0 };
}

/** Bytes of mla_attend_heads' partial records for a decode step (size the scratch once with this). */
export function headsScratchBytes(limits: GPUSupportedLimits, layout: LatentCacheLayout, heads: number): number {
  return mlaScratchBytes(1, heads, headsPlan(limits, layout, heads, 1).splits, layout.kvLoraRank);
}

/**
 * How many splits keep a GPU busy: (token, head) pairs alone are enough workgroups from 512 on; below
 * that the positions are split too, but never into pieces shorter than one tile at the full context.
 */
export function chooseSplits(rows: number, maxContext: number): number {
  if (rows >= 512) return 1;
  return Math.max(1, Math.min(64, Math.ceil(512 / rows), Math.ceil(maxContext / WG_TILE)));
}

/** Bytes of the partial records for a split-K call: per (token, head, split) kvLoraRank + 2 floats. */
export function mlaScratchBytes(tokens: number, heads: number, splits: number, kvLoraRank: number): number {
  return tokens * heads * splits * (kvLoraRank + 2) * 4;
}

/**
 * Entries (bindings: 0 qt, 1 qpe, 2 cache, 3 positions, 4 out, 5 params {tokens, heads, qpe_token_stride,
 * qpe_head_stride, qpe_offset, max_context, pos_index, splits, latent_chunk, scale}; overrides R, ROPE, WG):
 * - 'workgroup' decode (and tiled: false): mla_attend_heads over (head group, split, token), overrides
 *   LANES, HG, TP from headsPlan (kernel: 'per-head': mla_attend_wg over (head, token, split)); with
 *   splits > 1 `out` is the scratch of partial records and mla_combine_wg (bindings: 0 partials, 1 o_lat,
 *   2 params) follows over (head, token).
 * - kernel 'latent-gemm': mla_latent_scores over (position tile, row group) writes the scores S (overrides
 *   LG_M, LG_P, LG_K from latentGemmPlan), then mla_latent_values (bindings: 0 scores, 1 positions, 2 cache,
 *   3 out, 4 params; overrides LG_M, LG_C, LG_V, LG_T) over (column slice, split, row group), then the
 *   combine as above when splits > 1.
 * Every entry reads the cache in layout.format (override FORMAT).
 * - 'row': mla_attend_row, one invocation per (token, head, latent chunk).
 * - tiled (prefill chunks, either shape): mla_attend_tile, one invocation per (token, 4 heads), WG_GROUP of
 *   them sharing each tile of tilePositions() cache rows (override TILE_POS).
 * Returns the dispatches in order (one to three).
 */
export function mlaAttention(ctx: KernelContext, a: MlaAttentionArgs, label = 'mla'): Dispatch[] {
  const shape = shapeFor(ctx, 'mla', a.shape);
  const { kvLoraRank: R, rope, maxContext } = a.layout;
  const qpeHeadStride = a.qpeHeadStride ?? rope;
  const latentChunk = Math.min(a.latentChunk ?? R, R);
  checkArg(a.heads <= 65535 && a.tokens <= 65535, label, 'tokens × heads', `(${a.tokens} × ${a.heads}) exceed a dispatch dimension (65535)`);
  checkArg(latentChunk >= 1, label, 'latentChunk', `is ${latentChunk}, not at least 1`);
  checkArg(a.tilePositions === undefined || [4, 8, 16, 32, 64].includes(a.tilePositions), label, 'tilePositions', `is ${a.tilePositions}, not 4, 8, 16, 32 or 64`);
  checkArg(a.cache.size >= a.layout.bytesPerLayer, label, 'cache', `holds ${a.cache.size} bytes, the ${a.layout.format} layout needs ${a.layout.bytesPerLayer}`);
  const format = { FORMAT: KV_FORMAT_CODE[a.layout.format] };
  const params = (s: number) => new ParamsWriter().u32(a.tokens).u32(a.heads).u32(a.qpeTokenStride ?? a.heads * qpeHeadStride)
    .u32(qpeHeadStride).u32(a.qpeOffset ?? 0).u32(maxContext).u32(a.positionIndex ?? 0).u32(s).u32(latentChunk).f32(a.scale).u32(0).u32(0);
  const inputs = [a.qt, a.qpe, a.cache, a.positions];

  const launch = (l: Pick<KernelLaunch, 'entryPoint' | 'variant' | 'constants' | 'inputs' | 'outputs' | 'params' | 'workgroups'>, name = label) =>
    launchKernel(ctx, name, { source: SOURCE, ...l });

  // A prefill chunk whose call names neither the tile nor a kernel takes prefillKernel's choice.
  const prefill = a.tokens > 1 && a.tiled === undefined && a.kernel === undefined ? prefillKernel(ctx) : null;
  if (a.tiled ?? prefill === 'tile') {
    const constants = { R, ROPE: rope, WG: WG_GROUP, TILE_POS: a.tilePositions ?? tilePositions(ctx.device, R + rope), ...format };
    const items = a.tokens * Math.ceil(a.heads / TILE_HEADS);
    return [launch({ entryPoint: 'mla_attend_tile', variant: 'tile', constants, inputs, outputs: [a.out], params: params(1), workgroups: grid1d(Math.ceil(items / WG_GROUP)) })];
  }

  if (shape === 'row' && prefill === null) {
    const invocations = a.tokens * a.heads * Math.ceil(R / latentChunk);
    return [launch({ entryPoint: 'mla_attend_row', variant: 'row', constants: { R, ROPE: rope, WG: WG_ROW, ...format }, inputs, outputs: [a.out], params: params(1), workgroups: grid1d(Math.ceil(invocations / WG_ROW)) })];
  }

  // The attend pass (one or more splits; the latent GEMM's after its scores pass), then the combine pass when
  // there are several. Every pass reads one params block.
  type Attend = { entryPoint: string; variant: string; constants: Record<string, number>; grid: (splits: number) => [number, number, number]; splits: number; inputs: GPUBuffer[] };
  const kernel = a.kernel ?? (prefill === 'heads' || prefill === 'latent-gemm' ? prefill : ctx.mlaDecode ?? defaultDecodeKernel(ctx.device.limits, a.layout, a.heads, a.tokens));
  let attend: Attend;
  let before: (uniform: GPUBuffer) => Dispatch[] = () => [];
  if (kernel === 'heads') {
    const plan = headsPlan(ctx.device.limits, a.layout, a.heads, a.tokens, { lanes: a.lanes, tile: a.headsTile, splits: a.splits });
    checkArg(Math.ceil((R + rope) / plan.lanes) <= HEADS_DMAX, label, 'lanes', `(${plan.lanes}) leave more than ${HEADS_DMAX} dims per invocation`);
    checkArg(plan.tile >= 1 && plan.tile <= HEADS_TP_MAX, label, 'headsTile', `is ${plan.tile}, not in [1, ${HEADS_TP_MAX}]`);
    attend = {
      entryPoint: 'mla_attend_heads', variant: 'heads',
      constants: { R, ROPE: rope, WG: plan.lanes * plan.headsPerGroup, LANES: plan.lanes, HG: plan.headsPerGroup, TP: plan.tile, ...format },
      grid: (s) => [plan.groups, s, a.tokens], splits: plan.splits, inputs,
    };
  } else if (kernel === 'latent-gemm') {
    const plan = latentGemmPlan(ctx.device.limits, a.layout, a.heads, a.tokens, { splits: a.splits });
    const scoreGroups = Math.ceil(maxContext / (8 * plan.positionBlocks));
    checkArg(scoreGroups <= 65535, label, 'layout.maxContext', `(${maxContext}) needs ${scoreGroups} score workgroups, more than a dispatch dimension (65535)`);
    checkArg(!a.scores || a.scores.size >= plan.scoresBytes, label, 'scores', `holds ${a.scores?.size} bytes, ${a.tokens * a.heads} rows of ${maxContext} scores need ${plan.scoresBytes}`);
    const scores = a.scores ?? kernelStorage(ctx, `${label}:scores`, plan.scoresBytes);
    const lg = { R, ROPE: rope, LG_M: plan.rowBlocks, ...format };
    before = (uniform) => [launch({
      entryPoint: 'mla_latent_scores', variant: 'latent-scores',
      constants: { ...lg, WG: plan.rowBlocks * plan.positionBlocks, LG_P: plan.positionBlocks, LG_K: plan.dimChunk },
      inputs, outputs: [scores], params: uniform, workgroups: [scoreGroups, plan.rowGroups, 1],
    }, `${label}:scores`)];
    attend = {
      entryPoint: 'mla_latent_values', variant: 'latent-values',
      constants: { ...lg, WG: plan.rowBlocks * plan.columnGroups, LG_C: plan.columnGroups, LG_V: plan.columnVecs, LG_T: plan.tile },
      grid: (s) => [plan.slices, s, plan.rowGroups], splits: plan.splits, inputs: [scores, a.positions, a.cache],
    };
  } else {
    attend = {
      entryPoint: 'mla_attend_wg', variant: 'workgroup', constants: { R, ROPE: rope, WG: WG_GROUP, ...format },
      grid: (s) => [a.heads, a.tokens, s], splits: Math.max(1, Math.min(a.splits ?? chooseSplits(a.tokens * a.heads, maxContext), maxContext)), inputs,
    };
  }
  const { splits } = attend;
  const uniform = kernelUniform(ctx, `${label}:params`, params(splits));
  const pass = (outputs: GPUBuffer[], name: string) =>
    launch({ entryPoint: attend.entryPoint, variant: attend.variant, constants: attend.constants, inputs: attend.inputs, outputs, params: uniform, workgroups: attend.grid(splits) }, name);
  if (splits === 1) return [...before(uniform), pass([a.out], label)];
  const scratchBytes = mlaScratchBytes(a.tokens, a.heads, splits, R);
  checkArg(!a.scratch || a.scratch.size >= scratchBytes, label, 'scratch', `holds ${a.scratch?.size} bytes, ${splits} splits need ${scratchBytes}`);
  const scratch = a.scratch ?? kernelStorage(ctx, `${label}:partials`, scratchBytes);
  return [
    ...before(uniform),
    pass([scratch], `${label}:attend`),
    launch({ entryPoint: 'mla_combine_wg', variant: 'workgroup', constants: { R, ROPE: rope, WG: WG_GROUP }, inputs: [scratch], outputs: [a.out], params: uniform, workgroups: [a.heads, a.tokens, 1] }, `${label}:combine`),
  ];
}
