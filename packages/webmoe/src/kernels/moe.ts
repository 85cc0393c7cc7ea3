// Launcher for shaders/moe.wgsl: grouping (token, choice) pairs by expert for the grouped expert GEMM
// of prefill, and the weighted sum that brings the expert outputs back to tokens.
//
// Prefill: router → moePlan → moeGather → grouped gate/up/SwiGLU/down (matmulGrouped, rows
// offsets[e] … offsets[e+1]-1 belong to expert e) → moeScatter. Decode needs none of them: the indexed
// products (matmulExperts) read the experts by id and the down projection sums them with their weights.
//
// Bindings (inputs | outputs | params):
//   moe_plan    ids [T·K] u32 | offsets [E+1] u32 (then E+1 tile starts with tileTokens), slot [T·K] u32 | params
//   moe_gather  x [T, d] f32, slot | x_grouped [T·K, d] f32 | params
//   moe_scatter y_grouped [T·K, d] f32, slot, weights [T·K] f32 | out [T, d] f32 | params
// Params (8 × 4 bytes): tokens, top_k, experts, dim, accumulate, tile_tokens, 2 × padding.
import source from '../../../../shaders/moe.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { GRID } from './wgsl-lib';
import { launchKernel } from './dispatch';
import { checkBuffer, checkInt } from './launch-checks';

/** Invocations per workgroup of the element-wise kernels. */
const EW_WG = 256;
export const MOE_MAX_EXPERTS = 256;

export interface MoePlanArgs {
  /** [tokens, topK] u32 from the router; distinct within a token. */
  ids: GPUBuffer;
  /**
   * [experts + 1] u32: expert e's grouped rows are offsets[e] … offsets[e+1]-1; offsets[E] = tokens·topK.
   * With tileTokens, 2·(experts + 1): then the tile starts, offsets[E+1+e] = Σ_{e'<e} ⌈n_e'/tileTokens⌉,
   * which the grouped GEMM reads to run only the (expert, tile) pairs that exist (ExpertGroups.tiles).
   */
  offsets: GPUBuffer;
  /** [tokens, topK] u32: the grouped row of each pair. Same-expert rows are in token order. */
  slot: GPUBuffer;
  tokens: number;
  topK: number;
  experts: number;
  /** Rows per tile of the tile starts; absent: none written. */
  tileTokens?: number;
}

export interface MoeGatherArgs {
  x: GPUBuffer;
  slot: GPUBuffer;
  /** [tokens·topK, dim], written. */
  xGrouped: GPUBuffer;
  tokens: number;
  topK: number;
  dim: number;
}

export interface MoeScatterArgs {
  /** [tokens·topK, dim] expert outputs in grouped order. */
  yGrouped: GPUBuffer;
  slot: GPUBuffer;
  /** [tokens, topK] routing weights. */
  weights: GPUBuffer;
  /** [tokens, dim]. */
  out: GPUBuffer;
  tokens: number;
  topK: number;
  dim: number;
  /** Add to out (the shared experts' output, or the residual) instead of overwriting it. */
  accumulate?: boolean;
}

type Entry = 'moe_plan' | 'moe_gather' | 'moe_scatter';

const SOURCE = composeWgsl(wgslPiece('moe', source, [GRID]));

function launch(ctx: KernelContext, entry: Entry, label: string, inputs: GPUBuffer[], outputs: GPUBuffer[],
  p: { tokens: number; topK: number; experts?: number; dim?: number; accumulate?: boolean; tileTokens?: number }, workgroups: [number, number, number]): Dispatch {
  const params = new ParamsWriter().u32(p.tokens).u32(p.topK).u32(p.experts ?? 0).u32(p.dim ?? 0).u32(p.accumulate ? 1 : 0)
    .u32(p.tileTokens ?? 0).u32(0).u32(0);
  return launchKernel(ctx, label, { source: SOURCE, entryPoint: entry, variant: 'any', constants: { EW_WG }, inputs, outputs, params, workgroups });
}

function elementGrid(elements: number): [number, number, number] {
  return grid1d(Math.ceil(elements / EW_WG));
}

/** Per-expert counts → offsets, and each pair's grouped row (deterministic ranks). One workgroup. */
export function moePlan(ctx: KernelContext, a: MoePlanArgs, label = 'moe_plan'): Dispatch {
  checkInt(a.experts, label, 'experts', 1, MOE_MAX_EXPERTS);
  if (a.tileTokens !== undefined) checkInt(a.tileTokens, label, 'tileTokens', 1);
  checkBuffer(a.offsets, (a.experts + 1) * (a.tileTokens === undefined ? 1 : 2), label, a.tileTokens === undefined ? 'offsets' : 'offsets with tile starts');
  return launch(ctx, 'moe_plan', label, [a.ids], [a.offsets, a.slot], a, [1, 1, 1]);
}

/** x_grouped[slot[t, k]] = x[t]. */
export function moeGather(ctx: KernelContext, a: MoeGatherArgs, label = 'moe_gather'): Dispatch {
  return launch(ctx, 'moe_gather', label, [a.x, a.slot], [a.xGrouped], a, elementGrid(a.tokens * a.topK * a.dim));
}

/** out[t] (+)= Σ_k weights[t, k] · y_grouped[slot[t, k]], k in order. */
export function moeScatter(ctx: KernelContext, a: MoeScatterArgs, label = 'moe_scatter'): Dispatch {
  return launch(ctx, 'moe_scatter', label, [a.yGrouped, a.slot, a.weights], [a.out], a, elementGrid(a.tokens * a.dim));
}
