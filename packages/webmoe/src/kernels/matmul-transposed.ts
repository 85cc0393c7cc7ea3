// Launcher for shaders/matmul-transposed.wgsl: y[t, b, c] (+)= Σ_r W[rowBase + b·rowStride + r, c] · x[t, b, r],
// MLA's absorbed query (W_UKᵀ per head) on either shape.
//
// Bindings: 0 x f32[], 1 w | 2 y | 3 params: the Product header (kernels/product.ts; rows are the rows
// summed over, cols the outputs). Overrides WG, TT (1, or 8 for several tokens).
// Grid: flat, blocks of WG units of 8 columns × token spans × batch.
import source from '../../../../shaders/matmul-transposed.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import { wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { WG, blocksOf, planProduct, productGrid, productParams, tokenTile, weightSource, type ProductArgs } from './product';
import { PRODUCT } from './wgsl-lib';

/** The role's main source and the library pieces it always needs. */
export const MATMUL_TRANSPOSED = wgslPiece('matmul-transposed', source, [PRODUCT]);

/** `rows`: the tensor rows per batch entry summed over (x's length); the outputs are the tensor's columns. */
export type MatmulTransposedArgs = ProductArgs;

export function matmulTransposed(ctx: KernelContext, a: MatmulTransposedArgs, label = 'matmul_t'): Dispatch {
  const plan = planProduct(a, { transposed: true }, label);
  const TT = tokenTile('transposed', plan.maxTokens);
  return launchKernel(ctx, label, {
    source: weightSource(MATMUL_TRANSPOSED, a.weight, label),
    entryPoint: 'matmul_t',
    variant: 'transposed',
    constants: { WG, TT },
    inputs: [a.x, a.weight.buffer],
    outputs: [a.y],
    params: productParams(a, plan, { span: TT }, label),
    workgroups: productGrid(blocksOf('transposed', plan.outLen), plan, TT),
  });
}
