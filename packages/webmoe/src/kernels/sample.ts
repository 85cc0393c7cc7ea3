// Launcher for shaders/sample.wgsl: logits → token id on the GPU (greedy, temperature, top-k, top-p, seeded).
import source from '../../../../shaders/sample.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkInt } from './launch-checks';
import { RADIX_SELECT, WORKGROUP_REDUCE } from './wgsl-lib';

export interface SamplingOptions {
  /** ≤ 0: greedy (argmax, lowest index on ties). */
  temperature: number;
  /** Keep the k largest logits (with ties); 0 or ≥ vocab: off. 1 is greedy. */
  topK?: number;
  /** Nucleus: keep the most probable tokens until their mass reaches topP (with ties); ≥ 1: off. */
  topP?: number;
  /** Any u32; with the step it fixes the draw. */
  seed?: number;
}

export interface SampleArgs extends SamplingOptions {
  /** f32 logits, row r from r × logitsStride. */
  logits: GPUBuffer;
  vocab: number;
  /** Default 1. */
  rows?: number;
  /** Default vocab; 0 draws every row from the same logits (n samples of one distribution). */
  logitsStride?: number;
  /** u32 [rows]: the sampled ids. */
  ids: GPUBuffer;
  /** u32 buffer holding the step counter at stepIndex; row r draws with step state[stepIndex] + stepOffset + r. */
  state: GPUBuffer;
  stepIndex?: number;
  stepOffset?: number;
  shape?: KernelShape;
}

/** Invocations per row: software adapters pay per invocation at every barrier, so they get fewer. */
const WG = { workgroup: 256, row: 64 } as const;
const SOURCE = composeWgsl(wgslPiece('sample', source, [RADIX_SELECT, WORKGROUP_REDUCE]));

/**
 * Entry `sample`, one workgroup per row (override WG: 256 for 'workgroup', 64 for 'row'). Bindings:
 * 0 logits (f32), 1 state (u32), 2 ids (u32, read-write), 3 params {rows, vocab, logits_stride, top_k,
 * top_p, temperature, seed, step_index, step_offset}.
 */
export function sample(ctx: KernelContext, a: SampleArgs, label = 'sample'): Dispatch {
  const rows = a.rows ?? 1;
  checkInt(a.vocab, label, 'vocab', 1);
  const p = new ParamsWriter().u32(rows).u32(a.vocab).u32(a.logitsStride ?? a.vocab).u32(a.topK ?? 0).f32(a.topP ?? 1)
    .f32(a.temperature).u32(a.seed ?? 0).u32(a.stepIndex ?? 0).u32(a.stepOffset ?? 0).u32(0).u32(0).u32(0);
  const shape = a.shape ?? ctx.shape;
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'sample',
    variant: shape,
    constants: { WG: WG[shape] },
    inputs: [a.logits, a.state],
    outputs: [a.ids],
    params: p,
    workgroups: grid1d(rows),
  });
}

function mix32(x: number): number {
  let v = x >>> 0;
  v = (v ^ (v >>> 16)) >>> 0;
  v = Math.imul(v, 0x7feb352d) >>> 0;
  v = (v ^ (v >>> 15)) >>> 0;
  v = Math.imul(v, 0x846ca68b) >>> 0;
  return (v ^ (v >>> 16)) >>> 0;
}

/** The uniform in [0, 1) the kernel draws for (seed, step): the same 24 bits, for CPU-side checks and replays. */
export function sampleUniform(seed: number, step: number): number {
  return (mix32((mix32((seed ^ 0x9e3779b9) >>> 0) + step) >>> 0) >>> 8) / 16777216;
}
