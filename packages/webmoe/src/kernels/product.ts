// What the matrix-product launchers share (matmul-dense, matmul-experts, matmul-grouped, matmul-transposed):
// the weight reference and the common arguments, their checks, the Product header of the params
// (shaders/lib/product.wgsl) and the choice of entry shape and token tile.
import { shapeFor, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d } from '../gpu/pipelines';
import { composeWgsl, type ShaderSource, type WgslPiece } from '../gpu/wgsl-compose';
import type { TensorLayout } from '../model/formats';
import { checkArg } from './launch-checks';
import { GEMM_ARITH, PRODUCT_GEMM, PRODUCT_SUBGROUP, dequant } from './wgsl-lib';

export const WG = 64;
/** Tokens per tile of rows_row and matmul_t (MAX_TT in the .wgsl). */
const MAX_TT = 8;
/** Tokens per tile of rows_tile (TILE_T in shaders/lib/product-tile.wgsl). */
export const TILE_TOKENS = 16;
/** The most tokens per weight for which the 'workgroup' shape reduces each row over a workgroup. */
export const WG_MAX_TOKENS = 4;

/** A weight tensor in a GPU buffer: its bytes as laid out by formats.ts, starting at `offset`. */
export interface WeightRef {
  buffer: GPUBuffer;
  /** Byte offset of the tensor in `buffer` (of expert 0 for the expert products); a multiple of 4. Default 0. */
  offset?: number;
  layout: TensorLayout;
}

export type MatmulOutput = 'write' | 'accumulate';

/** SwiGLU: y = silu(W x) · (W_up x) with `weight` the gate; same format and shape. */
export interface SwigluArgs {
  up?: WeightRef;
  /** > 0: the gate is clamped to ≤ swigluLimit and the up projection to [−swigluLimit, swigluLimit] first (DeepSeek-V4's swiglu_limit). */
  swigluLimit?: number;
}

/** The SwiGLU fields of the Product header; refuses a limit without an up projection. */
export function swigluHeader(a: SwigluArgs, label: string): Pick<HeaderArgs, 'up' | 'swigluLimit'> {
  checkArg(!a.swigluLimit || a.up !== undefined, label, 'swigluLimit', 'needs the up projection');
  return { up: a.up, swigluLimit: a.swigluLimit };
}

/** The arguments every product takes: y[t, b, r] (+)= Σ_c W[rowBase + b·rowStride + r, c] · x[t, b, c]. */
export interface ProductArgs {
  weight: WeightRef;
  x: GPUBuffer;
  y: GPUBuffer;
  /** T, default 1. */
  tokens?: number;
  output?: MatmulOutput;
  /** Tensor rows per batch entry (outputs; the rows summed over when transposed); default all rows. */
  rows?: number;
  /** Batch entry b uses tensor rows rowBase + b·rowStride …; defaults 0, 0. */
  rowBase?: number;
  rowStride?: number;
  /** Batch entries (attention heads, MoE slots, experts); default 1. */
  batch?: number;
  /** Element offsets and strides. Defaults: token-major [T][batch][n]. */
  xOffset?: number;
  xTokenStride?: number;
  xBatchStride?: number;
  yOffset?: number;
  yTokenStride?: number;
  yBatchStride?: number;
  shape?: KernelShape;
}

/** Robust buffer access would turn an out-of-range index into a silent wrong value: refuse it here. */
export function fits(buffer: GPUBuffer, bytes: number, what: string, label: string): void {
  checkArg(buffer.size >= bytes, label, what, `needs ${bytes} bytes of ${buffer.label || 'its buffer'}, which holds ${buffer.size}`);
}

export function words(bytes: number, what: string, label: string): number {
  checkArg(Number.isInteger(bytes) && bytes >= 0 && bytes % 4 === 0, label, what, `(${bytes}) must be a non-negative multiple of 4 bytes`);
  return bytes / 4;
}

/** Word offsets of the q, scales and mins sections (0 for absent ones). */
export function sections(w: WeightRef, label: string): [number, number, number] {
  const base = w.offset ?? 0;
  const at = (s: { offset: number } | null) => words(base + (s?.offset ?? 0), 'weight offset', label);
  return [at(w.layout.q), at(w.layout.scales), at(w.layout.mins)];
}

/**
 * `main` with the dequantization of the weight's format composed in, and the subgroup rows or workgroup tiles
 * (in f32 or f16 arithmetic) for that kind.
 */
export function weightSource(main: WgslPiece, w: WeightRef, label: string, kind?: RowsKind | GemmKind): ShaderSource {
  const extra = kind === 'sg' ? [PRODUCT_SUBGROUP]
    : kind === 'gemm' ? [PRODUCT_GEMM, GEMM_ARITH.f32]
      : kind === 'gemm-f16' ? [PRODUCT_GEMM, GEMM_ARITH.f16] : [];
  return composeWgsl(main, [dequant(w.layout.format, label), ...extra]);
}

/** product_gemm in f32 or in f16 arithmetic (kernels/product-gemm.ts). */
export type GemmKind = 'gemm' | 'gemm-f16';

/** How a role lays out its batch: what the defaults and checks of planProduct depend on. */
export interface ProductRole {
  transposed?: boolean;
  /** x has no batch dimension (grouped: the rows of x are the tokens of all entries). */
  flatX?: boolean;
  /** y has no batch dimension (grouped; summed slots). */
  flatY?: boolean;
  /** Batch entries along the grid (1 when the slots are summed); default the batch. */
  gridBatch?: number;
  /** Bytes between the tensors of consecutive entries the launch may read (grouped: the expert stride). */
  entryStrideBytes?: number;
  up?: WeightRef;
  /** The most tokens one entry owns (sizes the grid); default T. */
  maxTokens?: number;
}

/** A product's sizes and strides, checked against its buffers. */
export interface ProductPlan {
  T: number;
  B: number;
  rows: number;
  cols: number;
  outLen: number;
  gridBatch: number;
  maxTokens: number;
  xOffset: number;
  xTok: number;
  xBatch: number;
  yOffset: number;
  yTok: number;
  yBatch: number;
  /** x's rows start on multiples of 4 floats (vec4 loads). */
  xAligned: boolean;
}

export function planProduct(a: ProductArgs, role: ProductRole, label: string): ProductPlan {
  const L = a.weight.layout;
  dequant(L.format, label);
  const T = a.tokens ?? 1;
  const B = a.batch ?? 1;
  const rows = a.rows ?? L.rows;
  const rowBase = a.rowBase ?? 0;
  const rowStride = a.rowStride ?? 0;
  checkArg(Number.isInteger(T) && T >= (role.flatX ? 0 : 1), label, 'tokens', `must be a positive integer, got ${T}`);
  checkArg(Number.isInteger(B) && B >= 1, label, 'batch', `must be a positive integer, got ${B}`);
  checkArg(rows >= 1 && rowBase + (B - 1) * rowStride + rows <= L.rows, label, 'rows',
    `${rowBase}+${B - 1}·${rowStride}+${rows} exceed the tensor's ${L.rows}`);
  if (role.up) {
    const U = role.up.layout;
    checkArg(U.format === L.format && U.rows === L.rows && U.cols === L.cols, label, 'up',
      `${U.format}[${U.rows}, ${U.cols}] differs from gate ${L.format}[${L.rows}, ${L.cols}]`);
  }
  const inLen = role.transposed ? rows : L.cols;
  const outLen = role.transposed ? L.cols : rows;
  const xBatch = a.xBatchStride ?? (role.flatX ? 0 : inLen);
  const xTok = a.xTokenStride ?? (role.flatX ? inLen : B * inLen);
  const yBatch = a.yBatchStride ?? (role.flatY ? 0 : outLen);
  const yTok = a.yTokenStride ?? (role.flatY ? outLen : B * outLen);
  const gridBatch = role.gridBatch ?? B;
  const xOffset = a.xOffset ?? 0;
  const yOffset = a.yOffset ?? 0;
  // The row-parallel kernels view x as vec4s: a buffer whose size is not whole vec4s would hide its tail.
  checkArg(role.transposed || a.x.size % 16 === 0, label, 'x', `(${a.x.label || 'buffer'}) must be a multiple of 16 bytes, got ${a.x.size} (createStorage pads)`);
  if (T > 0) {
    fits(a.x, 4 * (xOffset + (B - 1) * xBatch + (T - 1) * xTok + inLen), 'x', label);
    fits(a.y, 4 * (yOffset + (gridBatch - 1) * yBatch + (T - 1) * yTok + outLen), 'y', label);
  }
  const tensorEnd = (w: WeightRef) => (w.offset ?? 0) + (B - 1) * (role.entryStrideBytes ?? 0) + w.layout.bytes;
  fits(a.weight.buffer, tensorEnd(a.weight), 'the weight', label);
  if (role.up) fits(role.up.buffer, tensorEnd(role.up), 'the up weight', label);
  return {
    T, B, rows, cols: L.cols, outLen, gridBatch, maxTokens: Math.max(1, role.maxTokens ?? T),
    xOffset, xTok, xBatch, yOffset, yTok, yBatch,
    xAligned: [L.cols, xOffset, xTok, xBatch].every((n) => n % 4 === 0),
  };
}

/**
 * The compute shape of a product by rows: a workgroup per row, a subgroup per row (product_sg), an
 * invocation per row, or 4 rows × 16 tokens.
 */
export type RowsKind = 'wg' | 'sg' | 'row' | 'tile';

/**
 * 'workgroup' shape and few tokens per weight: a workgroup per row, or a subgroup per row where the
 * context chose subgroup reductions and the device has the feature. Otherwise tiles of 4 rows × 16 tokens
 * for several tokens when x's rows are 4-float aligned (and the role has a tile entry), else a row per invocation.
 * `subgroup`: the role can run product_sg (composed with PRODUCT_SUBGROUP).
 */
export function rowsKind(ctx: KernelContext, plan: ProductPlan, shape: KernelShape | undefined, tiles: boolean): Exclude<RowsKind, 'sg'>;
export function rowsKind(ctx: KernelContext, plan: ProductPlan, shape: KernelShape | undefined, tiles: boolean, subgroup: boolean): RowsKind;
export function rowsKind(ctx: KernelContext, plan: ProductPlan, shape: KernelShape | undefined, tiles: boolean, subgroup = false): RowsKind {
  if (shapeFor(ctx, 'matmul', shape) === 'workgroup' && plan.maxTokens <= WG_MAX_TOKENS) {
    return subgroup && ctx.matmulReduce === 'subgroup' && ctx.subgroups ? 'sg' : 'wg';
  }
  return tiles && plan.maxTokens > 1 && plan.xAligned ? 'tile' : 'row';
}

/** Output rows per workgroup of product_sg: a row for each subgroup of the smallest size, up to 16. */
export function subgroupRows(ctx: KernelContext): number {
  return Math.max(1, Math.min(16, Math.floor(WG / (ctx.subgroups?.min ?? WG))));
}

/** Tokens per tile: few values, so that few pipelines cover all T. */
export function tokenTile(kind: RowsKind | 'transposed', maxTokens: number): number {
  if (kind === 'tile') return TILE_TOKENS;
  if (maxTokens <= 1) return 1;
  return kind === 'wg' || kind === 'sg' ? WG_MAX_TOKENS : MAX_TT;
}

/** Workgroups along the output of one entry; `rowsPerGroup` is product_sg's ROWS_SG. */
export function blocksOf(kind: RowsKind | 'transposed', outLen: number, rowsPerGroup = 1): number {
  switch (kind) {
    case 'wg': return outLen;
    case 'sg': return Math.ceil(outLen / rowsPerGroup);
    case 'row': return Math.ceil(outLen / WG);
    case 'tile': return Math.ceil(outLen / (4 * WG));
    case 'transposed': return Math.ceil(Math.ceil(outLen / 8) / WG);
  }
}

/** Override constants of a product-rows/product-tile/product-subgroup entry; `rowsPerGroup` is product_sg's ROWS_SG. */
export function rowsConstants(kind: RowsKind, plan: ProductPlan, swiglu: boolean, rowsPerGroup = 1): Record<string, number> {
  const c: Record<string, number> = { WG, SWIGLU: swiglu ? 1 : 0, X4: plan.xAligned ? 1 : 0 };
  if (kind !== 'tile') c.TT = tokenTile(kind, plan.maxTokens);
  if (kind === 'sg') c.ROWS_SG = rowsPerGroup;
  return c;
}


export interface HeaderArgs {
  up?: WeightRef;
  /** > 0: SwiGLU clamps the gate to ≤ limit and the up projection to [−limit, limit]. */
  swigluLimit?: number;
  /** Bytes between the tensors of consecutive experts (0 without experts). */
  expertStrideBytes?: number;
  /** Tokens per workgroup. */
  span: number;
  /** Spans per batch entry; default enough for maxTokens. */
  spans?: number;
}

/** The Product header (shaders/lib/product.wgsl), in field order; a role appends its own fields. */
export function productParams(a: ProductArgs, plan: ProductPlan, h: HeaderArgs, label: string): ParamsWriter {
  const [q, sc, mn] = sections(a.weight, label);
  const [q2, sc2, mn2] = h.up ? sections(h.up, label) : [0, 0, 0];
  return new ParamsWriter()
    .u32(plan.rows).u32(plan.cols).u32(plan.T).u32(plan.gridBatch)
    .u32(q).u32(sc).u32(mn).u32(q2).u32(sc2).u32(mn2)
    .u32(a.rowBase ?? 0).u32(a.rowStride ?? 0).u32(words(h.expertStrideBytes ?? 0, 'expert stride', label))
    .u32(plan.xOffset).u32(plan.xTok).u32(plan.xBatch)
    .u32(plan.yOffset).u32(plan.yTok).u32(plan.yBatch)
    .u32(h.span).u32(h.spans ?? Math.ceil(plan.maxTokens / h.span)).u32(a.output === 'accumulate' ? 1 : 0)
    .f32(h.swigluLimit ?? 0).u32(0);
}

/** The flat grid of a product: blocks × token spans × grid batch entries. */
export function productGrid(blocks: number, plan: ProductPlan, span: number, spans = Math.ceil(plan.maxTokens / span)): [number, number, number] {
  return grid1d(blocks * spans * plan.gridBatch);
}
