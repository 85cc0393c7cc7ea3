// The workgroup-tiled prefill entry of the matrix products (product_gemm, shaders/lib/product-gemm.wgsl;
// docs/kernels.md#prefill-gemm): when a launch takes it, its tile sizes from the device's limits, and the
// entry a dense or grouped launch takes, product_gemm or one of the rows entries.
import { WebmoeError } from '../errors';
import { shapeFor, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { blocksOf, rowsConstants, tokenTile, WG_MAX_TOKENS, type GemmKind, type ProductPlan, type RowsKind } from './product';

/**
 * The fewest tokens per weight for which a launch takes product_gemm: a full tile of 64 tokens. Below, most
 * of a tile would be computed for nothing, and rows_tile's 16-token tiles waste less.
 */
export const GEMM_MIN_TOKENS = 64;
export const GEMM_ENTRY = 'product_gemm';

/** A workgroup tile: output rows (GM), tokens (GN), columns per step (GK). */
export interface GemmTile {
  rows: number;
  tokens: number;
  cols: number;
}

export type GemmLimits = Pick<GPUSupportedLimits, 'maxComputeWorkgroupStorageSize' | 'maxComputeInvocationsPerWorkgroup' | 'maxComputeWorkgroupSizeX'>;

const ROWS = 64;
// Tokens and columns per tile, best first: long rows of a slab (large GK) make the weight loads longer
// runs of consecutive words; more tokens reuse each dequantized weight more often. The 16- and 8-token
// tiles serve only launches that short (below GEMM_MIN_TOKENS, where gemmMinTokens lets them in).
const CANDIDATES: readonly [number, number][] = [[64, 64], [64, 32], [32, 64], [32, 32], [64, 16], [32, 16], [32, 8], [16, 64], [16, 32], [16, 16], [8, 64], [8, 32], [8, 16]];

/**
 * Bytes of workgroup memory product_gemm reserves for `t`: the slabs (vec4s of 16 bytes in f32 arithmetic, 8 in
 * f16) and its token range.
 */
export function gemmStorage(t: GemmTile, swiglu: boolean, kind: GemmKind = 'gemm'): number {
  const w = (t.rows / 4) * t.cols;
  return (kind === 'gemm-f16' ? 8 : 16) * (w + (swiglu ? w : 1) + (t.tokens / 4) * t.cols) + 16;
}

/**
 * The first candidate tile whose workgroup (rows/4 · tokens/4 invocations) and slabs fit the device;
 * 64-token tiles only for launches that have that many tokens, and 16 or 8 for launches of at most that many. null: none fits (never on a device that
 * meets WebGPU's minimum limits, 16 KiB and 256 invocations: 32 tokens × 32 columns need 12 KiB, 20 KiB
 * with SwiGLU's second slab, and 64 × 16 then 12 KiB).
 */
export function gemmTile(limits: GemmLimits, swiglu: boolean, maxTokens: number, kind: GemmKind = 'gemm'): GemmTile | null {
  const invocations = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX);
  for (const [tokens, cols] of CANDIDATES) {
    const t = { rows: ROWS, tokens, cols };
    if (tokens > 32 && maxTokens < tokens) continue;
    // A launch that fills at most half a tile takes a smaller one (launches of 16 tokens or fewer only).
    if (tokens > 8 && maxTokens <= tokens / 2) continue;
    if ((ROWS / 4) * (tokens / 4) <= invocations && gemmStorage(t, swiglu, kind) <= limits.maxComputeWorkgroupStorageSize) return t;
  }
  return null;
}

/** How a launch that takes product_gemm is laid out. */
export interface GemmLaunch {
  kind: GemmKind;
  tile: GemmTile;
  constants: Record<string, number>;
  /** Workgroups along one entry's output rows. */
  blocks: number;
}

/**
 * product_gemm's layout for a prefill launch (at least GEMM_MIN_TOKENS tokens per weight) where the
 * context's prefill choice is 'gemm' (by default on the 'workgroup' shape) or 'gemm-f16'; null: the launch
 * keeps its other entries. 'gemm-f16' on a device without shader-f16 is refused: its module would not compile.
 */
export function gemmLaunch(ctx: KernelContext, plan: ProductPlan, shape: KernelShape | undefined, swiglu: boolean): GemmLaunch | null {
  const choice = ctx.matmulPrefill ?? (shapeFor(ctx, 'matmul', shape) === 'workgroup' ? 'gemm' : 'tile');
  // Decode's launches (the workgroup rows' few tokens) never take it, whatever gemmMinTokens says.
  if (choice === 'tile' || plan.maxTokens <= WG_MAX_TOKENS || plan.maxTokens < (ctx.gemmMinTokens ?? GEMM_MIN_TOKENS)) return null;
  if (choice === 'gemm-f16' && !ctx.device.features.has('shader-f16')) {
    throw new WebmoeError('insufficient-limits', "prefill products in f16 arithmetic ('gemm-f16') need the shader-f16 feature, which this device was created without");
  }
  const tile = gemmTile(ctx.device.limits, swiglu, plan.maxTokens, choice);
  if (!tile) return null;
  const constants = {
    WG: (tile.rows / 4) * (tile.tokens / 4), GM: tile.rows, GN: tile.tokens, GK: tile.cols,
    GU: swiglu ? (tile.rows / 4) * tile.cols : 1, SWIGLU: swiglu ? 1 : 0, X4: plan.xAligned ? 1 : 0,
  };
  return { kind: choice, tile, constants, blocks: Math.ceil(plan.outLen / tile.rows) };
}

/** The entry a launch takes: its kind, name, override constants, tokens per tile and workgroups along an entry's rows. */
export interface ProductEntry {
  kind: RowsKind | GemmKind;
  entryPoint: string;
  constants: Record<string, number>;
  tokens: number;
  blocks: number;
}

/** A rows entry (product-rows/product-tile/product-subgroup); `rowsPerGroup` is product_sg's ROWS_SG. */
export function rowsEntry(kind: RowsKind, entryPoint: string, plan: ProductPlan, swiglu: boolean, rowsPerGroup = 1): ProductEntry {
  return {
    kind, entryPoint, constants: rowsConstants(kind, plan, swiglu, rowsPerGroup),
    tokens: tokenTile(kind, plan.maxTokens), blocks: blocksOf(kind, plan.outLen, rowsPerGroup),
  };
}

/** product_gemm where gemmLaunch takes the launch, else the rows entry `rows` chooses. */
export function productEntry(ctx: KernelContext, plan: ProductPlan, shape: KernelShape | undefined, swiglu: boolean, rows: () => ProductEntry): ProductEntry {
  const g = gemmLaunch(ctx, plan, shape, swiglu);
  return g ? { kind: g.kind, entryPoint: GEMM_ENTRY, constants: g.constants, tokens: g.tile.tokens, blocks: g.blocks } : rows();
}
