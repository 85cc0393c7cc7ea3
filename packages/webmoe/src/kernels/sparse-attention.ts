// Launcher for shaders/sparse-attention.wgsl: DeepSeek-V4's shared-KV attention over the sliding window
// and the compressed entries, with per-head sinks and the inverse RoPE of the output
// (docs/kernels.md#sparse-attention).
// 'workgroup': attend_wg over (head group, token, split) — HG heads share each tile of TILE decoded entries —
//   then, with splits > 1, attend_combine (an invocation per (token, head, 4 dims), flat grid).
// 'row': attend_row, an invocation per (token, head), flat grid (software adapters).
import source from '../../../../shaders/sparse-attention.wgsl?raw';
import { kernelStorage, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { ROPE_MAX_POSITION } from '../model/rope';
import { launchKernel } from './dispatch';
import { checkArg, checkBuffer, checkInt } from './launch-checks';
import { chooseSplits } from './mla';
import { KV_ENTRY, kvEntryWords } from './v4-kv';
import { GRID, ROPE_ROTATION } from './wgsl-lib';

const SOURCE = composeWgsl(wgslPiece('sparse-attention', source, [GRID, KV_ENTRY, ROPE_ROTATION]));
const WG = { workgroup: 128, row: 16 } as const;
/** attend_wg's most heads per workgroup, and (head, 4 dims) pairs per invocation (MAX_PAIRS in the .wgsl). */
const MAX_HEADS = 8;
const MAX_PAIRS = 8;
const MAX_TILE = 16;

export interface SparseAttentionArgs {
  /** f32 [tokens, heads, dim]: q rms-normed per head, its last `rope` dims roped at the token's position. */
  q: GPUBuffer;
  /** The window ring (kernels/v4-kv.ts kvWindowStore), holding this call's positions and the windows before. */
  ring: GPUBuffer;
  /** The compressed entries (block b at b), or null on window-only layers. */
  compressed: GPUBuffer | null;
  /** u32 [tokens, topk]: the indexer's block ids (0xFFFFFFFF unused), or null: every complete block (HCA). */
  selected: GPUBuffer | null;
  topk: number;
  /** f32 [heads]: attn_sink. */
  sink: GPUBuffer;
  /** This layer's RoPE table (model/rope.ts ropeTable), for the inverse RoPE. */
  table: GPUBuffer;
  /** u32; token t is at position positions[positionIndex] + t (read on the GPU). */
  positions: GPUBuffer;
  positionIndex?: number;
  /** f32 [tokens, heads, dim]. */
  out: GPUBuffer;
  tokens: number;
  heads: number;
  dim: number;
  rope: number;
  /** sliding_window: positions s − window + 1 … s. */
  window: number;
  /** Ring entries (at least window + tokens − 1). */
  slots: number;
  /** Tokens per compressed block; 0 on window-only layers. */
  ratio: number;
  /** Entries `compressed` holds. */
  maxBlocks: number;
  /** Entries in the FP8 format (kv_fp8_roundtrip). */
  fp8: boolean;
  /** D^-0.5. */
  scale: number;
  shape?: KernelShape;
  /** 'workgroup': candidate splits; default chooseSplits(work items, most candidates). */
  splits?: number;
  /** 'workgroup' with splits > 1: the records, sparseAttentionScratchBytes(...) bytes. Created when absent. */
  scratch?: GPUBuffer;
  /** 'workgroup': entries per tile, a power of two ≤ 16; default sparseTileEntries(). */
  tileEntries?: number;
}

/** attend_wg's heads per workgroup: up to 8, fewer when 4-dim pairs would exceed MAX_PAIRS per invocation. */
export function sparseHeadsPerGroup(heads: number, dim: number): number {
  return Math.max(1, Math.min(heads, MAX_HEADS, Math.floor((MAX_PAIRS * WG.workgroup * 4) / dim)));
}

/** attend_wg's entries per tile: the largest power of two ≤ 16 whose tile and softmax state fit the workgroup memory. */
export function sparseTileEntries(device: GPUDevice, dim: number, headsPerGroup: number): number {
  const bytes = (tile: number) => 4 * (tile * dim + tile + headsPerGroup * tile + 3 * headsPerGroup);
  let n = MAX_TILE;
  while (n > 1 && (bytes(n) > device.limits.maxComputeWorkgroupStorageSize || headsPerGroup * n > WG.workgroup)) n /= 2;
  return n;
}

/** Bytes of the split records: per (token, head, split) dim + 4 floats. */
export function sparseAttentionScratchBytes(tokens: number, heads: number, splits: number, dim: number): number {
  return tokens * heads * splits * (dim + 4) * 4;
}

/**
 * Bindings: 0 q, 1 ring, 2 compressed, 3 selected, 4 sink, 5 table, 6 positions, 7 out, 8 params {tokens,
 * heads, window, slots, ratio, max_blocks, topk, pos_index, splits, scale}; attend_combine: 0 records, 1 out,
 * 2 params. Overrides D, ROPE, FP8, WG (and attend_wg's HG, TILE). Absent compressed/selected bind the ring.
 * Returns the dispatches in order (one or two).
 */
export function sparseAttention(ctx: KernelContext, a: SparseAttentionArgs, label = 'sparse_attention'): Dispatch[] {
  const shape = a.shape ?? ctx.shape;
  checkInt(a.tokens, label, 'tokens', 1, 65535);
  checkInt(a.heads, label, 'heads', 1, 65535);
  checkInt(a.dim, label, 'dim', 4);
  checkArg(a.dim % 4 === 0, label, 'dim', `is ${a.dim}, not a multiple of 4`);
  checkInt(a.rope, label, 'rope', 0, a.dim - 4);
  checkArg(a.rope % 4 === 0, label, 'rope', `is ${a.rope}: the output's inverse RoPE takes whole groups of 4 dims`);
  checkInt(a.window, label, 'window', 1);
  checkInt(a.slots, label, 'slots', a.window + a.tokens - 1);
  checkInt(a.ratio, label, 'ratio', 0);
  const hasBlocks = a.ratio > 0;
  checkArg(hasBlocks === (a.compressed !== null), label, 'compressed', hasBlocks ? 'is null on a layer with ratio > 0' : 'is given on a window-only layer (ratio 0)');
  checkArg(!a.selected || hasBlocks, label, 'selected', 'is given on a window-only layer');
  if (a.selected) checkInt(a.topk, label, 'topk', 1);
  if (hasBlocks) checkInt(a.maxBlocks, label, 'maxBlocks', 1);
  checkArg(a.scale > 0 && Number.isFinite(a.scale), label, 'scale', `is ${a.scale}`);
  const words = kvEntryWords(a.dim, a.rope, a.fp8);
  checkArg(Math.max(a.slots, hasBlocks ? a.maxBlocks : 0) * words < 0x80000000, label, 'slots', 'and maxBlocks address more than 2^31 words');
  checkArg(a.slots < ROPE_MAX_POSITION, label, 'slots', `(${a.slots}) exceed the rope kernels' positions`);
  checkBuffer(a.q, a.tokens * a.heads * a.dim, label, 'q');
  checkBuffer(a.out, a.tokens * a.heads * a.dim, label, 'out');
  checkBuffer(a.ring, a.slots * words, label, 'ring');
  if (a.compressed) checkBuffer(a.compressed, a.maxBlocks * words, label, 'compressed');
  if (a.selected) checkBuffer(a.selected, a.tokens * a.topk, label, 'selected');
  checkBuffer(a.sink, a.heads, label, 'sink');
  checkBuffer(a.table, a.rope, label, 'table');

  const topk = a.selected ? a.topk : 0;
  const params = (splits: number) => new ParamsWriter().u32(a.tokens).u32(a.heads).u32(a.window).u32(a.slots).u32(a.ratio)
    .u32(hasBlocks ? a.maxBlocks : 0).u32(topk).u32(a.positionIndex ?? 0).u32(splits).f32(a.scale).u32(0).u32(0);
  const inputs = [a.q, a.ring, a.compressed ?? a.ring, a.selected ?? a.ring, a.sink, a.table, a.positions];
  const base = { D: a.dim, ROPE: a.rope, FP8: a.fp8 ? 1 : 0 };
  const variant = a.fp8 ? 'fp8' : 'f32';

  if (shape === 'row') {
    return [launchKernel(ctx, label, {
      source: SOURCE, entryPoint: 'attend_row', variant: `row-${variant}`, constants: { ...base, WG: WG.row },
      inputs, outputs: [a.out], params: params(1), workgroups: grid1d(Math.ceil((a.tokens * a.heads) / WG.row)),
    })];
  }

  const HG = sparseHeadsPerGroup(a.heads, a.dim);
  const tile = a.tileEntries ?? sparseTileEntries(ctx.device, a.dim, HG);
  checkArg([1, 2, 4, 8, 16].includes(tile) && HG * tile <= WG.workgroup, label, 'tileEntries', `is ${tile}: a power of two ≤ ${MAX_TILE} with ${HG} heads × entries ≤ ${WG.workgroup}`);
  const groups = Math.ceil(a.heads / HG);
  const candidates = a.window + (hasBlocks ? (a.selected ? a.topk : a.maxBlocks) : 0);
  const splits = Math.max(1, Math.min(a.splits ?? chooseSplits(a.tokens * groups, candidates), candidates));
  const constants = { ...base, WG: WG.workgroup, HG, TILE: tile };
  const attend = { source: SOURCE, entryPoint: 'attend_wg', variant: `wg-${variant}`, constants, inputs } as const;
  if (splits === 1) {
    return [launchKernel(ctx, label, { ...attend, outputs: [a.out], params: params(1), workgroups: [groups, a.tokens, 1] })];
  }
  const scratchBytes = sparseAttentionScratchBytes(a.tokens, a.heads, splits, a.dim);
  if (a.scratch) checkArg(a.scratch.size >= scratchBytes, label, 'scratch', `holds ${a.scratch.size} bytes, ${splits} splits need ${scratchBytes}`);
  const scratch = a.scratch ?? kernelStorage(ctx, `${label}:records`, scratchBytes);
  const dv = a.dim / 4;
  return [
    launchKernel(ctx, `${label}:attend`, { ...attend, outputs: [scratch], params: params(splits), workgroups: [groups, a.tokens, splits] }),
    launchKernel(ctx, `${label}:combine`, {
      source: SOURCE, entryPoint: 'attend_combine', variant: `combine-${variant}`, constants: { ...base, WG: WG.workgroup },
      inputs: [scratch], outputs: [a.out], params: params(splits), workgroups: grid1d(Math.ceil((a.tokens * a.heads * dv) / WG.workgroup)),
    }),
  ];
}
