// Launcher for shaders/gather-rows.wgsl: the embedding lookup y[t, :] = dequant(W[ids[t], :]) from the
// table's own bytes in any weight format; ids past the table give zero rows.
//
// Bindings: 0 ids u32[], 1 w | 2 y f32[] | 3 params (tokens, rows, cols, the table's section word offsets,
// ids_offset, y_offset, y_tok, row_base, zero_past). Override WG. Grid: one invocation per (token, 8 columns).
import source from '../../../../shaders/gather-rows.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { WG, fits, sections, weightSource, type WeightRef } from './product';
import { GRID, WEIGHTS } from './wgsl-lib';

/** The role's main source and the library pieces it always needs. */
export const GATHER_ROWS = wgslPiece('gather-rows', source, [WEIGHTS, GRID]);

export interface GatherRowsArgs {
  /** The table, e.g. [vocab, d]. */
  weight: WeightRef;
  /** u32 row ids, `tokens` of them from idsOffset. */
  ids: GPUBuffer;
  idsOffset?: number;
  y: GPUBuffer;
  tokens: number;
  yOffset?: number;
  /** Default: the table's cols. */
  yTokenStride?: number;
  /**
   * A part of a table split by rows (kernels/weight-parts.ts): `weight` holds the table's rows from rowBase
   * on, and ids outside them are left alone; zeroPast (default true) still zeroes the rows of ids past its end.
   */
  rowBase?: number;
  zeroPast?: boolean;
}

export function gatherRows(ctx: KernelContext, a: GatherRowsArgs, label = 'gather_rows'): Dispatch {
  const L = a.weight.layout;
  const [q, sc, mn] = sections(a.weight, label);
  const yTok = a.yTokenStride ?? L.cols;
  if (a.tokens > 0) {
    fits(a.ids, 4 * ((a.idsOffset ?? 0) + a.tokens), 'ids', label);
    fits(a.y, 4 * ((a.yOffset ?? 0) + (a.tokens - 1) * yTok + L.cols), 'y', label);
  }
  fits(a.weight.buffer, (a.weight.offset ?? 0) + L.bytes, 'the table', label);
  return launchKernel(ctx, label, {
    source: weightSource(GATHER_ROWS, a.weight, label),
    entryPoint: 'gather_rows',
    variant: 'any',
    constants: { WG },
    inputs: [a.ids, a.weight.buffer],
    outputs: [a.y],
    params: new ParamsWriter().u32(a.tokens).u32(L.rows).u32(L.cols).u32(q).u32(sc).u32(mn)
      .u32(a.idsOffset ?? 0).u32(a.yOffset ?? 0).u32(yTok).u32(a.rowBase ?? 0).u32(a.zeroPast === false ? 0 : 1),
    workgroups: grid1d(Math.ceil((a.tokens * Math.ceil(L.cols / 8)) / WG)),
  });
}
