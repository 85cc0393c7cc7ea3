// The few engine modules the reference uses: the config and tensor list (so that it reads config.json
// exactly as the engine does), the error type and the seeded RNG. None of them computes. Imported from their
// files rather than from 'webmoe' because the package index also pulls in the WGSL kernels (`?raw` imports),
// which only Vite can load, and runReference must work under plain Node (tsx) too.
export { WebmoeError, isWebmoeError } from '../../webmoe/src/errors';
export { parseHfConfig, type ModelConfig } from '../../webmoe/src/model/config';
export { expectedTensors } from '../../webmoe/src/model/tensors';
export { MANIFEST_FILE } from '../../webmoe/src/model/manifest';
export { createRng } from '../../webmoe/src/util/random';
