// What every kernel launcher needs: the device, the pipeline cache, and which shape of kernel suits
// this adapter. Launchers read `shape` rather than checking the adapter themselves.
import type { GpuContext, GpuFeatures } from './device';
import { PipelineCache } from './pipelines';

/**
 * 'workgroup': reductions spread over a workgroup (what real GPUs want).
 * 'row': one invocation per output row (what software adapters running WGSL on the CPU want).
 */
export type KernelShape = 'workgroup' | 'row';

export interface KernelContext {
  readonly device: GPUDevice;
  readonly pipelines: PipelineCache;
  readonly features: GpuFeatures;
  /** Default shape; a launcher may be told a specific one (tests run both). */
  readonly shape: KernelShape;
}

export function createKernelContext(gpu: GpuContext, shape?: KernelShape): KernelContext {
  return {
    device: gpu.device,
    pipelines: new PipelineCache(gpu.device),
    features: gpu.features,
    shape: shape ?? (gpu.summary.isSoftware ? 'row' : 'workgroup'),
  };
}
