// Seeded random checkpoints in the real Hugging Face layout (config.json plus model.safetensors, or shards
// with model.safetensors.index.json), for tests, benchmarks and, until a trained model exists, the demo.
// Weights are scaled so that activations stay O(1) through the layers: linear weights ~ N(0, 1/fan_in),
// embeddings ~ N(0, 1), norms ~ 1 + N(0, 0.1²), small biases and V4's 1-D mixing parameters and sinks
// ~ N(0, 0.1²), V4's token → expert tables k distinct random experts per token. FP8 checkpoints store
// linear weights as DeepSeek releases them: V3 F8_E4M3 with F32 `weight_scale_inv` [ceil(out/128),
// ceil(in/128)]; V4 F8_E4M3 with power-of-two F8_E8M0 `.scale` blocks, and routed experts FP4 (E2M1 packed
// two per byte as I8) with F8_E8M0 scales per 32 columns. Embeddings, output heads, norms, routers and
// V4's compressor/indexer projections stay BF16; biases, mHC parameters, sinks and `ape` F32; tables I64.
import { chmod, lstat, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  WebmoeError, createRng, expectedTensors, isOutputHead, parseHfConfig, quantizeFp8Ue8m0, quantizeRows,
  type AnyModelConfig, type Rng, type TensorSpec,
} from 'webmoe/model';
import { DTYPE_BYTES, encodeBf16, type Dtype } from './dtypes';
import { PRESETS } from './presets';
import { INDEX_FILE, SINGLE_FILE, elementCount, matrixShape, scaleNameOf } from './safetensors';
import { createSafetensorsWriter, type TensorDecl } from './safetensors-writer';

export interface GenerateOptions {
  /** A preset name (see PRESETS) or a config.json object. */
  config: string | Record<string, unknown>;
  seed?: number;
  /** Quantized linear weights as DeepSeek releases them: V3 FP8; V4 FP8, with FP4 routed experts. */
  fp8?: boolean;
  /** Keep the config's MTP layers (default true); false sets num_nextn_predict_layers to 0. */
  mtp?: boolean;
  /** Number of safetensors files; more than 1 also writes model.safetensors.index.json. */
  shards?: number;
  /** Replace an existing folder. */
  force?: boolean;
}

const FP8_QUANTIZATION_CONFIG = { activation_scheme: 'dynamic', fmt: 'e4m3', quant_method: 'fp8', weight_block_size: [128, 128] };
const V4_FP8_QUANTIZATION_CONFIG = { ...FP8_QUANTIZATION_CONFIG, scale_fmt: 'ue8m0' };

/** V4's small tensors that the release keeps in F32 (mHC parameters, attention sinks, compressor position biases). */
const V4_F32 = /(^|\.)(hc_(attn|ffn|head)_(fn|base|scale)|attn\.attn_sink|ape)$/;

/** How the release stores a tensor: a safetensors dtype, or FP4 (I8 nibbles with F8_E8M0 scales). */
type Stored = Dtype | 'FP4';

export function storedAs(spec: TensorSpec, config: AnyModelConfig, fp8: boolean): Stored {
  if (spec.kind === 'table') return 'I64';
  if (spec.kind === 'bias' || (spec.kind === 'precise' && V4_F32.test(spec.name))) return 'F32';
  if (!fp8 || spec.kind !== 'linear' || isOutputHead(spec)) return 'BF16';
  return config.family === 'v4' && spec.expert !== null ? 'FP4' : 'F8_E4M3';
}

/** The mean and standard deviation of a tensor's values (all but tables), as the header above says. */
export function valueDistribution(spec: TensorSpec): [number, number] {
  const small = spec.kind === 'bias' ? 0.01 : 0.1;
  return spec.kind === 'norm' ? [1, 0.1] : spec.kind === 'embedding' ? [0, 1]
    : spec.kind === 'bias' || (spec.kind === 'precise' && spec.shape.length === 1) ? [0, small] : [0, 1 / Math.sqrt(matrixShape(spec.shape)[1])];
}

export function randomValues(spec: TensorSpec, rng: Rng, config: AnyModelConfig): Float32Array {
  const n = elementCount(spec.shape);
  const v = new Float32Array(n);
  const [rows, fanIn] = matrixShape(spec.shape);
  if (spec.kind === 'table') {
    // k distinct experts per token: a partial Fisher-Yates shuffle of 0 … E−1 for each row.
    const ids = Array.from({ length: config.moe!.nRoutedExperts }, (_, i) => i);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < fanIn; j++) {
        const k = j + rng.int(ids.length - j);
        [ids[j], ids[k]] = [ids[k], ids[j]];
        v[r * fanIn + j] = ids[j];
      }
    }
    return v;
  }
  const [mean, std] = valueDistribution(spec);
  for (let i = 0; i < n; i++) v[i] = mean + std * rng.normal();
  return v;
}

interface Planned {
  decl: TensorDecl;
  bytes: () => Uint8Array;
  /** A scale tensor, which stays in the same file as its weight. */
  follows: boolean;
}

/** The bytes of a release's quantized weight and of its scales, made once from the same values. */
function quantizedPair(stored: 'F8_E4M3' | 'FP4', config: AnyModelConfig, spec: TensorSpec, values: () => Float32Array): [() => Uint8Array, () => Uint8Array] {
  const [rows, cols] = matrixShape(spec.shape);
  let parts: { q: Uint8Array; scales: Uint8Array } | null = null;
  const make = (): { q: Uint8Array; scales: Uint8Array } => {
    const v = values();
    if (stored === 'F8_E4M3') return config.family === 'v4' ? quantizeFp8Ue8m0(v, rows, cols) : quantizeRows('fp8', v, rows, cols) as { q: Uint8Array; scales: Uint8Array };
    // fp4 rows hold whole groups of 32; the release's rows hold cols/2 bytes.
    const { q, scales } = quantizeRows('fp4', v, rows, cols);
    const padded = Math.ceil(cols / 32) * 16;
    const packed = new Uint8Array(rows * (cols / 2));
    for (let r = 0; r < rows; r++) packed.set(q.subarray(r * padded, r * padded + cols / 2), (r * cols) / 2);
    return { q: packed, scales: scales! };
  };
  const quantized = () => (parts ??= make());
  return [() => quantized().q, () => {
    const s = quantized().scales;
    parts = null;
    return s;
  }];
}

/** A copy of a preset's config.json (by name), or of the given object. */
export function presetConfig(config: string | Record<string, unknown>): Record<string, unknown> {
  const base = typeof config === 'string' ? (Object.hasOwn(PRESETS, config) ? PRESETS[config] : undefined) : config;
  if (!base) throw new WebmoeError('invalid-request', `unknown preset "${config}" (presets: ${Object.keys(PRESETS).join(', ')})`);
  return structuredClone(base);
}

/** Writes a generated checkpoint into `outDir` (atomically, like the converter); returns its config.json. */
export async function generateCheckpoint(outDir: string, options: GenerateOptions): Promise<Record<string, unknown>> {
  const hf = presetConfig(options.config);
  const v4 = parseHfConfig(hf, 'generated config.json').family === 'v4';
  if (options.mtp === false) {
    if (v4 && Array.isArray(hf.compress_ratios)) hf.compress_ratios = hf.compress_ratios.slice(0, hf.num_hidden_layers as number);
    hf.num_nextn_predict_layers = 0;
  }
  if (options.fp8 && v4) Object.assign(hf, { expert_dtype: 'fp4', quantization_config: V4_FP8_QUANTIZATION_CONFIG });
  else if (options.fp8) hf.quantization_config = FP8_QUANTIZATION_CONFIG;
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
      const v = copyOf ? shared.get(copyOf)! : randomValues(spec, rng, config);
      if (config.numMtpLayers > 0 && (spec.name === 'model.embed_tokens.weight' || spec.name === 'lm_head.weight')) shared.set(spec.name, v);
      return v;
    };
    const stored = storedAs(spec, config, options.fp8 === true);
    if (stored === 'F8_E4M3' || stored === 'FP4') {
      const [rows, cols] = matrixShape(spec.shape);
      const [q, scales] = quantizedPair(stored, config, spec, values);
      const fp4 = stored === 'FP4';
      planned.push({ decl: { name: spec.name, dtype: fp4 ? 'I8' : 'F8_E4M3', shape: fp4 ? [rows, cols / 2] : spec.shape }, bytes: q, follows: false });
      const scaleShape = fp4 ? [rows, Math.ceil(cols / 32)] : [Math.ceil(rows / 128), Math.ceil(cols / 128)];
      planned.push({ decl: { name: scaleNameOf(config, spec.name), dtype: fp4 || config.family === 'v4' ? 'F8_E8M0' : 'F32', shape: scaleShape }, bytes: scales, follows: true });
      continue;
    }
    const encode: Record<string, (v: Float32Array) => Uint8Array> = {
      F32: (v) => new Uint8Array(v.slice().buffer),
      I64: (v) => new Uint8Array(BigInt64Array.from(v, (x) => BigInt(x)).buffer),
      BF16: encodeBf16,
    };
    planned.push({ decl: { name: spec.name, dtype: stored, shape: spec.shape }, bytes: () => encode[stored](values()), follows: false });
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

/** Splits tensors into `n` consecutive groups of roughly equal bytes, a quantized weight staying with its scales. */
function splitEvenly(planned: Planned[], n: number): Planned[][] {
  const size = (p: Planned) => elementCount(p.decl.shape) * DTYPE_BYTES[p.decl.dtype];
  const total = planned.reduce((a, p) => a + size(p), 0);
  const groups: Planned[][] = [[]];
  let acc = 0;
  for (const p of planned) {
    const last = groups[groups.length - 1];
    if (!p.follows && last.length > 0 && groups.length < n && acc >= (total * groups.length) / n) groups.push([]);
    groups[groups.length - 1].push(p);
    acc += size(p);
  }
  return groups;
}
