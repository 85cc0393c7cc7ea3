// MoE prefill over a layer's routed experts, shared by the V3 and V4 forward passes: the (token, choice)
// pairs grouped by expert (moe_plan, moe_gather), one grouped GEMM per projection over only the
// (expert, tile) pairs that exist (docs/kernels.md#expert-tiles), and the weighted sum back to the tokens.
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import type { WeightRef } from '../kernels/matmul';
import { groupedTileTokens } from '../kernels/matmul-grouped';
import { moeGather, moePlan, moeScatter } from '../kernels/moe';
import { matmulExpertParts } from '../kernels/weight-parts';
import type { GpuExpertMatrix, GpuExperts } from './weights';

export interface GroupedExpertsArgs {
  experts: GpuExperts;
  /** [tokens, topK] u32: each choice's expert (the router's ids, or with paging its pool slot). */
  ids: GPUBuffer;
  /** [tokens, topK] f32 routing weights. */
  weights: GPUBuffer;
  /** [tokens, dim] normalized input. */
  x: GPUBuffer;
  /** [tokens, dim]: the weighted sum of the experts, written or added. */
  out: GPUBuffer;
  accumulate: boolean;
  /** Scratch: offsets and tile starts [2·(experts + 1)], slot [T·K], x_grouped and y_grouped [T·K, dim], hidden [T·K, I]. */
  scratch: { offsets: GPUBuffer; slot: GPUBuffer; xGrouped: GPUBuffer; yGrouped: GPUBuffer; hidden: GPUBuffer };
  tokens: number;
  topK: number;
  dim: number;
  /** V4's SwiGLU clamp. */
  swigluLimit?: number;
}

export function recordGroupedExperts(ctx: KernelContext, a: GroupedExpertsArgs, lab: (s: string) => string): Dispatch[] {
  const ex = a.experts;
  const { offsets, slot, xGrouped, yGrouped, hidden } = a.scratch;
  const T = a.tokens, K = a.topK;
  const on = (m: GpuExpertMatrix): WeightRef => ({ buffer: ex.buffer, offset: m.offset, layout: m.layout });
  const gateUp = {
    weight: on(ex.gate), up: on(ex.up), swigluLimit: a.swigluLimit, x: xGrouped, y: hidden, tokens: T * K, batch: ex.count,
    groups: { offsets, strideBytes: ex.strideBytes, maxRows: T },
  };
  // One tile size for both projections: moe_plan writes the starts once per layer.
  const tileTokens = groupedTileTokens(ctx, gateUp, ex.count, lab('experts_gate_up'));
  const groups = { ...gateUp.groups, tiles: { tokens: tileTokens, offset: ex.count + 1 } };
  return [
    moePlan(ctx, { ids: a.ids, offsets, slot, tokens: T, topK: K, experts: ex.count, tileTokens }, lab('moe_plan')),
    moeGather(ctx, { x: a.x, slot, xGrouped, tokens: T, topK: K, dim: a.dim }, lab('moe_gather')),
    ...matmulExpertParts(ctx, ex.parts, { ...gateUp, groups }, lab('experts_gate_up')),
    ...matmulExpertParts(ctx, ex.parts, { weight: on(ex.down), x: hidden, y: yGrouped, tokens: T * K, batch: ex.count, groups }, lab('experts_down')),
    moeScatter(ctx, { yGrouped, slot, weights: a.weights, out: a.out, tokens: T, topK: K, dim: a.dim, accumulate: a.accumulate }, lab('moe_scatter')),
  ];
}
