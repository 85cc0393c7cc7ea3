// Launcher for shaders/matmul-experts.wgsl: MoE decode's expert-indexed products. Batch entry k (a slot)
// runs expert ids[idsOffset + k] of a buffer holding all of a layer's experts (or a range of them,
// `range`: a group split over buffers, kernels/weight-parts.ts); the down projection can scale the slots by
// the router's weights and sum them into one output: y (+)= Σ_k w_k · W_{ids[k]} x_k.
//
// With `shared`, the last slot runs the expert at that index of the group (a shared expert the loader
// placed after the routed ones, executor/fused-weights.ts), unweighted: the shared expert joins the routed
// experts' launches (docs/architecture-v3.md#layers).
//
// Bindings: 0 x f32[] (viewed as vec4s), 1 w, 2 w_up (the gate's buffer again without SwiGLU), 3 ids u32[],
// 4 slot weights f32[] (x again when unscaled) | 5 y | 6 params: the Product header (kernels/product.ts),
// then ids_offset, weights_offset, slots, sum, scaled, routed (slots read from ids), shared (its expert
// index), expert_base, expert_count (the experts the buffer holds: a part of a group split over buffers,
// docs/paging.md#binding-limit), 2 × padding. Overrides WG, TT, SWIGLU, X4.
// Which entry: shape 'workgroup' with at most 4 tokens → experts_wg, or product_sg (a subgroup per row)
// where the context chose subgroup reductions; otherwise experts_row.
// Grid: flat, blocks × token spans × slots (one when summed).
import source from '../../../../shaders/matmul-experts.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import { wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkArg } from './launch-checks';
import {
  blocksOf, fits, planProduct, productGrid, productParams, rowsConstants, rowsKind, subgroupRows, tokenTile, weightSource,
  swigluHeader, type ProductArgs, type SwigluArgs,
} from './product';
import { PRODUCT_ROWS } from './wgsl-lib';

/** The role's main source and the library pieces it always needs. */
export const MATMUL_EXPERTS = wgslPiece('matmul-experts', source, [PRODUCT_ROWS]);

/** The range of a buffer holding every expert of its group. */
const ALL = 0xffffffff;

/** Which expert each slot runs. */
export interface ExpertSlots {
  /** u32: slot k runs expert ids[idsOffset + k]. */
  ids: GPUBuffer;
  idsOffset?: number;
  /** Bytes between consecutive experts' tensors in the weight buffer(s); a multiple of 4. */
  strideBytes: number;
  /** Scale slot k by weights[weightsOffset + k] (f32): the router's weights. */
  weights?: GPUBuffer;
  weightsOffset?: number;
  /** Sum the slots into one output: y (+)= Σ_k w_k · W_{ids[k]} x_k. */
  sum?: boolean;
  /** The last of the `batch` slots runs expert `shared` of the buffer with weight 1 instead of reading ids. */
  shared?: number;
  /**
   * The buffer holds only experts base … base + count - 1 (one part of a group split over buffers,
   * weight-parts.ts): expert e is at index e - base, and a slot whose expert (ids or `shared`) lies outside
   * the range is skipped, leaving its output untouched. Default: every expert, at its own index.
   */
  range?: { base: number; count: number };
}

export interface MatmulExpertsArgs extends ProductArgs, SwigluArgs {
  /** `batch` is the number of slots. */
  experts: ExpertSlots;
}

export function matmulExperts(ctx: KernelContext, a: MatmulExpertsArgs, label = 'matmul_experts'): Dispatch {
  const ex = a.experts;
  const sum = ex.sum ?? false;
  checkArg(!(a.up && sum), label, 'experts.sum', 'excludes SwiGLU (up): the slots are summed after the down projection');
  const shared = ex.shared !== undefined;
  checkArg(!shared || (Number.isInteger(ex.shared) && ex.shared! >= 0), label, 'experts.shared', `must be an expert index, got ${ex.shared}`);
  const plan = planProduct(a, { up: a.up, flatY: sum, gridBatch: sum ? 1 : a.batch ?? 1 }, label);
  const routed = plan.B - (shared ? 1 : 0);
  checkArg(routed >= 0, label, 'batch', 'must hold the shared slot');
  fits(ex.ids, 4 * ((ex.idsOffset ?? 0) + routed), 'expert ids', label);
  if (ex.weights) fits(ex.weights, 4 * ((ex.weightsOffset ?? 0) + routed), 'slot weights', label);
  const range = ex.range ?? { base: 0, count: ALL };
  checkArg(Number.isInteger(range.base) && range.base >= 0 && Number.isInteger(range.count) && range.count >= 1 && range.count <= ALL, label,
    'experts.range', `must be a base ≥ 0 and a count ≥ 1, got ${range.base} + ${range.count}`);
  const sharedAt = ex.shared! - range.base;
  if (shared && sharedAt >= 0 && sharedAt < range.count) fits(a.weight.buffer, (a.weight.offset ?? 0) + sharedAt * ex.strideBytes + a.weight.layout.bytes, 'the shared expert', label);
  const kind = rowsKind(ctx, plan, a.shape, false, true);
  const rowsSg = subgroupRows(ctx);
  const span = tokenTile(kind, plan.maxTokens);
  const params = productParams(a, plan, { ...swigluHeader(a, label), expertStrideBytes: ex.strideBytes, span }, label)
    .u32(ex.idsOffset ?? 0).u32(ex.weightsOffset ?? 0).u32(plan.B).u32(sum ? 1 : 0).u32(ex.weights ? 1 : 0)
    .u32(routed).u32(ex.shared ?? 0).u32(range.base).u32(range.count).u32(0).u32(0);
  return launchKernel(ctx, label, {
    source: weightSource(MATMUL_EXPERTS, a.weight, label, kind),
    entryPoint: { wg: 'experts_wg', sg: 'product_sg', row: 'experts_row', tile: 'experts_row' }[kind],
    variant: kind,
    constants: rowsConstants(kind, plan, a.up !== undefined, rowsSg),
    inputs: [a.x, a.weight.buffer, a.up?.buffer ?? a.weight.buffer, ex.ids, ex.weights ?? a.x],
    outputs: [a.y],
    params,
    workgroups: productGrid(blocksOf(kind, plan.outLen, rowsSg), plan, span),
  });
}
