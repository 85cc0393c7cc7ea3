// Launches over a weight split by output rows into several buffers, because the whole tensor exceeds what
// the adapter can bind (docs/model-folder.md#split-tensors): one launch per part, each reading its own
// buffer and writing its own range of the output rows. Every output value is computed by the same kernel
// from the same bytes as with the whole tensor, so the results are bit-identical to the unsplit launch.
// A layer's expert group above the limit is split by whole experts instead (matmulExpertParts,
// docs/paging.md#binding-limit).
import { WebmoeError } from '../errors';
import type { Dispatch } from '../gpu/pipelines';
import type { KernelContext } from '../gpu/kernel-context';
import { gatherRows, type GatherRowsArgs } from './gather-rows';
import { checkArg } from './launch-checks';
import { matmul, type MatmulArgs } from './matmul';
import type { WeightRef } from './product';

/** Tensor rows rowStart … rowStart + layout.rows - 1, in their own buffer. */
export interface WeightPart extends WeightRef {
  rowStart: number;
}

/** The product arguments a split launch rewrites (a subset of ProductArgs, so that normed products fit too). */
interface RowsArgs {
  y: GPUBuffer;
  rows?: number;
  rowBase?: number;
  rowStride?: number;
  batch?: number;
  up?: WeightRef;
  yOffset?: number;
  yTokenStride?: number;
  transposed?: boolean;
}

/** Rows of the whole tensor the parts hold, checking that they follow each other from row 0. */
function totalRows(parts: readonly WeightPart[], label: string): number {
  checkArg(parts.length > 0, label, 'weight parts', 'are empty');
  let next = 0;
  for (const p of parts) {
    checkArg(p.rowStart === next && p.layout.cols === parts[0].layout.cols && p.layout.format === parts[0].layout.format,
      label, 'weight parts', `do not tile the tensor: a part starts at row ${p.rowStart}, expected ${next}`);
    next += p.layout.rows;
  }
  return next;
}

/**
 * y[t, rowStart + r] (+)= Σ_c W_part[r, c] · x[t, c] for each part: `launch` gets `a` with the part as the
 * weight, its rows and the output offset moved to the part's first row (the token stride stays the whole
 * tensor's rows). A single part is the plain launch. Whole-tensor products only: no row ranges, batch, up
 * projection or transposition, which would cut across the parts.
 */
export function productParts<A extends RowsArgs>(parts: readonly WeightPart[], a: A, launch: (args: NoInfer<A> & { weight: WeightRef }) => Dispatch, label: string): Dispatch[] {
  const rows = totalRows(parts, label);
  const asRef = ({ rowStart: _, ...weight }: WeightPart): WeightRef => weight;
  if (parts.length === 1) return [launch({ ...a, weight: asRef(parts[0]) })];
  checkArg(a.rows === undefined && !a.rowBase && !a.rowStride && (a.batch ?? 1) === 1 && !a.up && !a.transposed, label, 'weight',
    `is split over ${parts.length} buffers: only a whole-tensor product without batch, up projection or transposition can run over its parts`);
  return parts.map((p) => launch({ ...a, weight: asRef(p), yOffset: (a.yOffset ?? 0) + p.rowStart, yTokenStride: a.yTokenStride ?? rows }));
}

/** The embedding gather over a table split by rows: each part writes its own ids' rows, the last also zeroes ids past the table. */
export function gatherParts(ctx: KernelContext, parts: readonly WeightPart[], a: Omit<GatherRowsArgs, 'weight' | 'rowBase' | 'zeroPast'>, label: string): Dispatch[] {
  totalRows(parts, label);
  return parts.map(({ rowStart, ...weight }, i) => gatherRows(ctx, { ...a, weight, rowBase: rowStart, zeroPast: i === parts.length - 1 }, label));
}

/**
 * Experts base … base + count - 1 of a layer's group, at index e - base of their own buffer: a group above the
 * binding limit is held in several such parts (docs/paging.md#binding-limit).
 */
export interface ExpertPart {
  buffer: GPUBuffer;
  base: number;
  count: number;
}

/** The part holding expert `e` of the group. */
export function expertPartOf(parts: readonly ExpertPart[], e: number): ExpertPart {
  const p = parts.find((q) => e >= q.base && e < q.base + q.count);
  if (!p) throw new WebmoeError('internal', `expert ${e} lies in none of the group's ${parts.length} parts`);
  return p;
}

/**
 * A MoE product (matmul with `experts` or `groups`) over a layer's experts held in `parts`: one launch per
 * part, reading that part's buffer. Decode (`experts`): the part's range goes to the kernel, which skips the
 * slots whose expert lies outside it; per-slot outputs are each written by the one part holding their
 * expert, and a sum over the slots is written (or accumulated) by the first part and accumulated by the
 * others. Prefill (`groups`): the part's routed experts are the launch's batch, their segments read from
 * offsets[base] on. A single part is the plain launch.
 */
export function matmulExpertParts(ctx: KernelContext, parts: readonly ExpertPart[], a: MatmulArgs, label: string): Dispatch[] {
  checkArg(parts.length > 0 && parts.every((p, i) => p.base === (i === 0 ? 0 : parts[i - 1].base + parts[i - 1].count)),
    label, 'expert parts', 'do not follow each other from expert 0');
  checkArg(a.experts !== undefined || a.groups !== undefined, label, 'experts or groups', 'is needed for a product over expert parts');
  const on = (p: ExpertPart): MatmulArgs => ({ ...a, weight: { ...a.weight, buffer: p.buffer }, ...(a.up ? { up: { ...a.up, buffer: p.buffer } } : {}) });
  if (parts.length === 1) return [matmul(ctx, on(parts[0]), label)];
  if (a.groups) {
    // The grouped launch's batch is the routed experts: a part may hold experts past them (the shared one).
    const routed = a.batch ?? 1;
    return parts.filter((p) => p.base < routed).map((p) => matmul(ctx, {
      ...on(p), batch: Math.min(p.count, routed - p.base), groups: {
        ...a.groups!, offsetsOffset: (a.groups!.offsetsOffset ?? 0) + p.base,
        ...(a.groups!.tiles ? { tiles: { ...a.groups!.tiles, offset: a.groups!.tiles.offset + p.base } } : {}),
      },
    }, label));
  }
  return parts.map((p, i) => matmul(ctx, {
    ...on(p), experts: { ...a.experts!, range: { base: p.base, count: p.count } }, ...(i > 0 && a.experts!.sum ? { output: 'accumulate' as const } : {}),
  }, label));
}
