// webmoe's public API.
export { WebmoeError, isWebmoeError, type WebmoeErrorCode, type WebmoeErrorData } from './errors';
export { acquireGpu, withErrorScope, ENGINE_MIN_LIMITS, type GpuContext, type GpuRequest, type GpuFeatures, type AdapterSummary } from './gpu/device';
export { createKernelContext, type KernelContext, type KernelShape } from './gpu/kernel-context';
export { PipelineCache, pipelineKeyString, bindKernel, recordDispatches, submitDispatches, grid1d, type Dispatch, type PipelineKey } from './gpu/pipelines';
export { createStorage, uploadStorage, readBuffer, readF32, createUniform, ParamsWriter, alignedSize } from './gpu/buffers';
export { rmsnorm, addRmsnorm, type RmsNormArgs, type AddRmsNormArgs } from './kernels/rmsnorm';
export { createRng, type Rng } from './util/random';
export { parseHfConfig, type ModelConfig, type ModelType, type MoeConfig, type RopeConfig, type YarnConfig, type LayerSpec } from './model/config';
export { expectedTensors, type TensorSpec, type TensorKind } from './model/tensors';
export { tensorLayout, dequantize, WEIGHT_FORMATS, BITS_PER_WEIGHT, GROUP, FP8_BLOCK, bf16ToF32, f16ToF32, f32ToF16, e4m3ToF32, type WeightFormat, type TensorLayout, type Section } from './model/formats';
