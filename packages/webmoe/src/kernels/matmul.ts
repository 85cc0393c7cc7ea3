// Launcher for shaders/matmul.wgsl: products of f32 activations with weights in any format of
// model/formats.ts, read as the tensor's own bytes (never dequantized into a copy), and the embedding gather.
//
// matmul_wg / matmul_row / matmul_tile / matmul_t (one binding layout for all four, group 0):
//   0 x   f32[]  activations: x[t] of batch entry b starts at x_offset + b·x_batch + t·x_tok; matmul_wg/
//                row/tile view it as vec4s, so its size must be a multiple of 16 bytes (createStorage pads)
//   1 w   u32[]  the buffer holding the weight tensor (the gate projection with SwiGLU)
//   2 w2  u32[]  the up projection's buffer (SwiGLU); otherwise `w` again
//   3 idx u32[]  expert ids (experts) or segment offsets (groups); otherwise `w` again
//   4 sw  f32[]  per-slot weights (experts.weights); otherwise `x` again
//   5 y   f32[]  output (read_write: accumulate reads it)
//   6 params (Params in the .wgsl): sizes, word offsets of the weight sections, row_base/row_stride,
//     expert_stride (words), offsets and strides of x and y, idx_offset, sw_offset, span/spans (token
//     tiling), flags (accumulate, sum over slots, slot weights) and index (how entries find their expert)
//   Overrides: FORMAT, WG, TT (tokens per tile), SWIGLU, X4 (x rows 4-float aligned: vec4 loads); the rest
//   are params (meanings in the .wgsl).
//   Grid: flat, blocks × spans × batch (one batch entry when summed), split over x/y by grid1d.
//     matmul_wg blocks: one row each; matmul_row: WG rows; matmul_tile: 4·WG rows; matmul_t: WG units of 8 columns.
//   Which entry: transposed → matmul_t; shape 'workgroup' → matmul_wg up to WG_MAX_TOKENS tokens per
//   weight (decode); otherwise matmul_row for one token, matmul_tile (16 tokens per tile, x read as vec4s)
//   for more when x's rows start on multiples of 4 floats, else matmul_row with 8-token tiles.
// gather_rows: 0 ids u32[], 1 w u32[], 2 y f32[], 3 params (tokens, rows, cols, section word offsets,
//   ids_offset, y_offset, y_tok); grid: one invocation per (token, 8 columns).
//
// Placeholders: unused bindings are bound to buffers the dispatch binds anyway (read-only twice is
// allowed), so no launch allocates more than its params block.
import source from '../../../../shaders/matmul.wgsl?raw';
import { shapeFor, kernelUniform, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { bindKernel, grid1d, type Dispatch } from '../gpu/pipelines';
import { WEIGHT_FORMATS, type TensorLayout } from '../model/formats';

const WG = 64;
const MAX_TT = 8;
// matmul_tile's tokens per tile (TILE_T in the .wgsl).
const TILE_TT = 16;
const WG_MAX_TOKENS = 4;
const INDEX = { batch: 0, ids: 1, grouped: 2 } as const;
const FLAG = { accumulate: 1, sum: 2, slotWeights: 4 } as const;

/** A weight tensor in a GPU buffer: its bytes as laid out by formats.ts, starting at `offset`. */
export interface WeightRef {
  buffer: GPUBuffer;
  /** Byte offset of the tensor in `buffer` (of expert 0 with `experts`/`groups`); a multiple of 4. Default 0. */
  offset?: number;
  layout: TensorLayout;
}

export type MatmulOutput = 'write' | 'accumulate';

/** MoE decode: batch entry k (a slot) uses expert ids[idsOffset + k]. */
export interface ExpertSlots {
  ids: GPUBuffer;
  idsOffset?: number;
  /** Bytes between consecutive experts' tensors in the weight buffer(s); a multiple of 4. */
  strideBytes: number;
  /** Scale slot k by weights[weightsOffset + k] (f32): the router's weights. */
  weights?: GPUBuffer;
  weightsOffset?: number;
  /** Sum the slots into one output row set: y (+)= Σ_k w_k · W_{ids[k]} x_k. */
  sum?: boolean;
}

/** MoE prefill: batch entry e is expert e, owning the token rows [offsets[e], offsets[e+1]) of x and y. */
export interface ExpertGroups {
  /** u32, batch + 1 entries from offsetsOffset. */
  offsets: GPUBuffer;
  offsetsOffset?: number;
  strideBytes: number;
  /** The most rows one expert can own (sizes the grid); default `tokens`. */
  maxRows?: number;
  /** Tokens per workgroup; default groupedSpan(). Workgroups past their expert's segment exit at once. */
  span?: number;
}

export interface MatmulArgs {
  weight: WeightRef;
  /** SwiGLU: y = silu(W x) · (W_up x) with `weight` the gate; same format and shape. Not with `transposed` or `sum`. */
  up?: WeightRef;
  x: GPUBuffer;
  y: GPUBuffer;
  /** T, default 1. With `groups`: the rows of x (gathered tokens). */
  tokens?: number;
  /** y[t, c] = Σ_r W[r, c] · x[t, r] instead of y[t, r] = Σ_c W[r, c] · x[t, c]. */
  transposed?: boolean;
  output?: MatmulOutput;
  /** Tensor rows per batch entry (outputs, or with `transposed` the rows summed over); default all rows. */
  rows?: number;
  /** Batch entry b uses tensor rows rowBase + b·rowStride …; defaults 0, 0. */
  rowBase?: number;
  rowStride?: number;
  /** Batch entries (attention heads, MoE slots, or with `groups` the experts); default 1. */
  batch?: number;
  /** Element offsets and strides. Defaults: token-major [T][batch][n] (grouped and summed: [T][n], batch stride 0). */
  xOffset?: number;
  xTokenStride?: number;
  xBatchStride?: number;
  yOffset?: number;
  yTokenStride?: number;
  yBatchStride?: number;
  experts?: ExpertSlots;
  groups?: ExpertGroups;
  shape?: KernelShape;
}

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
}

function words(bytes: number, what: string, label: string): number {
  if (!Number.isInteger(bytes) || bytes < 0 || bytes % 4) throw new RangeError(`${label}: ${what} (${bytes}) must be a non-negative multiple of 4 bytes`);
  return bytes / 4;
}

/** Word offsets of the q, scales and mins sections (0 for absent ones). */
function sections(w: WeightRef, label: string): [number, number, number] {
  const base = w.offset ?? 0;
  const at = (s: { offset: number } | null) => words(base + (s?.offset ?? 0), 'weight offset', label);
  return [at(w.layout.q), at(w.layout.scales), at(w.layout.mins)];
}

function formatIndex(w: WeightRef): number {
  return WEIGHT_FORMATS.indexOf(w.layout.format);
}

/** Tokens per tile: few values, so that few pipelines cover all T. */
function tokenTile(entry: string, maxTokens: number): number {
  if (maxTokens <= 1) return 1;
  return entry === 'matmul_wg' ? WG_MAX_TOKENS : entry === 'matmul_tile' ? TILE_TT : MAX_TT;
}

function check(ok: boolean, label: string, message: string): void {
  if (!ok) throw new RangeError(`${label}: ${message}`);
}

/** Robust buffer access would turn an out-of-range index into a silent wrong value: refuse it here. */
function fits(buffer: GPUBuffer, bytes: number, what: string, label: string): void {
  check(buffer.size >= bytes, label, `${what} needs ${bytes} bytes of ${buffer.label || 'its buffer'}, which holds ${buffer.size}`);
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

/** One launch of the matmul family: returns a pre-bound Dispatch that can be recorded any number of times. */
export function matmul(ctx: KernelContext, a: MatmulArgs, label = 'matmul'): Dispatch {
  const shape = shapeFor(ctx, 'matmul', a.shape);
  const L = a.weight.layout;
  const transposed = a.transposed ?? false;
  const grouped = a.groups !== undefined;
  const sum = a.experts?.sum ?? false;
  const T = a.tokens ?? 1;
  const B = a.batch ?? 1;
  const rows = a.rows ?? L.rows;
  const rowBase = a.rowBase ?? 0;
  const rowStride = a.rowStride ?? 0;
  check(Number.isInteger(T) && T >= (grouped ? 0 : 1), label, `tokens must be a positive integer, got ${T}`);
  check(Number.isInteger(B) && B >= 1, label, `batch must be a positive integer, got ${B}`);
  check(rows >= 1 && rowBase + (B - 1) * rowStride + rows <= L.rows, label,
    `rows ${rowBase}+${B - 1}·${rowStride}+${rows} exceed the tensor's ${L.rows}`);
  check(!(a.experts && a.groups), label, 'experts and groups exclude each other');
  if (a.up) {
    const U = a.up.layout;
    check(U.format === L.format && U.rows === L.rows && U.cols === L.cols, label,
      `up ${U.format}[${U.rows}, ${U.cols}] differs from gate ${L.format}[${L.rows}, ${L.cols}]`);
    check(!transposed && !sum, label, 'SwiGLU is neither transposed nor summed over slots');
  }

  const inLen = transposed ? rows : L.cols;
  const outLen = transposed ? L.cols : rows;
  const flatX = grouped;
  const flatY = grouped || sum;
  const xBatch = a.xBatchStride ?? (flatX ? 0 : inLen);
  const xTok = a.xTokenStride ?? (flatX ? inLen : B * inLen);
  const yBatch = a.yBatchStride ?? (flatY ? 0 : outLen);
  const yTok = a.yTokenStride ?? (flatY ? outLen : B * outLen);

  const gridBatch = sum ? 1 : B;
  const xOffset = a.xOffset ?? 0;
  const yOffset = a.yOffset ?? 0;
  // matmul_wg/row/tile view x as vec4s: a buffer whose size is not whole vec4s would hide its tail.
  check(transposed || a.x.size % 16 === 0, label, `x (${a.x.label || 'buffer'}) must be a multiple of 16 bytes, got ${a.x.size} (createStorage pads)`);
  if (T > 0) {
    fits(a.x, 4 * (xOffset + (B - 1) * xBatch + (T - 1) * xTok + inLen), 'x', label);
    fits(a.y, 4 * (yOffset + (gridBatch - 1) * yBatch + (T - 1) * yTok + outLen), 'y', label);
  }
  const tensorEnd = (w: WeightRef) => (w.offset ?? 0) + (grouped ? (B - 1) * a.groups!.strideBytes : 0) + w.layout.bytes;
  fits(a.weight.buffer, tensorEnd(a.weight), 'the weight', label);
  if (a.up) fits(a.up.buffer, tensorEnd(a.up), 'the up weight', label);
  if (a.experts) {
    fits(a.experts.ids, 4 * ((a.experts.idsOffset ?? 0) + B), 'expert ids', label);
    if (a.experts.weights) fits(a.experts.weights, 4 * ((a.experts.weightsOffset ?? 0) + B), 'slot weights', label);
  }
  if (a.groups) fits(a.groups.offsets, 4 * ((a.groups.offsetsOffset ?? 0) + B + 1), 'segment offsets', label);

  const maxRows = grouped ? Math.max(1, a.groups!.maxRows ?? T) : T;
  const xAligned = [L.cols, xOffset, xTok, xBatch].every((n) => n % 4 === 0);
  const entry = transposed ? 'matmul_t'
    : shape === 'workgroup' && maxRows <= WG_MAX_TOKENS ? 'matmul_wg'
    : maxRows > 1 && xAligned ? 'matmul_tile' : 'matmul_row';
  const TT = tokenTile(entry, maxRows);
  const blocks = entry === 'matmul_wg' ? outLen
    : entry === 'matmul_t' ? Math.ceil(Math.ceil(outLen / 8) / WG)
    : entry === 'matmul_tile' ? Math.ceil(outLen / (4 * WG)) : Math.ceil(outLen / WG);
  const span = grouped ? Math.max(1, a.groups!.span ?? groupedSpan(maxRows, TT, blocks * B)) : TT;
  const spans = Math.ceil(maxRows / span);
  const swiglu = a.up !== undefined;
  const index = a.experts ? INDEX.ids : grouped ? INDEX.grouped : INDEX.batch;
  const slotWeights = a.experts?.weights;

  const [q, sc, mn] = sections(a.weight, label);
  const [q2, sc2, mn2] = a.up ? sections(a.up, label) : [0, 0, 0];
  const strideBytes = a.experts?.strideBytes ?? a.groups?.strideBytes ?? 0;
  const p = new ParamsWriter()
    .u32(rows).u32(L.cols).u32(T).u32(B)
    .u32(q).u32(sc).u32(mn).u32(q2).u32(sc2).u32(mn2)
    .u32(rowBase).u32(rowStride).u32(words(strideBytes, 'expert stride', label))
    .u32(xOffset).u32(xTok).u32(xBatch)
    .u32(yOffset).u32(yTok).u32(yBatch)
    .u32(a.experts?.idsOffset ?? a.groups?.offsetsOffset ?? 0).u32(a.experts?.weightsOffset ?? 0)
    .u32(span).u32(spans)
    .u32((a.output === 'accumulate' ? FLAG.accumulate : 0) | (sum ? FLAG.sum : 0) | (slotWeights ? FLAG.slotWeights : 0))
    .u32(index);

  const constants = { FORMAT: formatIndex(a.weight), WG, TT, SWIGLU: swiglu ? 1 : 0, X4: xAligned && entry !== 'matmul_t' ? 1 : 0 };
  const variant = `${transposed ? 'transposed' : shape}.${L.format}`;
  const pipeline = ctx.pipelines.get({ kernel: 'matmul', entryPoint: entry, variant, constants }, source);
  const uniform = kernelUniform(ctx, `${label}:params`, p);
  const idx = a.experts?.ids ?? a.groups?.offsets ?? a.weight.buffer;
  const inputs = [a.x, a.weight.buffer, a.up?.buffer ?? a.weight.buffer, idx, slotWeights ?? a.x];
  return {
    label,
    pipeline,
    bindGroup: bindKernel(ctx.device, label, pipeline, inputs, [a.y], uniform),
    workgroups: grid1d(blocks * spans * gridBatch),
  };
}

/** Embedding lookup: y[t, :] = dequant(W[ids[t], :]); ids past the table give zero rows. */
export function gatherRows(ctx: KernelContext, a: GatherRowsArgs, label = 'gather_rows'): Dispatch {
  const L = a.weight.layout;
  const [q, sc, mn] = sections(a.weight, label);
  const yTok = a.yTokenStride ?? L.cols;
  if (a.tokens > 0) {
    fits(a.ids, 4 * ((a.idsOffset ?? 0) + a.tokens), 'ids', label);
    fits(a.y, 4 * ((a.yOffset ?? 0) + (a.tokens - 1) * yTok + L.cols), 'y', label);
  }
  fits(a.weight.buffer, (a.weight.offset ?? 0) + L.bytes, 'the table', label);
  const p = new ParamsWriter()
    .u32(a.tokens).u32(L.rows).u32(L.cols).u32(q).u32(sc).u32(mn)
    .u32(a.idsOffset ?? 0).u32(a.yOffset ?? 0).u32(yTok);
  const pipeline = ctx.pipelines.get({ kernel: 'matmul', entryPoint: 'gather_rows', variant: L.format, constants: { FORMAT: formatIndex(a.weight), WG } }, source);
  const uniform = kernelUniform(ctx, `${label}:params`, p);
  return {
    label,
    pipeline,
    bindGroup: bindKernel(ctx.device, label, pipeline, [a.ids, a.weight.buffer], [a.y], uniform),
    workgroups: grid1d(Math.ceil((a.tokens * Math.ceil(L.cols / 8)) / WG)),
  };
}
