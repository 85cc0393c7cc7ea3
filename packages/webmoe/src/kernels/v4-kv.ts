// Launcher for shaders/v4-kv.wgsl: DeepSeek-V4's sliding-window KV store and KV compressor
// (docs/kernels.md#v4-kv), and the layout of the KV entries they write (shaders/lib/kv-entry.wgsl).
// kv_window_store: a workgroup per token. compressor_store: an invocation per (token, feature), flat grid.
// compressor_emit: a workgroup per block a call can complete (⌈tokens / ratio⌉; the surplus exits).
// All WG 64; one shape (they are small next to the attention and the projections around them).
import source from '../../../../shaders/v4-kv.wgsl?raw';
import kvEntryCode from '../../../../shaders/lib/kv-entry.wgsl?raw';
import type { KernelContext } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { ROPE_MAX_POSITION } from '../model/rope';
import { WebmoeError } from '../errors';
import { launchKernel } from './dispatch';
import { checkArg, checkBuffer, checkInt } from './launch-checks';
import { QUANT_SIM, QUANT_SIM_HADAMARD_MAX } from './quant-sim';
import { DEQUANT, GRID, ROPE_ROTATION, WORKGROUP_REDUCE } from './wgsl-lib';

/** The KV entry layout's helpers (kv_entry_words, e4m3_code, kv_fp8_vec4 …); needs e4m3x4 from the fp8 piece. */
export const KV_ENTRY = wgslPiece('kv-entry', kvEntryCode, [DEQUANT.fp8!]);
const SOURCE = composeWgsl(wgslPiece('v4-kv', source, [GRID, KV_ENTRY, QUANT_SIM, ROPE_ROTATION, WORKGROUP_REDUCE]));
const WG = 64;
/** Values per FP8 scale in an entry's non-rope part. */
export const KV_FP8_BLOCK = 64;
/** Values per FP4 scale of the indexer's keys. */
const FP4_BLOCK = 32;
const QUANT = { none: 0, fp8: 1, 'hadamard-fp4': 2, hadamard: 3 } as const;
export type CompressorQuant = keyof typeof QUANT;

/**
 * u32 words of one KV entry of `dim` values whose last `rope` are rotated (lib/kv-entry.wgsl): with the
 * FP8 round trip (kv_fp8_roundtrip, the release default) (dim − rope)/4 words of E4M3 codes, one E8M0
 * byte per 64 of them (4 per word), then the rope dims as f32; otherwise dim f32 values.
 * WebmoeError('model-format') when dim − rope is not a positive multiple of 64 with FP8.
 */
export function kvEntryWords(dim: number, rope: number, fp8: boolean): number {
  const n = dim - rope;
  if (!Number.isInteger(dim) || !Number.isInteger(rope) || rope < 0 || rope % 2 !== 0 || n <= 0) {
    throw new WebmoeError('model-format', `KV entries of ${dim} values with ${rope} rotated: need 0 ≤ rope < dim, rope even`, { detail: { dim, rope } });
  }
  if (!fp8) return dim;
  if (n % KV_FP8_BLOCK !== 0) {
    throw new WebmoeError('model-format',
      `FP8 KV entries round their first ${n} values (head_dim ${dim} − rope ${rope}) per ${KV_FP8_BLOCK}: not a multiple`, { detail: { dim, rope } });
  }
  return n / 4 + Math.ceil(n / KV_FP8_BLOCK / 4) + rope;
}

/** Sizes every kernel here shares: dim % 4 (whole words) and the staging array's bound. */
function checkEntry(label: string, dim: number, rope: number): void {
  checkInt(dim, label, 'dim', FP4_BLOCK, QUANT_SIM_HADAMARD_MAX);
  checkArg(dim % 4 === 0, label, 'dim', `is ${dim}, not a multiple of 4`);
  checkInt(rope, label, 'rope', 0, dim - 1);
  checkArg(rope % 2 === 0, label, 'rope', `is ${rope}, not even`);
}

export interface KvWindowStoreArgs {
  /** f32 [tokens, dim]: rms(kv_norm)-ed, RoPE already applied to its last `rope` dims. */
  kv: GPUBuffer;
  /** The window ring: `slots` entries of kvEntryWords(dim, rope, fp8) words. */
  ring: GPUBuffer;
  /** u32; token t is at position positions[positionIndex] + t (read on the GPU). */
  positions: GPUBuffer;
  positionIndex?: number;
  tokens: number;
  dim: number;
  rope: number;
  /** Ring entries; slot = position mod slots (sliding_window + the longest call − 1 keeps a call's windows whole). */
  slots: number;
  /** Store kv[:n] through the FP8 round trip per 64 in the FP8 entry format (kv_fp8_roundtrip). */
  fp8: boolean;
}

/** Entry `kv_window_store`. Bindings: 0 kv, 1 positions, 2 ring, 3 params {tokens, slots, pos_index}. */
export function kvWindowStore(ctx: KernelContext, a: KvWindowStoreArgs, label = 'kv_window_store'): Dispatch {
  checkEntry(label, a.dim, a.rope);
  checkInt(a.tokens, label, 'tokens', 1, 65535);
  checkInt(a.slots, label, 'slots', a.tokens);
  const words = kvEntryWords(a.dim, a.rope, a.fp8);
  checkBuffer(a.kv, a.tokens * a.dim, label, 'kv');
  checkBuffer(a.ring, a.slots * words, label, 'ring');
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'kv_window_store',
    variant: a.fp8 ? 'fp8' : 'f32',
    constants: { D: a.dim, ROPE: a.rope, QUANT: a.fp8 ? QUANT.fp8 : QUANT.none, WG },
    inputs: [a.kv, a.positions],
    outputs: [a.ring],
    params: new ParamsWriter().u32(a.tokens).u32(a.slots).u32(a.positionIndex ?? 0).u32(0),
    workgroups: [a.tokens, 1, 1],
  });
}

export interface CompressorStoreArgs {
  /** f32 [tokens, width]: lin(x, compressor.wkv). */
  kv: GPUBuffer;
  /** f32 [tokens, width]: lin(x, compressor.wgate). */
  gate: GPUBuffer;
  /** f32 [ratio, width]: compressor.ape. */
  ape: GPUBuffer;
  /** f32 [slots, 2·width]: row = position mod slots holds [kv | gate + ape[position mod ratio]]. */
  state: GPUBuffer;
  positions: GPUBuffer;
  positionIndex?: number;
  tokens: number;
  /** W = c·Dc: c = 2 for overlapping blocks (ratio 4), else 1. */
  width: number;
  /** m: tokens per block. */
  ratio: number;
  /** Rows of `state`: a multiple of ratio, at least tokens + 2·ratio (compressorEmit reads the block before a call's first). */
  slots: number;
}

/** Entry `compressor_store`. Bindings: 0 kv, 1 positions, 2 gate, 3 ape, 4 state, 5 params {tokens, width, ratio, slots, pos_index}. */
export function compressorStore(ctx: KernelContext, a: CompressorStoreArgs, label = 'compressor_store'): Dispatch {
  checkInt(a.tokens, label, 'tokens', 1);
  checkInt(a.width, label, 'width', 1);
  checkInt(a.ratio, label, 'ratio', 1);
  checkStateSlots(label, a.slots, a.ratio, a.tokens);
  checkBuffer(a.kv, a.tokens * a.width, label, 'kv');
  checkBuffer(a.gate, a.tokens * a.width, label, 'gate');
  checkBuffer(a.ape, a.ratio * a.width, label, 'ape');
  checkBuffer(a.state, a.slots * 2 * a.width, label, 'state');
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'compressor_store',
    variant: 'feature',
    // D and ROPE size nothing this entry uses; they are set so that no override of the module lacks a value.
    constants: { D: 64, ROPE: 0, WG },
    inputs: [a.kv, a.positions, a.gate, a.ape],
    outputs: [a.state],
    params: new ParamsWriter().u32(a.tokens).u32(a.width).u32(a.ratio).u32(a.slots).u32(a.positionIndex ?? 0).u32(0).u32(0).u32(0),
    workgroups: grid1d(Math.ceil((a.tokens * a.width) / WG)),
  });
}

function checkStateSlots(label: string, slots: number, ratio: number, tokens: number): void {
  checkInt(slots, label, 'slots', 1);
  checkArg(slots % ratio === 0, label, 'slots', `(${slots}) is not a multiple of the ratio ${ratio}: a block's rows must not wrap onto each other`);
  checkArg(slots >= tokens + 2 * ratio, label, 'slots',
    `(${slots}) is below tokens + 2·ratio = ${tokens + 2 * ratio}: a call's rows would overwrite the previous block before it is pooled`);
}

export interface CompressorEmitArgs {
  /** compressorStore's ring, holding this call's rows. */
  state: GPUBuffer;
  /** f32 [dim]: compressor.norm.weight. */
  norm: GPUBuffer;
  /** RoPE table of the layer (compress_rope_theta with YaRN): model/rope.ts ropeTable. */
  table: GPUBuffer;
  positions: GPUBuffer;
  positionIndex?: number;
  /** Entry b at b: kvEntryWords(dim, rope, quant === 'fp8') words each ('hadamard-fp4', 'hadamard': dim f32). */
  out: GPUBuffer;
  tokens: number;
  /** Dc: head_dim for the attention's compressor, index_head_dim for the indexer's. */
  dim: number;
  rope: number;
  ratio: number;
  /** CSA's overlapping blocks (state rows 2·2·dim wide). */
  overlap: boolean;
  slots: number;
  eps: number;
  /** 'fp8': attention entries in the FP8 entry format; 'none': f32 entries; 'hadamard-fp4': the indexer's keys;
   *  'hadamard': the indexer's keys with the FP4 simulation off (`indexer_fp4_roundtrip: false`, a test setting). */
  quant: CompressorQuant;
  /** Entries `out` holds (blocks at or past it are skipped); default what its size allows. */
  maxBlocks?: number;
}

/**
 * Entry `compressor_emit`. Bindings: 0 state, 1 positions, 2 norm, 3 table, 4 out, 5 params {tokens, ratio,
 * overlap, slots, max_blocks, pos_index, eps}. Writes the entries of the blocks whose last token is in this
 * call: ⌊start/ratio⌋ … ⌊(start + tokens)/ratio⌋ − 1.
 */
export function compressorEmit(ctx: KernelContext, a: CompressorEmitArgs, label = 'compressor_emit'): Dispatch {
  checkEntry(label, a.dim, a.rope);
  checkInt(a.tokens, label, 'tokens', 1);
  checkInt(a.ratio, label, 'ratio', 1);
  checkStateSlots(label, a.slots, a.ratio, a.tokens);
  checkArg(Object.hasOwn(QUANT, a.quant), label, 'quant', `is ${String(a.quant)}, not one of ${Object.keys(QUANT).join(', ')}`);
  if (a.quant === 'hadamard-fp4' || a.quant === 'hadamard') checkArg((a.dim & (a.dim - 1)) === 0, label, 'dim', `is ${a.dim}: the Hadamard transform takes a power of two`);
  const words = kvEntryWords(a.dim, a.rope, a.quant === 'fp8');
  const maxBlocks = a.maxBlocks ?? Math.floor(a.out.size / (words * 4));
  checkInt(maxBlocks, label, 'maxBlocks', 1);
  checkArg((maxBlocks - 1) * a.ratio < ROPE_MAX_POSITION, label, 'maxBlocks', `reach positions past the rope kernels' ${ROPE_MAX_POSITION}`);
  checkBuffer(a.out, maxBlocks * words, label, 'out');
  checkBuffer(a.state, a.slots * 2 * (a.overlap ? 2 : 1) * a.dim, label, 'state');
  checkBuffer(a.norm, a.dim, label, 'norm');
  checkBuffer(a.table, a.rope, label, 'table');
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'compressor_emit',
    variant: a.quant,
    constants: { D: a.dim, ROPE: a.rope, QUANT: QUANT[a.quant], WG },
    inputs: [a.state, a.positions, a.norm, a.table],
    outputs: [a.out],
    params: new ParamsWriter().u32(a.tokens).u32(a.ratio).u32(a.overlap ? 1 : 0).u32(a.slots).u32(maxBlocks)
      .u32(a.positionIndex ?? 0).f32(a.eps).u32(0),
    workgroups: [Math.ceil(a.tokens / a.ratio), 1, 1],
  });
}
