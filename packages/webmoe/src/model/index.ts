// `webmoe/model`: the model files' side of webmoe — config.json parsing, the tensor list of each
// architecture, weight formats and their CPU (de)quantizers, the manifest of a converted folder — with
// the error type and the seeded RNG they use. Pure TypeScript with no GPU code and no WGSL imports, so
// that the converter, the CLI and tools load it under plain Node as well as in a page.
export { WebmoeError, isWebmoeError, type WebmoeErrorCode, type WebmoeErrorData } from '../errors';
export { createRng, type Rng } from '../util/random';
export * from './config';
export * from './config-v4';
export * from './tensors';
export * from './formats';
export * from './quantize';
export * from './manifest';
export * from './rope';
// A float64 decoder of every weight format written from the definitions, sharing no code with
// formats.ts: the converter's and the library's tests check their output with it.
export { decodeF64, tensorBytesF64 } from './decode-f64';
export { blockElementF64, isGgufBlockFormatF64 } from './decode-gguf-f64';
// GGUF files (llama.cpp's format): the header reader, a writer for tests, and the block formats' quantizers.
export * from './gguf';
export * from './gguf-writer';
export { quantizeBlocks } from './quantize-gguf';
// deepseek2 GGUF files as models: metadata → config.json, tensor names, the tokenizer, where each tensor lies
// (shared by the converter and the browser's direct load), and the manifest of a load by URL.
export * from './gguf-config';
export * from './gguf-names';
export * from './gguf-tokenizer';
export * from './gguf-plan';
export * from './gguf-manifest';
