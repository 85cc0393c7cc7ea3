// The WGSL library (shaders/lib/) as typed pieces for composeWgsl: what each piece needs is declared
// here once, so a launcher names only the pieces that vary (the weight format's dequantization).
import weightsCode from '../../../../shaders/lib/weights.wgsl?raw';
import halvesCode from '../../../../shaders/lib/halves.wgsl?raw';
import nibblesCode from '../../../../shaders/lib/nibbles.wgsl?raw';
import f32Code from '../../../../shaders/lib/dequant-f32.wgsl?raw';
import f16Code from '../../../../shaders/lib/dequant-f16.wgsl?raw';
import bf16Code from '../../../../shaders/lib/dequant-bf16.wgsl?raw';
import q8Code from '../../../../shaders/lib/dequant-q8.wgsl?raw';
import q4Code from '../../../../shaders/lib/dequant-q4.wgsl?raw';
import fp8Code from '../../../../shaders/lib/dequant-fp8.wgsl?raw';
import fp4Code from '../../../../shaders/lib/dequant-fp4.wgsl?raw';
import ggmlBlocksCode from '../../../../shaders/lib/ggml-blocks.wgsl?raw';
import q8_0Code from '../../../../shaders/lib/dequant-q8_0.wgsl?raw';
import q4_0Code from '../../../../shaders/lib/dequant-q4_0.wgsl?raw';
import q4kCode from '../../../../shaders/lib/dequant-q4_k.wgsl?raw';
import q5kCode from '../../../../shaders/lib/dequant-q5_k.wgsl?raw';
import q6kCode from '../../../../shaders/lib/dequant-q6_k.wgsl?raw';
import reduceCode from '../../../../shaders/lib/reduce.wgsl?raw';
import rmsCode from '../../../../shaders/lib/rms.wgsl?raw';
import productCode from '../../../../shaders/lib/product.wgsl?raw';
import xVec4Code from '../../../../shaders/lib/x-vec4.wgsl?raw';
import productRowsCode from '../../../../shaders/lib/product-rows.wgsl?raw';
import productTileCode from '../../../../shaders/lib/product-tile.wgsl?raw';
import productSubgroupCode from '../../../../shaders/lib/product-subgroup.wgsl?raw';
import productGemmCode from '../../../../shaders/lib/product-gemm.wgsl?raw';
import gemmF32Code from '../../../../shaders/lib/gemm-f32.wgsl?raw';
import gemmF16Code from '../../../../shaders/lib/gemm-f16.wgsl?raw';
import ropeRotationCode from '../../../../shaders/lib/rope-rotation.wgsl?raw';
import ropeHeadsCode from '../../../../shaders/lib/rope-heads.wgsl?raw';
import radixSelectCode from '../../../../shaders/lib/radix-select.wgsl?raw';
import gridCode from '../../../../shaders/lib/grid.wgsl?raw';
import uniformCode from '../../../../shaders/lib/uniform.wgsl?raw';
import usableLogitCode from '../../../../shaders/lib/usable-logit.wgsl?raw';
import { WebmoeError } from '../errors';
import { wgslPiece, type WgslPiece } from '../gpu/wgsl-compose';
import type { WeightFormat } from '../model/formats';

/** flat_group and flat_id: a workgroup's and an invocation's place in a grid that grid1d folded into x and y. */
export const GRID = wgslPiece('grid', gridCode);

/** Words, Tensor, Vec8 and weight8: a tensor's units of 8 values, dequantized by the format's dequant8. */
export const WEIGHTS = wgslPiece('weights', weightsCode);
const HALVES = wgslPiece('halves', halvesCode, [WEIGHTS]);
const NIBBLES = wgslPiece('nibbles', nibblesCode, [WEIGHTS]);
/** Byte access into llama.cpp's blocks (docs/gguf.md#block-formats). */
const GGML_BLOCKS = wgslPiece('ggml-blocks', ggmlBlocksCode, [WEIGHTS]);

/**
 * `dequant8` of each weight format the matrix kernels read. A new format is a shaders/lib/dequant-<format>.wgsl
 * defining dequant8 and an entry here (kernels/wgsl-lib.test.ts checks that every one of PRODUCT_FORMATS has one).
 */
export const DEQUANT: { readonly [F in WeightFormat]?: WgslPiece } = {
  f32: wgslPiece('dequant-f32', f32Code, [WEIGHTS]),
  f16: wgslPiece('dequant-f16', f16Code, [HALVES]),
  bf16: wgslPiece('dequant-bf16', bf16Code, [HALVES]),
  q8: wgslPiece('dequant-q8', q8Code, [HALVES]),
  q4: wgslPiece('dequant-q4', q4Code, [HALVES, NIBBLES]),
  fp8: wgslPiece('dequant-fp8', fp8Code, [WEIGHTS]),
  fp4: wgslPiece('dequant-fp4', fp4Code, [NIBBLES]),
  q8_0: wgslPiece('dequant-q8_0', q8_0Code, [GGML_BLOCKS]),
  q4_0: wgslPiece('dequant-q4_0', q4_0Code, [GGML_BLOCKS]),
  q4_k: wgslPiece('dequant-q4_k', q4kCode, [GGML_BLOCKS]),
  q5_k: wgslPiece('dequant-q5_k', q5kCode, [GGML_BLOCKS]),
  q6_k: wgslPiece('dequant-q6_k', q6kCode, [GGML_BLOCKS]),
};

/** The dequantization piece of `format`; WebmoeError('model-format') for a format no kernel reads. */
export function dequant(format: WeightFormat, tensor = 'a tensor'): WgslPiece {
  const piece = DEQUANT[format];
  if (!piece) {
    throw new WebmoeError('model-format', `${tensor} has weight format ${format}, which no matrix kernel reads (${Object.keys(DEQUANT).join(', ')})`,
      { detail: { format } });
  }
  return piece;
}

/** workgroup_sum, workgroup_max, workgroup_reduce4: fixed-order reductions over a workgroup of WG. */
export const WORKGROUP_REDUCE = wgslPiece('reduce', reduceCode);

/** uniform01(seed, step): the sampler's counter-based uniforms (sampleUniform on the CPU). */
export const UNIFORM = wgslPiece('uniform', uniformCode);

/** is_usable(logit): not NaN and not +inf; samplers refuse rows that hold such a value. */
export const USABLE_LOGIT = wgslPiece('usable-logit', usableLogitCode);

/** sum_squares and write_normed: RMSNorm of a row, by one invocation or shared by a workgroup. */
export const RMS = wgslPiece('rms', rmsCode);

/** The Product header, slots, grid and store of the matrix kernels. */
export const PRODUCT = wgslPiece('product', productCode, [WEIGHTS, GRID]);
const X_VEC4 = wgslPiece('x-vec4', xVec4Code, [WEIGHTS]);
/** rows_wg and rows_row: products by output row, over the main source's slot/entries/tokens hooks. */
export const PRODUCT_ROWS = wgslPiece('product-rows', productRowsCode, [PRODUCT, X_VEC4, WORKGROUP_REDUCE]);
/** rows_tile: products by tiles of 4 rows × 16 tokens, over the same hooks. */
export const PRODUCT_TILE = wgslPiece('product-tile', productTileCode, [PRODUCT, X_VEC4]);
/**
 * product_sg: rows_wg's decode products with the lanes' sums met by subgroupAdd. Its `enable subgroups`
 * makes a module that only a device created with the feature compiles: compose it only for such a device.
 */
export const PRODUCT_SUBGROUP = wgslPiece('product-subgroup', productSubgroupCode, [PRODUCT_ROWS]);
/**
 * product_gemm: prefill products by workgroup tiles whose weights are dequantized once into workgroup
 * memory (docs/kernels.md#prefill-gemm). Composed only for that kind, so other modules reserve none of it.
 */
export const PRODUCT_GEMM = wgslPiece('product-gemm', productGemmCode, [PRODUCT_ROWS, PRODUCT_TILE]);
/**
 * product_gemm's arithmetic type, one of which goes with PRODUCT_GEMM: f32, or f16 (its `enable f16` makes a
 * module only a device created with shader-f16 compiles).
 */
export const GEMM_ARITH = { f32: wgslPiece('gemm-f32', gemmF32Code), f16: wgslPiece('gemm-f16', gemmF16Code) } as const;

/** rotation, cos_sin_turns, rotate: RoPE at exact angles from ropeTable's table (a `table` binding of the main source). */
export const ROPE_ROTATION = wgslPiece('rope-rotation', ropeRotationCode);

/** HeadsRope and rotate_heads: a token row's heads rotated in place (the query rotation fused into the latent cache store). */
export const ROPE_HEADS = wgslPiece('rope-heads', ropeHeadsCode, [ROPE_ROTATION]);

/** radix_select: the k-th largest key (or the key where a weight from the top reaches a goal) over a main source's radix_item hook. */
export const RADIX_SELECT = wgslPiece('radix-select', radixSelectCode);
