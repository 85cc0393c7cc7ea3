// Launcher for shaders/matmul-normed.wgsl: y (+)= W · rms_g(x) for one token (or the SwiGLU pair with
// `up`), the RMSNorm of the input computed by every workgroup into workgroup memory before its rows: one
// dispatch instead of a norm and a product. `normedOut` also receives rms_g(x) for other consumers. The
// executor uses it in decode for q_b_proj on q_a's latent and for the products that read the residual
// stream's norms (docs/architecture-v3.md#layers).
//
// Bindings: 0 x (f32: the raw row at xOffset), 1 norm (f32 [cols]), 2 w, 3 w_up (w again without SwiGLU)
// | 4 y, 5 normedOut (a placeholder without it) | 6 params: the Product header (kernels/product.ts) with x
// at 0 of the workgroup row, then eps, the raw row's offset, the normedOut flag. Overrides WG, TT 1,
// SWIGLU, X4 1, XV (the row's vec4s). Entry: shape 'workgroup' → normed_wg (a workgroup per row), 'row' →
// normed_row (an invocation per row). Grid: blocks of rows.
import source from '../../../../shaders/matmul-normed.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import { wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkArg } from './launch-checks';
import { blocksOf, fits, planProduct, productGrid, productParams, rowsConstants, rowsKind, swigluHeader, weightSource, type ProductArgs, type SwigluArgs } from './product';
import { placeholder } from './placeholders';
import { PRODUCT_ROWS, RMS } from './wgsl-lib';

const MATMUL_NORMED = wgslPiece('matmul-normed', source, [PRODUCT_ROWS, RMS]);
const ENTRY = { wg: 'normed_wg', row: 'normed_row' } as const;

/**
 * The most input columns: the normalized row lives in workgroup memory, 4 bytes a column, and must leave
 * room for the reductions within WebGPU's guaranteed 16 KiB.
 */
export const NORMED_MAX_COLS = 2048;

export interface MatmulNormedArgs extends Omit<ProductArgs, 'tokens' | 'batch' | 'xTokenStride' | 'xBatchStride' | 'rowStride'>, SwigluArgs {
  /** The norm's weight [cols] (f32). */
  norm: GPUBuffer;
  eps: number;
  /** Also receives the normalized row [cols] (from the grid's first workgroup). */
  normedOut?: GPUBuffer;
}

/** Whether a weight's input width fits matmulNormed. */
export const normedFits = (cols: number) => cols <= NORMED_MAX_COLS;

/** One token's product on its normalized input: a pre-bound Dispatch. */
export function matmulNormed(ctx: KernelContext, a: MatmulNormedArgs, label = 'matmul_normed'): Dispatch {
  const cols = a.weight.layout.cols;
  checkArg(normedFits(cols), label, 'weight', `has ${cols} columns; the normalized row holds at most ${NORMED_MAX_COLS}`);
  fits(a.norm, 4 * cols, 'norm', label);
  checkArg(a.eps > 0, label, 'eps', `must be positive, got ${a.eps}`);
  if (a.normedOut) fits(a.normedOut, 4 * cols, 'normedOut', label);
  const plan = planProduct({ ...a, tokens: 1 }, { up: a.up }, label);
  const kind = rowsKind(ctx, plan, a.shape, false);
  if (kind === 'tile') throw new Error(`${label}: no tile entry for one token`);
  const xv = 2 * Math.ceil(cols / 8);
  // The product reads the workgroup row from 0; the raw row's offset travels after the header.
  const row = { ...plan, xOffset: 0, xTok: xv * 4, xBatch: 0, xAligned: true };
  return launchKernel(ctx, label, {
    source: weightSource(MATMUL_NORMED, a.weight, label),
    entryPoint: ENTRY[kind],
    variant: kind,
    constants: { ...rowsConstants(kind, row, a.up !== undefined), XV: xv },
    inputs: [a.x, a.norm, a.weight.buffer, a.up?.buffer ?? a.weight.buffer],
    outputs: [a.y, a.normedOut ?? placeholder(ctx.device).write],
    params: productParams({ ...a, tokens: 1 }, row, { ...swigluHeader(a, label), span: 1 }, label)
      .f32(a.eps).u32(plan.xOffset).u32(a.normedOut ? 1 : 0).u32(0),
    workgroups: productGrid(blocksOf(kind, plan.outLen), plan, 1),
  });
}
