// Launcher for shaders/matmul-grouped.wgsl: MoE prefill's grouped expert GEMM. The rows of x are the
// (token, choice) pairs sorted by expert (moePlan, moeGather); batch entry e is expert e, owning the rows
// [offsets[e], offsets[e+1]) of x and y, and one launch serves every expert of the layer.
//
// Bindings: 0 x f32[] (viewed as vec4s), 1 w, 2 w_up (the gate's buffer again without SwiGLU), 3 offsets
// u32[] | 4 y | 5 params: the Product header (kernels/product.ts), then offsets_offset, tile_experts,
// tiles_offset. Overrides WG, TT, SWIGLU, X4.
// Which entry, by the most rows one expert may own (maxRows): shape 'workgroup' with at most 4 →
// grouped_wg; more with x's rows 4-float aligned → grouped_tile; otherwise grouped_row; at least
// GEMM_MIN_TOKENS where the context's prefill choice is 'gemm' → product_gemm (kernels/product-gemm.ts).
// Grid: flat, blocks × spans × experts, a span past its expert's segment exiting at once; or with tile
// starts (ExpertGroups.tiles), blocks × a bound on the (expert, tile) pairs that exist
// (docs/kernels.md#expert-tiles).
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
import { checkInt } from './launch-checks';

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
  /** Tokens per workgroup; default groupedSpan(). Ignored with tiles (their rows are the span). */
  span?: number;
  /**
   * moe_plan's tile starts (MoePlanArgs.tileTokens): the grid runs only the (expert, tile) pairs that exist,
   * a tile being `tokens` rows of one expert's segment.
   */
  tiles?: ExpertTiles;
}

export interface ExpertTiles {
  /** Rows per tile: the tileTokens moe_plan was given. */
  tokens: number;
  /** Index in `offsets` of the launch's first expert's tile start (batch + 1 of them are read). */
  offset: number;
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

/**
 * The most (expert, tile) pairs `experts` experts can hold between them: each expert owns at most maxRows of
 * the `rows` rows, and an expert with n > 0 rows makes ⌈n / tileRows⌉ ≤ (n + tileRows − 1) / tileRows tiles.
 */
export function tileBound(rows: number, experts: number, maxRows: number, tileRows: number): number {
  const nonEmpty = Math.min(experts, rows);
  return Math.min(experts * Math.ceil(maxRows / tileRows), Math.floor((rows + (tileRows - 1) * nonEmpty) / tileRows));
}

/**
 * The launch's plan and entry (shared by the launch and groupedTileTokens, so that the tiles fit the
 * launch); `gridBatch`, with tiles, is the bound on the tiles.
 */
function groupedEntry(ctx: KernelContext, a: MatmulGroupedArgs, label: string, gridBatch?: number) {
  const g = a.groups;
  const plan = planProduct(a, { up: a.up, flatX: true, flatY: true, entryStrideBytes: g.strideBytes, maxTokens: g.maxRows ?? a.tokens ?? 1, gridBatch }, label);
  const swiglu = a.up !== undefined;
  const e = productEntry(ctx, plan, a.shape, swiglu, () => {
    const kind = rowsKind(ctx, plan, a.shape, true);
    return rowsEntry(kind, ENTRY[kind], plan, swiglu);
  });
  return { plan, e };
}

/**
 * Rows per tile for the tile starts of a layer of `experts` experts whose grouped launches look like `a`
 * (one expert's tensor): the span such a launch gives each workgroup without tiles (groupedSpan), so that
 * tiles change which workgroups run, not what each one does.
 */
export function groupedTileTokens(ctx: KernelContext, a: MatmulGroupedArgs, experts: number, label = 'matmul_grouped'): number {
  const { plan, e } = groupedEntry(ctx, { ...a, batch: 1 }, label);
  return groupedSpan(plan.maxTokens, e.tokens, e.blocks * experts);
}

export function matmulGrouped(ctx: KernelContext, a: MatmulGroupedArgs, label = 'matmul_grouped'): Dispatch {
  const g = a.groups;
  const t = g.tiles;
  if (t) {
    checkInt(t.tokens, label, 'tiles.tokens', 1);
    checkInt(t.offset, label, 'tiles.offset', 0);
  }
  // With tiles the grid's batch entries are the listed tiles, up to the bound.
  const B = a.batch ?? 1;
  const bound = t ? Math.max(1, tileBound(a.tokens ?? 0, B, Math.max(1, g.maxRows ?? a.tokens ?? 1), t.tokens)) : undefined;
  const { plan, e } = groupedEntry(ctx, a, label, bound);
  fits(g.offsets, 4 * ((g.offsetsOffset ?? 0) + plan.B + 1), 'segment offsets', label);
  if (t) fits(g.offsets, 4 * (t.offset + plan.B + 1), 'tile starts', label);
  const span = t ? t.tokens : Math.max(1, g.span ?? groupedSpan(plan.maxTokens, e.tokens, e.blocks * plan.B));
  const spans = t ? 1 : undefined;
  return launchKernel(ctx, label, {
    source: weightSource(MATMUL_GROUPED, a.weight, label, e.kind),
    entryPoint: e.entryPoint,
    variant: e.kind,
    constants: e.constants,
    inputs: [a.x, a.weight.buffer, a.up?.buffer ?? a.weight.buffer, g.offsets],
    outputs: [a.y],
    params: productParams(a, plan, { ...swigluHeader(a, label), expertStrideBytes: g.strideBytes, span, spans }, label)
      .u32(g.offsetsOffset ?? 0).u32(t ? plan.B : 0).u32(t?.offset ?? 0),
    workgroups: productGrid(e.blocks, plan, span, spans),
  });
}
