// Launcher for shaders/matmul-grouped.wgsl: MoE prefill's grouped expert GEMM. The rows of x are the
// (token, choice) pairs sorted by expert (moePlan, moeGather); batch entry e is expert e, owning the rows
// [offsets[e], offsets[e+1]) of x and y, and one launch serves every expert of the layer.
//
// Bindings: 0 x f32[] (viewed as vec4s), 1 w, 2 w_up (the gate's buffer again without SwiGLU), 3 offsets
// u32[] | 4 y | 5 params: the Product header (kernels/product.ts), then offsets_offset. Overrides WG, TT,
// SWIGLU, X4.
// Which entry, by the most rows one expert may own (maxRows): shape 'workgroup' with at most 4 →
// grouped_wg; more with x's rows 4-float aligned → grouped_tile; otherwise grouped_row; at least
// GEMM_MIN_TOKENS where the context's prefill choice is 'gemm' → product_gemm (kernels/product-gemm.ts).
// Grid: flat, blocks × spans × experts; a span past its expert's segment exits at once.
import source from '../../../../shaders/matmul-grouped.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import { wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import {
  fits, planProduct, productGrid, productParams, rowsKind, weightSource, swigluHeader, type ProductArgs, type SwigluArgs,
} from './product';
import { productEntry, rowsEntry } from './product-gemm';
import { PRODUCT_ROWS, PRODUCT_TILE } from './wgsl-lib';

/** The role's main source and the library pieces it always needs. */
export const MATMUL_GROUPED = wgslPiece('matmul-grouped', source, [PRODUCT_ROWS, PRODUCT_TILE]);
const ENTRY = { wg: 'grouped_wg', row: 'grouped_row', tile: 'grouped_tile' } as const;

/** Batch entry e is expert e, owning the rows [offsets[e], offsets[e+1]) of x and y. */
export interface ExpertGroups {
  /** u32, batch + 1 entries from offsetsOffset. */
  offsets: GPUBuffer;
  offsetsOffset?: number;
  /** Bytes between consecutive experts' tensors in the weight buffer(s); a multiple of 4. */
  strideBytes: number;
  /** The most rows one expert can own (sizes the grid); default `tokens`. */
  maxRows?: number;
  /** Tokens per workgroup; default groupedSpan(). */
  span?: number;
}

export interface MatmulGroupedArgs extends ProductArgs, SwigluArgs {
  /** `batch` is the number of experts, `tokens` the rows of x (0 allowed). */
  groups: ExpertGroups;
}

// Workgroups a grouped launch aims for: enough to fill a GPU, few enough that the empty ones (spans past
// their expert's segment, which only exit) cost little.
const GROUPED_WORKGROUPS = 1024;

/**
 * Tokens per workgroup of a grouped launch: every expert's segment may hold up to maxRows tokens, but the
 * rows of a chunk are shared out among the experts, so most spans past the first are empty. Split the
 * segments only as far as the grid (blocks × experts) needs to reach GROUPED_WORKGROUPS; one span per
 * expert reads each expert's weights once per block for all its tokens.
 */
export function groupedSpan(maxRows: number, TT: number, cells: number): number {
  const spans = Math.max(1, Math.min(Math.ceil(maxRows / TT), Math.ceil(GROUPED_WORKGROUPS / cells)));
  return TT * Math.ceil(Math.ceil(maxRows / TT) / spans);
}

export function matmulGrouped(ctx: KernelContext, a: MatmulGroupedArgs, label = 'matmul_grouped'): Dispatch {
  const g = a.groups;
  const plan = planProduct(a, { up: a.up, flatX: true, flatY: true, entryStrideBytes: g.strideBytes, maxTokens: g.maxRows ?? a.tokens ?? 1 }, label);
  fits(g.offsets, 4 * ((g.offsetsOffset ?? 0) + plan.B + 1), 'segment offsets', label);
  const swiglu = a.up !== undefined;
  const e = productEntry(ctx, plan, a.shape, swiglu, () => {
    const kind = rowsKind(ctx, plan, a.shape, true);
    return rowsEntry(kind, ENTRY[kind], plan, swiglu);
  });
  const span = Math.max(1, g.span ?? groupedSpan(plan.maxTokens, e.tokens, e.blocks * plan.B));
  return launchKernel(ctx, label, {
    source: weightSource(MATMUL_GROUPED, a.weight, label, e.kind),
    entryPoint: e.entryPoint,
    variant: e.kind,
    constants: e.constants,
    inputs: [a.x, a.weight.buffer, a.up?.buffer ?? a.weight.buffer, g.offsets],
    outputs: [a.y],
    params: productParams(a, plan, { ...swigluHeader(a, label), expertStrideBytes: g.strideBytes, span }, label).u32(g.offsetsOffset ?? 0),
    workgroups: productGrid(e.blocks, plan, span),
  });
}
