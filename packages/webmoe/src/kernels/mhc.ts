// Launcher for shaders/mhc.wgsl: DeepSeek-V4's hyper-connections around each sublayer and at the head
// (docs/kernels.md#mhc). mhcPre and mhcHead: shape 'workgroup' → a workgroup per token (WG 128), 'row' →
// an invocation per token (WG 64). mhcPost: an invocation per (token, column), flat grid.
import source from '../../../../shaders/mhc.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkArg, checkBuffer, checkInt } from './launch-checks';
import { GRID, WORKGROUP_REDUCE } from './wgsl-lib';

const SOURCE = composeWgsl(wgslPiece('mhc', source, [GRID, WORKGROUP_REDUCE]));
/** The most streams the kernels take (MAX_HC in shaders/mhc.wgsl); DeepSeek-V4 has 4. */
export const MHC_MAX_STREAMS = 8;
const WG = { workgroup: 128, row: 64 } as const;
const POST_WG = 64;

interface MhcSizes {
  tokens: number;
  /** Streams per token (hc_mult). */
  hc: number;
  /** Values per stream (hidden_size). */
  dim: number;
}

export interface MhcPreArgs extends MhcSizes {
  /** f32 [T, hc, d]: the residual streams. */
  x: GPUBuffer;
  /** f32 [T, (2+hc)·hc]: x̄·fnᵀ (x̄ the token's hc·d values), not yet times ρ. */
  mix: GPUBuffer;
  /** f32 [(2+hc)·hc]: hc_{attn|ffn}_base. */
  base: GPUBuffer;
  /** f32 [3]: hc_{attn|ffn}_scale. */
  scale: GPUBuffer;
  /** Out f32 [T, d]: the sublayer's input Σ_j pre_j·X[j]. */
  u: GPUBuffer;
  /** Out f32 [T, hc]. */
  post: GPUBuffer;
  /** Out f32 [T, hc, hc]: C[j, k] at (t·hc + j)·hc + k. */
  comb: GPUBuffer;
  /** hc_sinkhorn_iters (≥ 1): the first column normalisation counts as one. */
  sinkhornIters: number;
  hcEps: number;
  normEps: number;
  shape?: KernelShape;
}

export interface MhcPostArgs extends MhcSizes {
  x: GPUBuffer;
  /** f32 [T, d]: the sublayer's output. */
  f: GPUBuffer;
  post: GPUBuffer;
  comb: GPUBuffer;
  /** Out f32 [T, hc, d]: post_k·f + Σ_j C[j,k]·X[j]; a buffer other than x. */
  out: GPUBuffer;
}

export interface MhcHeadArgs extends MhcSizes {
  x: GPUBuffer;
  /** f32 [T, hc]: x̄·hc_head_fnᵀ, not yet times ρ. */
  mix: GPUBuffer;
  /** f32 [hc]: hc_head_base. */
  base: GPUBuffer;
  /** f32 [1]: hc_head_scale. */
  scale: GPUBuffer;
  /** Out f32 [T, d]: Σ_j (sigmoid(mix_j·ρ·scale + base_j) + hcEps)·X[j]. */
  y: GPUBuffer;
  hcEps: number;
  normEps: number;
  shape?: KernelShape;
}

function checkSizes(a: MhcSizes, label: string): void {
  checkInt(a.tokens, label, 'tokens', 1);
  checkInt(a.hc, label, 'hc', 1, MHC_MAX_STREAMS);
  checkInt(a.dim, label, 'dim', 1);
}

function checkEps(value: number, label: string, field: string): void {
  checkArg(Number.isFinite(value) && value >= 0, label, field, `is ${value}, not a finite value ≥ 0`);
}

function params(a: MhcSizes, iters: number, hcEps: number, normEps: number): ParamsWriter {
  return new ParamsWriter().u32(a.tokens).u32(a.hc).u32(a.dim).u32(iters).f32(hcEps).f32(normEps).u32(0).u32(0);
}

/** The per-token entry points: a workgroup per token, or an invocation per token. */
function tokenLaunch(entry: 'mhc_pre' | 'mhc_head', shape: KernelShape, tokens: number) {
  const wg = WG[shape];
  return {
    source: SOURCE,
    entryPoint: `${entry}_${shape === 'row' ? 'row' : 'wg'}`,
    variant: shape,
    constants: { WG: wg },
    workgroups: grid1d(shape === 'row' ? Math.ceil(tokens / wg) : tokens),
  };
}

export function mhcPre(ctx: KernelContext, a: MhcPreArgs, label = 'mhc_pre'): Dispatch {
  checkSizes(a, label);
  checkInt(a.sinkhornIters, label, 'sinkhornIters', 1);
  checkEps(a.hcEps, label, 'hcEps');
  checkEps(a.normEps, label, 'normEps');
  const n = (2 + a.hc) * a.hc;
  checkBuffer(a.x, a.tokens * a.hc * a.dim, label, 'x');
  checkBuffer(a.mix, a.tokens * n, label, 'mix');
  checkBuffer(a.base, n, label, 'base');
  checkBuffer(a.scale, 3, label, 'scale');
  checkBuffer(a.u, a.tokens * a.dim, label, 'u');
  checkBuffer(a.post, a.tokens * a.hc, label, 'post');
  checkBuffer(a.comb, a.tokens * a.hc * a.hc, label, 'comb');
  const shape = a.shape ?? ctx.shape;
  return launchKernel(ctx, label, {
    ...tokenLaunch('mhc_pre', shape, a.tokens),
    inputs: [a.x, a.mix, a.base, a.scale],
    outputs: [a.u, a.post, a.comb],
    params: params(a, a.sinkhornIters, a.hcEps, a.normEps),
  });
}

export function mhcHead(ctx: KernelContext, a: MhcHeadArgs, label = 'mhc_head'): Dispatch {
  checkSizes(a, label);
  checkEps(a.hcEps, label, 'hcEps');
  checkEps(a.normEps, label, 'normEps');
  checkBuffer(a.x, a.tokens * a.hc * a.dim, label, 'x');
  checkBuffer(a.mix, a.tokens * a.hc, label, 'mix');
  checkBuffer(a.base, a.hc, label, 'base');
  checkBuffer(a.scale, 1, label, 'scale');
  checkBuffer(a.y, a.tokens * a.dim, label, 'y');
  const shape = a.shape ?? ctx.shape;
  return launchKernel(ctx, label, {
    ...tokenLaunch('mhc_head', shape, a.tokens),
    inputs: [a.x, a.mix, a.base, a.scale],
    outputs: [a.y],
    params: params(a, 0, a.hcEps, a.normEps),
  });
}

export function mhcPost(ctx: KernelContext, a: MhcPostArgs, label = 'mhc_post'): Dispatch {
  checkSizes(a, label);
  checkArg(a.out !== a.x, label, 'out', 'is x: the streams are read while out is written, so it must be another buffer');
  checkBuffer(a.x, a.tokens * a.hc * a.dim, label, 'x');
  checkBuffer(a.f, a.tokens * a.dim, label, 'f');
  checkBuffer(a.post, a.tokens * a.hc, label, 'post');
  checkBuffer(a.comb, a.tokens * a.hc * a.hc, label, 'comb');
  checkBuffer(a.out, a.tokens * a.hc * a.dim, label, 'out');
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'mhc_post',
    variant: 'column',
    constants: { WG: POST_WG },
    inputs: [a.x, a.f, a.post, a.comb],
    outputs: [a.out],
    params: params(a, 0, 0, 0),
    workgroups: grid1d(Math.ceil((a.tokens * a.dim) / POST_WG)),
  });
}
