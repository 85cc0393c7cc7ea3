// Loading a model folder into the reference model, and the one-call entry point for other packages.
// Everything is held in float64 (8 bytes a weight), so this is for the tiny test models, not for V3 itself.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint, openWebmoeModel } from '@webmoe/converter';
import type { ReferenceOptions } from './args';
import { MANIFEST_FILE, expectedTensors, type ModelConfig } from './engine';
import { ReferenceModel, type GreedyResult } from './model';
import { MapWeightSource, type Tensor64 } from './weights';

export interface LoadedWeights {
  config: ModelConfig;
  source: MapWeightSource;
  /** Which kind of folder the weights came from. */
  folder: 'huggingface' | 'webmoe';
}

/** The tensors the model will ask for: the main model, plus the MTP module only with options.mtp. */
function wanted(config: ModelConfig, options: ReferenceOptions) {
  return expectedTensors(config, options.mtp ?? false);
}

/**
 * Reads the tensors the reference needs from a Hugging Face checkpoint folder (config.json plus
 * model.safetensors or a sharded index), dequantized exactly to float64 (FP8 times its block scales).
 */
export async function loadCheckpointWeights(dir: string, options: ReferenceOptions = {}): Promise<LoadedWeights> {
  const ckpt = await openCheckpoint(dir);
  try {
    const tensors = new Map<string, Tensor64>();
    for (const spec of wanted(ckpt.config, options)) {
      const stored = ckpt.tensors.get(spec.name);
      if (!stored) continue; // the model names what is missing when it asks for it
      tensors.set(spec.name, { shape: stored.shape, data: await ckpt.readF64(spec.name) });
    }
    return { config: ckpt.config, source: new MapWeightSource(tensors), folder: 'huggingface' };
  } finally {
    await ckpt.close();
  }
}

/**
 * Reads the tensors from a converted webmoe folder (manifest.json + shards), dequantized from their webmoe
 * format (f32/f16/q8/q4/fp8) by the format's definition: the reference then runs exactly the quantized model
 * the GPU runs, in float64.
 */
export async function loadWebmoeWeights(dir: string, options: ReferenceOptions = {}): Promise<LoadedWeights> {
  const model = await openWebmoeModel(dir);
  try {
    const tensors = new Map<string, Tensor64>();
    for (const spec of wanted(model.config, options)) {
      const stored = model.tensors.get(spec.name);
      if (!stored) continue;
      tensors.set(spec.name, { shape: stored.shape, data: Float64Array.from(await model.readF32(spec.name)) });
    }
    return { config: model.config, source: new MapWeightSource(tensors), folder: 'webmoe' };
  } finally {
    await model.close();
  }
}

/** A converted webmoe folder (it has manifest.json) or else a Hugging Face checkpoint folder. */
export function loadWeights(dir: string, options: ReferenceOptions = {}): Promise<LoadedWeights> {
  return existsSync(join(dir, MANIFEST_FILE)) ? loadWebmoeWeights(dir, options) : loadCheckpointWeights(dir, options);
}

/** A ReferenceModel over a model folder of either kind. */
export async function loadReferenceModel(dir: string, options: ReferenceOptions = {}): Promise<ReferenceModel> {
  const { config, source } = await loadWeights(dir, options);
  return new ReferenceModel(config, source, options);
}

/**
 * Greedy decoding with the float64 reference: `nTokens` generated ids and, for each, the logits row it was
 * picked from (logits[0] after the prompt; logits[i] after feeding tokens[i - 1]), the layout of golden.json.
 * `dir` is a Hugging Face checkpoint folder or a converted webmoe folder.
 */
export async function runReference(dir: string, promptIds: number[], nTokens: number, options: ReferenceOptions = {}): Promise<GreedyResult> {
  const model = await loadReferenceModel(dir, options);
  return model.greedy(promptIds, nTokens);
}
