// Launcher for shaders/quant-sim.wgsl: DeepSeek-V4's QAT round trips in place (docs/kernels.md#quant-sim).
// 'fp8': fp8_roundtrip per block of 64 (entry quant_fp8, an invocation per block, flat grid).
// 'hadamard-fp4': Hadamard over `count` values (a power of two) then fp4_roundtrip per block of 32 (entry
// hadamard_fp4, a workgroup per vector: WG 64 for the 'workgroup' shape, 16 for 'row').
// Bindings: 0 x (read-write) | 1 params {rows, heads, row_stride, head_stride, offset, count}.
import source from '../../../../shaders/quant-sim.wgsl?raw';
import quantSimCode from '../../../../shaders/lib/quant-sim.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { GRID } from './wgsl-lib';
import { launchKernel } from './dispatch';
import { checkArg, checkBuffer, checkInt } from './launch-checks';

/** fp8_roundtrip, fp4_roundtrip, their scale exponents, and the Hadamard transform (hadamard_shared). */
export const QUANT_SIM = wgslPiece('quant-sim-lib', quantSimCode);
const SOURCE = composeWgsl(wgslPiece('quant-sim', source, [GRID, QUANT_SIM]));

/** The longest vector the Hadamard transform takes (HADAMARD_MAX in shaders/lib/quant-sim.wgsl). */
export const QUANT_SIM_HADAMARD_MAX = 1024;
const WG = { workgroup: 64, row: 16 } as const;
const FP8_WG = 64;
const FP8_BLOCK = 64;

/** 'hadamard' is the transform without the FP4 round trip: the indexer with `indexer_fp4_roundtrip: false`. */
export type QuantSimMode = 'fp8' | 'hadamard-fp4' | 'hadamard';

export interface QuantSimArgs {
  /** f32, rounded in place: element j < count of head h of row r is at r·rowStride + h·headStride + offset + j. */
  x: GPUBuffer;
  rows: number;
  heads: number;
  /** The head's width: the defaults of headStride and count. */
  dim: number;
  /** Default heads × headStride. */
  rowStride?: number;
  /** Default dim. */
  headStride?: number;
  /** Default 0. */
  offset?: number;
  /** Values per head to round (and transform); default dim. A power of two for 'hadamard-fp4'. */
  count?: number;
  mode: QuantSimMode;
  shape?: KernelShape;
}

export function quantSim(ctx: KernelContext, a: QuantSimArgs, label = 'quant_sim'): Dispatch {
  const headStride = a.headStride ?? a.dim;
  const rowStride = a.rowStride ?? a.heads * headStride;
  const offset = a.offset ?? 0;
  const count = a.count ?? a.dim;
  checkInt(a.rows, label, 'rows', 1);
  checkInt(a.heads, label, 'heads', 1);
  checkInt(a.dim, label, 'dim', 1);
  checkInt(headStride, label, 'headStride', 0);
  checkInt(rowStride, label, 'rowStride', 0);
  checkInt(offset, label, 'offset', 0);
  checkInt(count, label, 'count', 1);
  const last = (a.rows - 1) * rowStride + (a.heads - 1) * headStride + offset + count;
  checkBuffer(a.x, last, label, 'x');
  const p = new ParamsWriter().u32(a.rows).u32(a.heads).u32(rowStride).u32(headStride).u32(offset).u32(count).u32(0).u32(0);
  const vectors = a.rows * a.heads;
  if (a.mode === 'fp8') {
    return launchKernel(ctx, label, {
      source: SOURCE, entryPoint: 'quant_fp8', variant: 'block', constants: { WG: FP8_WG },
      inputs: [], outputs: [a.x], params: p,
      workgroups: grid1d(Math.ceil((vectors * Math.ceil(count / FP8_BLOCK)) / FP8_WG)),
    });
  }
  checkArg(a.mode === 'hadamard-fp4' || a.mode === 'hadamard', label, 'mode', `is ${String(a.mode)}, not 'fp8', 'hadamard-fp4' or 'hadamard'`);
  checkArg((count & (count - 1)) === 0 && count <= QUANT_SIM_HADAMARD_MAX, label, 'count',
    `is ${count}: the Hadamard transform takes a power of two up to ${QUANT_SIM_HADAMARD_MAX}`);
  const shape = a.shape ?? ctx.shape;
  return launchKernel(ctx, label, {
    source: SOURCE, entryPoint: 'hadamard_fp4', variant: `${shape}:${a.mode}`, constants: { WG: WG[shape], FP4: a.mode === 'hadamard-fp4' ? 1 : 0 },
    inputs: [], outputs: [a.x], params: p, workgroups: grid1d(vectors),
  });
}
