// webmoe's public API.
export { WebmoeError, isWebmoeError, type WebmoeErrorCode, type WebmoeErrorData } from './errors';
export { acquireGpu, withErrorScope, ENGINE_MIN_LIMITS, type GpuContext, type GpuRequest, type GpuFeatures, type AdapterSummary } from './gpu/device';
export { createKernelContext, type KernelContext, type KernelShape } from './gpu/kernel-context';
export { PipelineCache, pipelineKeyString, bindKernel, recordDispatches, submitDispatches, grid1d, type Dispatch, type PipelineKey } from './gpu/pipelines';
export { createStorage, uploadStorage, readBuffer, readF32, createUniform, ParamsWriter, alignedSize } from './gpu/buffers';
export { rmsnorm, addRmsnorm, type RmsNormArgs, type AddRmsNormArgs } from './kernels/rmsnorm';
export { createRng, type Rng } from './util/random';
