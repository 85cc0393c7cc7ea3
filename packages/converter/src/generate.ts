// Seeded random checkpoints in the real Hugging Face layout (config.json plus model.safetensors, or shards
// with model.safetensors.index.json), for tests, benchmarks and, until a trained model exists, the demo.
// Weights are scaled so that activations stay O(1) through the layers: linear weights ~ N(0, 1/fan_in),
// embeddings ~ N(0, 1), norms ~ 1 + N(0, 0.1²), a small correction bias. FP8 checkpoints store linear
// weights as DeepSeek releases them: F8_E4M3 with F32 `weight_scale_inv` [ceil(out/128), ceil(in/128)],
// while embeddings, lm_head, norms and the router stay BF16 and the correction bias F32.
import { chmod, lstat, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { WebmoeError, createRng, expectedTensors, parseHfConfig, quantizeRows, type Rng, type TensorSpec } from './engine';
import { encodeBf16, type Dtype } from './dtypes';
import { PRESETS } from './presets';
import { INDEX_FILE, SCALE_INV_SUFFIX, SINGLE_FILE, elementCount, matrixShape } from './safetensors';
import { createSafetensorsWriter, type TensorDecl } from './safetensors-writer';

export interface GenerateOptions {
  /** A preset name (see PRESETS) or a config.json object. */
  config: string | Record<string, unknown>;
  seed?: number;
  /** F8_E4M3 linear weights with block scales, as DeepSeek releases V3. */
  fp8?: boolean;
  /** Keep the config's MTP layers (default true); false sets num_nextn_predict_layers to 0. */
  mtp?: boolean;
  /** Number of safetensors files; more than 1 also writes model.safetensors.index.json. */
  shards?: number;
  /** Replace an existing folder. */
  force?: boolean;
}

const FP8_QUANTIZATION_CONFIG = { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [128, 128] };

/** Whether the release stores this tensor as F8_E4M3 (every linear weight but the output heads). */
function isFp8Weight(spec: TensorSpec): boolean {
  return spec.kind === 'linear' && spec.name !== 'lm_head.weight' && !spec.name.endsWith('.shared_head.head.weight');
}

function randomValues(spec: TensorSpec, rng: Rng): Float32Array {
  const n = elementCount(spec.shape);
  const v = new Float32Array(n);
  const [, fanIn] = matrixShape(spec.shape);
  const [mean, std] = spec.kind === 'norm' ? [1, 0.1] : spec.kind === 'bias' ? [0, 0.01] : spec.kind === 'embedding' ? [0, 1] : [0, 1 / Math.sqrt(fanIn)];
  for (let i = 0; i < n; i++) v[i] = mean + std * rng.normal();
  return v;
}

interface Planned {
  decl: TensorDecl;
  bytes: () => Uint8Array;
}

/** Writes a generated checkpoint into `outDir` (atomically, like the converter); returns its config.json. */
export async function generateCheckpoint(outDir: string, options: GenerateOptions): Promise<Record<string, unknown>> {
  const base = typeof options.config === 'string' ? PRESETS[options.config] : options.config;
  if (!base) throw new WebmoeError('invalid-request', `unknown preset "${options.config}" (presets: ${Object.keys(PRESETS).join(', ')})`);
  const hf: Record<string, unknown> = structuredClone(base);
  if (options.mtp === false) hf.num_nextn_predict_layers = 0;
  if (options.fp8) hf.quantization_config = FP8_QUANTIZATION_CONFIG;
  const config = parseHfConfig(hf, 'generated config.json');
  const rng = createRng(options.seed ?? 0);

  // Values are drawn lazily, in declaration order, so the whole model is never in memory at once. MTP's
  // embed_tokens and shared_head.head repeat the main model's, as in the releases.
  const shared = new Map<string, Float32Array>();
  const planned: Planned[] = [];
  for (const spec of expectedTensors(config, true)) {
    const copyOf = spec.mtp && spec.name.endsWith('.embed_tokens.weight') ? 'model.embed_tokens.weight'
      : spec.mtp && spec.name.endsWith('.shared_head.head.weight') ? 'lm_head.weight' : null;
    const values = () => {
      const v = copyOf ? shared.get(copyOf)! : randomValues(spec, rng);
      if (config.numMtpLayers > 0 && (spec.name === 'model.embed_tokens.weight' || spec.name === 'lm_head.weight')) shared.set(spec.name, v);
      return v;
    };
    if (options.fp8 && isFp8Weight(spec)) {
      const [rows, cols] = matrixShape(spec.shape);
      let parts: { q: Uint8Array; scales: Uint8Array } | null = null;
      const quantized = () => (parts ??= quantizeRows('fp8', values(), rows, cols) as { q: Uint8Array; scales: Uint8Array });
      planned.push({ decl: { name: spec.name, dtype: 'F8_E4M3', shape: spec.shape }, bytes: () => quantized().q });
      planned.push({
        decl: { name: spec.name + SCALE_INV_SUFFIX, dtype: 'F32', shape: [Math.ceil(rows / 128), Math.ceil(cols / 128)] },
        bytes: () => {
          const s = quantized().scales;
          parts = null;
          return s;
        },
      });
      continue;
    }
    const dtype: Dtype = spec.kind === 'bias' ? 'F32' : 'BF16';
    planned.push({ decl: { name: spec.name, dtype, shape: spec.shape }, bytes: () => (dtype === 'F32' ? new Uint8Array(values().slice().buffer) : encodeBf16(values())) });
  }

  const out = resolve(outDir);
  const existing = await lstat(out).then(() => true, () => false);
  if (existing && !options.force) throw new WebmoeError('invalid-request', `${outDir}: already exists (pass --force to replace it)`, { detail: { file: outDir } });
  await mkdir(dirname(out), { recursive: true });
  const tmp = await mkdtemp(join(dirname(out), `.${basename(out)}.tmp-`));
  try {
    await chmod(tmp, 0o755);
    await writeFile(join(tmp, 'config.json'), JSON.stringify(hf, null, 2) + '\n');
    const nFiles = Math.max(1, Math.floor(options.shards ?? 1));
    const groups = splitEvenly(planned, nFiles);
    const weightMap: Record<string, string> = {};
    let total = 0;
    for (let f = 0; f < groups.length; f++) {
      const file = groups.length === 1 ? SINGLE_FILE : `model-${String(f + 1).padStart(5, '0')}-of-${String(groups.length).padStart(5, '0')}.safetensors`;
      const writer = await createSafetensorsWriter(join(tmp, file), groups[f].map((p) => p.decl));
      try {
        for (const p of groups[f]) {
          const bytes = p.bytes();
          await writer.write(p.decl.name, bytes);
          weightMap[p.decl.name] = file;
          total += bytes.byteLength;
        }
      } catch (e) {
        await writer.abort();
        throw e;
      }
      await writer.close();
    }
    if (groups.length > 1) {
      await writeFile(join(tmp, INDEX_FILE), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n');
    }
    if (existing) await rm(out, { recursive: true, force: true });
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    throw e;
  }
  return hf;
}

/** Splits tensors into `n` consecutive groups of roughly equal bytes, an FP8 weight staying with its scales. */
function splitEvenly(planned: Planned[], n: number): Planned[][] {
  const size = (p: Planned) => elementCount(p.decl.shape) * (p.decl.dtype === 'F8_E4M3' ? 1 : p.decl.dtype === 'F32' ? 4 : 2);
  const total = planned.reduce((a, p) => a + size(p), 0);
  const groups: Planned[][] = [[]];
  let acc = 0;
  for (const p of planned) {
    const last = groups[groups.length - 1];
    const isScale = p.decl.name.endsWith(SCALE_INV_SUFFIX);
    if (!isScale && last.length > 0 && groups.length < n && acc >= (total * groups.length) / n) groups.push([]);
    groups[groups.length - 1].push(p);
    acc += size(p);
  }
  return groups;
}
