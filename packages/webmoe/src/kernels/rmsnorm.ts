// Launcher for shaders/rmsnorm.wgsl: RMSNorm, and the residual add fused with it.
import source from '../../../../shaders/rmsnorm.wgsl?raw';
import { shapeFor, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import type { Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkArg } from './launch-checks';
import { RMS, WORKGROUP_REDUCE } from './wgsl-lib';

const WG = 64;
const SOURCE = composeWgsl(wgslPiece('rmsnorm', source, [WORKGROUP_REDUCE, RMS]));

export interface RmsNormArgs {
  x: GPUBuffer;
  weight: GPUBuffer;
  y: GPUBuffer;
  rows: number;
  cols: number;
  eps: number;
  /** Elements between row starts; default `cols`. */
  xStride?: number;
  xOffset?: number;
  yStride?: number;
  yOffset?: number;
  shape?: KernelShape;
}

export interface AddRmsNormArgs {
  /** Added into `h` before the norm. */
  delta: GPUBuffer;
  weight: GPUBuffer;
  /** The residual stream, updated in place. */
  h: GPUBuffer;
  y: GPUBuffer;
  rows: number;
  cols: number;
  eps: number;
  shape?: KernelShape;
}

function params(rows: number, cols: number, eps: number, xs: number, xo: number, ys: number, yo: number): ParamsWriter {
  return new ParamsWriter().u32(rows).u32(cols).u32(xs).u32(xo).u32(ys).u32(yo).f32(eps).u32(0);
}

function launch(ctx: KernelContext, entry: 'rmsnorm' | 'add_rmsnorm', shape: KernelShape, rows: number, label: string,
  inputs: GPUBuffer[], outputs: GPUBuffer[], params: ParamsWriter): Dispatch {
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: `${entry}_${shape === 'row' ? 'row' : 'wg'}`,
    variant: shape,
    constants: { WG },
    inputs,
    outputs,
    params,
    workgroups: [shape === 'row' ? Math.ceil(rows / WG) : rows, 1, 1],
  });
}

export function rmsnorm(ctx: KernelContext, a: RmsNormArgs, label = 'rmsnorm'): Dispatch {
  const shape = shapeFor(ctx, 'rmsnorm', a.shape);
  checkArg(shape === 'row' || a.rows <= 65535, label, 'rows', `(${a.rows}) exceed one dispatch dimension (65535)`);
  const p = params(a.rows, a.cols, a.eps, a.xStride ?? a.cols, a.xOffset ?? 0, a.yStride ?? a.cols, a.yOffset ?? 0);
  return launch(ctx, 'rmsnorm', shape, a.rows, label, [a.x, a.weight], [a.y], p);
}

export function addRmsnorm(ctx: KernelContext, a: AddRmsNormArgs, label = 'add_rmsnorm'): Dispatch {
  const shape = shapeFor(ctx, 'rmsnorm', a.shape);
  checkArg(shape === 'row' || a.rows <= 65535, label, 'rows', `(${a.rows}) exceed one dispatch dimension (65535)`);
  const p = params(a.rows, a.cols, a.eps, a.cols, 0, a.cols, 0);
  return launch(ctx, 'add_rmsnorm', shape, a.rows, label, [a.delta, a.weight], [a.h, a.y], p);
}
