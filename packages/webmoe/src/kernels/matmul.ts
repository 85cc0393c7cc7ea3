// The matrix-product family's front door: one call for every product the executors record, routed by its
// arguments to the launcher of the role's shader (docs/kernels.md#composed-shader-sources):
//   transposed → matmulTransposed (matmul-transposed.wgsl): MLA's absorbed query;
//   experts    → matmulExperts (matmul-experts.wgsl): MoE decode, experts picked by id on the GPU;
//   groups     → matmulGrouped (matmul-grouped.wgsl): MoE prefill's grouped expert GEMM;
//   otherwise  → matmulDense (matmul-dense.wgsl): every dense product, decode and prefill.
// The embedding gather (gather-rows.wgsl) shares the weight formats and is exported from here too.
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import { matmulDense, type MatmulDenseArgs } from './matmul-dense';
import { matmulExperts, type ExpertSlots } from './matmul-experts';
import { matmulGrouped, type ExpertGroups } from './matmul-grouped';
import { matmulTransposed } from './matmul-transposed';
import { checkArg } from './launch-checks';

export { gatherRows, type GatherRowsArgs } from './gather-rows';
export type { WeightRef, MatmulOutput } from './product';
export type { ExpertSlots, ExpertGroups };

export interface MatmulArgs extends MatmulDenseArgs {
  /** y[t, c] = Σ_r W[r, c] · x[t, r] instead of y[t, r] = Σ_c W[r, c] · x[t, c]; `rows` are then the rows summed over. */
  transposed?: boolean;
  /** MoE decode: batch entry k (a slot) runs expert ids[k]. */
  experts?: ExpertSlots;
  /** MoE prefill: batch entry e is expert e, owning rows [offsets[e], offsets[e+1]) of x and y. */
  groups?: ExpertGroups;
}

/** One launch of the product `a` describes: a pre-bound Dispatch that can be recorded any number of times. */
export function matmul(ctx: KernelContext, a: MatmulArgs, label = 'matmul'): Dispatch {
  const { transposed, experts, groups, ...rest } = a;
  checkArg([transposed, experts, groups].filter(Boolean).length <= 1, label, 'transposed, experts and groups', 'exclude each other');
  if (transposed) {
    checkArg(!a.up, label, 'transposed', 'excludes SwiGLU (up)');
    return matmulTransposed(ctx, rest, label);
  }
  if (experts) return matmulExperts(ctx, { ...rest, experts }, label);
  if (groups) return matmulGrouped(ctx, { ...rest, groups }, label);
  return matmulDense(ctx, rest, label);
}
