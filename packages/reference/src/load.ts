// Loading a model folder into the reference model, and the one-call entry points for other packages.
// Everything is held in float64 (8 bytes a weight), so this is for the tiny test models, not for V3 itself.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { referenceArgs, type ReferenceOptions } from './args';
import { CheckpointSource } from './checkpoint';
import type { GreedyResult } from './decoding';
import { WebmoeError } from 'webmoe/model';
import { modelFamily, type ModelFamily } from './family';
import { ReferenceModel } from './model';
import { v4Args } from './v4/args';
import { V4ReferenceModel } from './v4/model';
import { MANIFEST_FILE, WebmoeFolderSource } from './webmoe-folder';
import type { WeightSource } from './weights';

export interface LoadedWeights {
  /** config.json as read (for a webmoe folder: the source checkpoint's, from the manifest). */
  config: Record<string, unknown>;
  family: ModelFamily;
  /** Reads tensors on demand, dequantized to float64. */
  source: WeightSource;
  /** Which kind of folder the weights come from. */
  folder: 'huggingface' | 'webmoe';
}

/** A reference model of either family: forward, greedy, mtpForward, reset and position work the same way. */
export type AnyReferenceModel = ReferenceModel | V4ReferenceModel;

/**
 * A checkpoint folder (Hugging Face layout for V2/V3, DeepSeek's release layout for V4): config.json plus
 * model.safetensors or a sharded index; BF16/F16/F32, FP8 with block scales and V4's packed FP4 experts, all
 * dequantized exactly (checkpoint.ts).
 */
export async function loadCheckpointWeights(dir: string): Promise<LoadedWeights> {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) throw new WebmoeError('model-format', `${dir} has no config.json`, { detail: { dir } });
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  return { config, family: modelFamily(config), source: new CheckpointSource(dir, config), folder: 'huggingface' };
}

/**
 * A converted webmoe folder (manifest.json + shards), dequantized from its webmoe formats (f32/f16/bf16/q8/
 * q4/fp8) by their definition: the reference then runs exactly the quantized model the GPU runs, in float64.
 */
export async function loadWebmoeWeights(dir: string): Promise<LoadedWeights> {
  const source = new WebmoeFolderSource(dir);
  return { config: source.config, family: modelFamily(source.config, `${MANIFEST_FILE} model.hf`), source, folder: 'webmoe' };
}

/** A converted webmoe folder (it has manifest.json) or else a Hugging Face checkpoint folder. */
export function loadWeights(dir: string): Promise<LoadedWeights> {
  return existsSync(join(dir, MANIFEST_FILE)) ? loadWebmoeWeights(dir) : loadCheckpointWeights(dir);
}

/** The reference model for a config.json and its weights, of the family its model_type / architectures name. */
export function createReferenceModel(config: unknown, source: WeightSource, options: ReferenceOptions = {}): AnyReferenceModel {
  return modelFamily(config) === 'deepseek_v4'
    ? new V4ReferenceModel(v4Args(config), source, options)
    : new ReferenceModel(referenceArgs(config, options), source, options);
}

/** A reference model over a model folder of either kind. */
export async function loadReferenceModel(dir: string, options: ReferenceOptions = {}): Promise<AnyReferenceModel> {
  const { config, source } = await loadWeights(dir);
  return createReferenceModel(config, source, options);
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
