// Launcher for shaders/matmul-dense.wgsl: y[t, b, r] (+)= Σ_c W[rowBase + b·rowStride + r, c] · x[t, b, c]
// with weights in any format of model/formats.ts, read as the tensor's own bytes (never dequantized into
// a copy), and the fused SwiGLU pair.
//
// Bindings: 0 x f32[] (viewed as vec4s: its size must be a multiple of 16 bytes, which createStorage
// pads), 1 w, 2 w_up (the gate's buffer again without SwiGLU) | 3 y | 4 params: the Product header
// (kernels/product.ts). Overrides WG, TT (tokens per tile), SWIGLU, X4 (x rows 4-float aligned).
// Which entry: shape 'workgroup' with at most 4 tokens → matmul_wg (a workgroup per row, TT 1 or 4), or
// product_sg (a subgroup per row, ROWS_SG rows per workgroup) where the context chose subgroup reductions;
// several tokens with x's rows on multiples of 4 floats → matmul_tile (4 rows × 16 tokens per invocation);
// otherwise matmul_row (a row per invocation, TT 1 or 8). Prefill chunks of at least GEMM_MIN_TOKENS where
// the context's prefill choice is 'gemm' (the 'workgroup' shape's default) → product_gemm (workgroup tiles,
// kernels/product-gemm.ts; overrides WG, GM, GN, GK, GU, SWIGLU, X4). Grid: flat, blocks × token spans × batch.
import source from '../../../../shaders/matmul-dense.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import { wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import {
  planProduct, productGrid, productParams, rowsKind, subgroupRows, weightSource, swigluHeader, type ProductArgs, type SwigluArgs,
} from './product';
import { productEntry, rowsEntry } from './product-gemm';
import { PRODUCT_ROWS, PRODUCT_TILE } from './wgsl-lib';

/** The role's main source and the library pieces it always needs. */
export const MATMUL_DENSE = wgslPiece('matmul-dense', source, [PRODUCT_ROWS, PRODUCT_TILE]);
const ENTRY = { wg: 'matmul_wg', sg: 'product_sg', row: 'matmul_row', tile: 'matmul_tile' } as const;

export interface MatmulDenseArgs extends ProductArgs, SwigluArgs {
}

/** One dense product: a pre-bound Dispatch that can be recorded any number of times. */
export function matmulDense(ctx: KernelContext, a: MatmulDenseArgs, label = 'matmul'): Dispatch {
  const plan = planProduct(a, { up: a.up }, label);
  const swiglu = a.up !== undefined;
  const e = productEntry(ctx, plan, a.shape, swiglu, () => {
    const kind = rowsKind(ctx, plan, a.shape, true, true);
    return rowsEntry(kind, ENTRY[kind], plan, swiglu, subgroupRows(ctx));
  });
  return launchKernel(ctx, label, {
    source: weightSource(MATMUL_DENSE, a.weight, label, e.kind),
    entryPoint: e.entryPoint,
    variant: e.kind,
    constants: e.constants,
    inputs: [a.x, a.weight.buffer, a.up?.buffer ?? a.weight.buffer],
    outputs: [a.y],
    params: productParams(a, plan, { ...swigluHeader(a, label), span: e.tokens }, label),
    workgroups: productGrid(e.blocks, plan, e.tokens),
  });
}
