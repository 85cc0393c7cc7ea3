// Launcher for shaders/sample.wgsl: logits → token id on the GPU (greedy, temperature, top-k, top-p, min-p,
// seeded), after a token mask (constrained decoding) and the request's logit bias and penalties.
import source from '../../../../shaders/sample.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { createStorage, ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkBuffer, checkInt } from './launch-checks';
import { GRID, RADIX_SELECT, UNIFORM, USABLE_LOGIT, WORKGROUP_REDUCE } from './wgsl-lib';

export interface SamplingOptions {
  /** ≤ 0: greedy (argmax, lowest index on ties). */
  temperature: number;
  /** Keep the k largest logits (with ties); 0 or ≥ vocab: off. 1 is greedy. */
  topK?: number;
  /** Nucleus: keep the most probable tokens until their mass reaches topP (with ties); ≥ 1: off. */
  topP?: number;
  /** Any u32; with the step it fixes the draw. */
  seed?: number;
  /** Also drop tokens less than minP × as likely as the likeliest (after top-k/top-p); 0: off. */
  minP?: number;
}

/** Penalties over token counts (the rule in executor/generator.ts, SamplingPenalties). */
export interface SamplePenalties {
  /** u32 [vocab]: count in the reply (low 31 bits), bit 31 set for tokens of the prompt (tokenCountWords). The drawn id is counted. */
  counts: GPUBuffer;
  repetition: number;
  presence: number;
  frequency: number;
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
  /** Logit bias: `count` [id, f32 bits] pairs (logitBiasWords), ids ascending. */
  bias?: { buffer: GPUBuffer; count: number };
  /** Needs rows = 1: the draw is counted into penalties.counts. */
  penalties?: SamplePenalties;
  /** Constrained decoding: u32 [ceil(vocab / 32)], bit id % 32 of word id / 32 set where token id may be drawn (at least one). */
  allowed?: GPUBuffer;
  shape?: KernelShape;
}

/** Most logit-bias entries a backend's bias list holds. */
export const MAX_BIAS_ENTRIES = 1024;

/** Bit 31 of a token count: the token is in the prompt. */
export const PROMPT_BIT = 0x80000000;

/** A bias list as the kernel reads it: [id, f32 bits] per entry, in the given (ascending id) order. */
export function logitBiasWords(entries: readonly (readonly [number, number])[]): Uint32Array<ArrayBuffer> {
  const words = new Uint32Array(Math.max(2, 2 * entries.length));
  const f = new Float32Array(1);
  entries.forEach(([id, b], k) => {
    f[0] = b;
    words[2 * k] = id;
    words[2 * k + 1] = new Uint32Array(f.buffer)[0];
  });
  return words;
}

/** Token counts at the start of a reply: the prompt's tokens marked, nothing counted yet. */
export function tokenCountWords(promptIds: readonly number[], vocab: number): Uint32Array<ArrayBuffer> {
  const words = new Uint32Array(vocab);
  for (const id of promptIds) words[id] = PROMPT_BIT;
  return words;
}

/** A set of allowed tokens as the kernel reads it: bit id % 32 of word id / 32. */
export function tokenMaskWords(ids: Iterable<number>, vocab: number): Uint32Array<ArrayBuffer> {
  const words = new Uint32Array(Math.ceil(vocab / 32));
  for (const id of ids) words[id >>> 5] |= 1 << (id & 31);
  return words;
}

// Bound where the bias list, the mask or the counts are absent: read-only ones and a writable one per
// device (a buffer cannot be both in one dispatch).
const unused = new WeakMap<GPUDevice, { bias: GPUBuffer; mask: GPUBuffer; counts: GPUBuffer }>();

function unusedBuffers(device: GPUDevice): { bias: GPUBuffer; mask: GPUBuffer; counts: GPUBuffer } {
  let u = unused.get(device);
  if (!u) {
    u = { bias: createStorage(device, 'sample:no-bias', 8), mask: createStorage(device, 'sample:no-mask', 4), counts: createStorage(device, 'sample:no-counts', 4) };
    unused.set(device, u);
  }
  return u;
}

/** Invocations per row: software adapters pay per invocation at every barrier, so they get fewer. */
const WG = { workgroup: 256, row: 64 } as const;
const SOURCE = composeWgsl(wgslPiece('sample', source, [GRID, RADIX_SELECT, WORKGROUP_REDUCE, UNIFORM, USABLE_LOGIT]));

/**
 * Entry `sample`, one workgroup per row (override WG: 256 for 'workgroup', 64 for 'row'). Bindings:
 * 0 logits (f32), 1 state (u32), 2 bias (u32 pairs), 3 allowed (u32 bitmask), 4 ids (u32, read-write),
 * 5 counts (u32, read-write), 6 params {rows, vocab, logits_stride, top_k, top_p, temperature, seed,
 * step_index, step_offset, min_p, n_bias, penalize, repetition, presence, frequency, neg_inf, masked}.
 */
export function sample(ctx: KernelContext, a: SampleArgs, label = 'sample'): Dispatch {
  const rows = a.rows ?? 1;
  checkInt(a.vocab, label, 'vocab', 1);
  const pen = a.penalties;
  if (pen) checkInt(rows, label, 'rows (with penalties, whose counts take one draw at a time)', 1, 1);
  const nBias = a.bias?.count ?? 0;
  if (a.bias) checkBuffer(a.bias.buffer, 2 * nBias, label, 'bias');
  if (pen) checkBuffer(pen.counts, a.vocab, label, 'penalties.counts');
  if (a.allowed) checkBuffer(a.allowed, Math.ceil(a.vocab / 32), label, 'allowed');
  const none = unusedBuffers(ctx.device);
  const p = new ParamsWriter().u32(rows).u32(a.vocab).u32(a.logitsStride ?? a.vocab).u32(a.topK ?? 0).f32(a.topP ?? 1)
    .f32(a.temperature).u32(a.seed ?? 0).u32(a.stepIndex ?? 0).u32(a.stepOffset ?? 0).f32(a.minP ?? 0).u32(nBias).u32(pen ? 1 : 0)
    .f32(pen?.repetition ?? 1).f32(pen?.presence ?? 0).f32(pen?.frequency ?? 0).f32(-Infinity).u32(a.allowed ? 1 : 0);
  const shape = a.shape ?? ctx.shape;
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'sample',
    variant: shape,
    constants: { WG: WG[shape] },
    inputs: [a.logits, a.state, a.bias?.buffer ?? none.bias, a.allowed ?? none.mask],
    outputs: [a.ids, pen?.counts ?? none.counts],
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
