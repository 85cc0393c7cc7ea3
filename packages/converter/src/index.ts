// @webmoe/converter: Node tools around the webmoe model format (reading Hugging Face checkpoints,
// converting them, generating random ones, reading converted folders).
export { openSafetensors, openCheckpoint, matrixShape, MAX_HEADER_BYTES, SINGLE_FILE, INDEX_FILE, SCALE_INV_SUFFIX,
  type SafetensorsFile, type SafetensorsTensor, type Checkpoint, type CheckpointTensor } from './safetensors';
export { createSafetensorsWriter, safetensorsHeader, type SafetensorsWriter, type TensorDecl } from './safetensors-writer';
export { DTYPE_BYTES, DTYPES, decodeInto, encodeBf16, type Dtype } from './dtypes';
export { checkCheckpointTensors } from './validate';
export { CONVERTER_VERSION, convertCheckpoint, writeModelFolder, formatFor, stringifyManifest, TOKENIZER_FILES, type ConvertOptions, type ConvertProgress } from './convert';
export { verifyModelFolder, openWebmoeModel, type WebmoeModel } from './model-folder';
export { generateCheckpoint, type GenerateOptions } from './generate';
export { generateModelFolder, type GenerateFolderOptions } from './generate-folder';
export { PRESETS, presetAtSmallSize } from './presets';
export { convertGguf, isGgufPath } from './gguf-convert';
export { openGgufCheckpoint, type GgufCheckpoint } from './gguf-checkpoint';
export { exportGguf, type GgufExportOptions } from './gguf-export';
export { ggufTokenizer, tokenizerToGguf } from 'webmoe/model';
