// The engine modules the converter uses. They are imported from their files rather than from 'webmoe'
// because the package index also pulls in the WGSL kernels (`?raw` imports), which only Vite can load,
// and the converter runs under plain Node (tsx) too. Everything here is browser-safe, pure TypeScript.
export { WebmoeError, isWebmoeError } from '../../webmoe/src/errors';
export { parseHfConfig, type ModelConfig } from '../../webmoe/src/model/config';
export { expectedTensors, type TensorSpec, type TensorKind } from '../../webmoe/src/model/tensors';
export {
  tensorLayout, dequantize, WEIGHT_FORMATS, BITS_PER_WEIGHT, GROUP, FP8_BLOCK, f16ToF32, f32ToF16, e4m3ToF32, bf16ToF32,
  type WeightFormat, type TensorLayout,
} from '../../webmoe/src/model/formats';
export * from '../../webmoe/src/model/quantize';
export * from '../../webmoe/src/model/manifest';
export { createRng, type Rng } from '../../webmoe/src/util/random';
