// Launcher for shaders/indexer.wgsl: DeepSeek-V4's lightning indexer (docs/kernels.md#lightning-indexer).
// indexerScores: an invocation per (token, block), grid [⌈maxBlocks/64⌉, T], on every adapter.
// topkSelect: a workgroup per token, WG 256 for the 'workgroup' shape and 64 for 'row'.
import source from '../../../../shaders/indexer.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkArg, checkBuffer, checkInt } from './launch-checks';
import { GRID, RADIX_SELECT, WORKGROUP_REDUCE } from './wgsl-lib';

const SOURCE = composeWgsl(wgslPiece('indexer', source, [GRID, RADIX_SELECT, WORKGROUP_REDUCE]));
const SCORES_WG = 64;
const SELECT_WG = { workgroup: 256, row: 64 } as const;
const MAX_GRID = 65535;
/** Block ids a token's selection leaves unused. */
export const TOPK_NONE = 0xffffffff;

interface BlockPositions {
  /** u32 buffer: token t of the call is at position positions[positionIndex] + t. */
  positions: GPUBuffer;
  /** Default 0. */
  positionIndex?: number;
  tokens: number;
  /** The compression ratio m: a token at position s sees blocks b < ⌊(s + 1)/m⌋ (4 for CSA layers). */
  ratio: number;
  /** Blocks in the keys buffer and columns of scores; visible blocks beyond it are not scored. */
  maxBlocks: number;
}

export interface IndexerScoresArgs extends BlockPositions {
  /** f32 [T, heads, dim]: the indexer's queries, roped, Hadamard-transformed and FP4-rounded. */
  q: GPUBuffer;
  /** f32 [T, heads]: lin(x, weights_proj), not yet scaled. */
  w: GPUBuffer;
  /** f32 [maxBlocks, dim]: the compressed indexer keys. */
  keys: GPUBuffer;
  /** Out f32 [T, maxBlocks]: Σ_h (w_h·scale)·relu(q_h·K_b) for visible b, −∞ for the rest. */
  scores: GPUBuffer;
  heads: number;
  dim: number;
  /** dim^-0.5 · heads^-0.5 for DeepSeek-V4. */
  scale: number;
}

export interface TopkSelectArgs extends BlockPositions {
  /** f32 [T, maxBlocks], as indexerScores writes it (only visible blocks are read). */
  scores: GPUBuffer;
  /**
   * Out u32 [T, k]: the min(k, visible) visible blocks of highest score in ascending block order, then
   * TOPK_NONE. At the k-th place equal scores go to the lower block ids.
   */
  ids: GPUBuffer;
  k: number;
  shape?: KernelShape;
}

function checkPositions(a: BlockPositions, label: string): number {
  const positionIndex = a.positionIndex ?? 0;
  checkInt(a.tokens, label, 'tokens', 1, MAX_GRID);
  checkInt(a.ratio, label, 'ratio', 1);
  checkInt(a.maxBlocks, label, 'maxBlocks', 1);
  checkInt(positionIndex, label, 'positionIndex', 0);
  checkBuffer(a.positions, positionIndex + 1, label, 'positions');
  return positionIndex;
}

export function indexerScores(ctx: KernelContext, a: IndexerScoresArgs, label = 'indexer_scores'): Dispatch {
  const positionIndex = checkPositions(a, label);
  checkInt(a.heads, label, 'heads', 1);
  checkInt(a.dim, label, 'dim', 1);
  checkArg(Number.isFinite(a.scale), label, 'scale', `is ${a.scale}`);
  checkArg(Math.ceil(a.maxBlocks / SCORES_WG) <= MAX_GRID, label, 'maxBlocks', `(${a.maxBlocks}) exceeds one dispatch dimension of ${SCORES_WG}-block groups`);
  checkBuffer(a.q, a.tokens * a.heads * a.dim, label, 'q');
  checkBuffer(a.w, a.tokens * a.heads, label, 'w');
  checkBuffer(a.keys, a.maxBlocks * a.dim, label, 'keys');
  checkBuffer(a.scores, a.tokens * a.maxBlocks, label, 'scores');
  const p = new ParamsWriter().u32(a.tokens).u32(a.heads).u32(a.dim).u32(a.ratio).u32(a.maxBlocks).u32(positionIndex)
    .f32(a.scale).f32(-Infinity);
  return launchKernel(ctx, label, {
    source: SOURCE, entryPoint: 'indexer_scores', variant: 'score', constants: { WG: SCORES_WG },
    inputs: [a.q, a.w, a.keys, a.positions], outputs: [a.scores], params: p,
    workgroups: [Math.ceil(a.maxBlocks / SCORES_WG), a.tokens, 1],
  });
}

export function topkSelect(ctx: KernelContext, a: TopkSelectArgs, label = 'topk_select'): Dispatch {
  const positionIndex = checkPositions(a, label);
  // Counts are scanned as f32, exact below 2^24.
  checkInt(a.maxBlocks, label, 'maxBlocks', 1, 1 << 24);
  checkInt(a.k, label, 'k', 1);
  checkBuffer(a.scores, a.tokens * a.maxBlocks, label, 'scores');
  checkBuffer(a.ids, a.tokens * a.k, label, 'ids');
  const shape = a.shape ?? ctx.shape;
  const p = new ParamsWriter().u32(a.tokens).u32(a.k).u32(a.ratio).u32(a.maxBlocks).u32(positionIndex).u32(0).u32(0).u32(0);
  return launchKernel(ctx, label, {
    source: SOURCE, entryPoint: 'topk_select', variant: shape, constants: { WG: SELECT_WG[shape] },
    inputs: [a.scores, a.positions], outputs: [a.ids], params: p, workgroups: grid1d(a.tokens),
  });
}
