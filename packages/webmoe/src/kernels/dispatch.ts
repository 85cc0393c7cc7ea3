// The last step of every launcher: the pipeline from the cache, the params block, the bind group in the
// binding convention (inputs, outputs, params), as one pre-bound Dispatch.
import { kernelUniform, type KernelContext } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { bindKernel, type Dispatch, type OverrideConstants } from '../gpu/pipelines';
import type { ShaderSource } from '../gpu/wgsl-compose';

export interface KernelLaunch {
  source: ShaderSource;
  entryPoint: string;
  /** The shape or variant, for the pipeline's key and label. */
  variant: string;
  constants: OverrideConstants;
  inputs: readonly GPUBuffer[];
  outputs: readonly GPUBuffer[];
  /** The params block, or a uniform already made for it (launches that share one). */
  params: ParamsWriter | GPUBuffer;
  workgroups: readonly [number, number, number];
}

export function launchKernel(ctx: KernelContext, label: string, l: KernelLaunch): Dispatch {
  const pipeline = ctx.pipelines.get({ source: l.source, entryPoint: l.entryPoint, variant: l.variant, constants: l.constants });
  const uniform = l.params instanceof ParamsWriter ? kernelUniform(ctx, `${label}:params`, l.params) : l.params;
  return { label, pipeline, bindGroup: bindKernel(ctx.device, label, pipeline, l.inputs, l.outputs, uniform), workgroups: l.workgroups };
}
