// Seeded random models written straight into a converted webmoe folder, so that full-size shapes
// (DeepSeek-V2-Lite, Moonlight: 16B parameters, 31 GB as BF16) need no Hugging Face checkpoint on disk.
// A generated source that reads like a checkpoint feeds the converter's own writer (convert.ts
// writeModelFolder), so the folder is laid out, quantized and hashed exactly as a conversion's, one run of
// rows at a time: memory stays bounded by a run, whatever the model's size.
// Values follow generate.ts's distributions, drawn fast: a 32-bit xorshift per tensor indexes a table of
// 65536 standard normal quantiles (each draw is a normal clipped near ±4.3σ, plenty for random weights),
// some twenty times faster than Box-Muller, which would take most of an hour at V2-Lite's size.
import { WebmoeError, createRng, expectedTensors, parseHfConfig, type AnyModelConfig, type Manifest, type TensorSpec } from 'webmoe/model';
import { checkOutputFolder, writeModelFolder, type ConvertOptions } from './convert';
import { DTYPE_BYTES } from './dtypes';
import { presetConfig, randomValues, storedAs, valueDistribution } from './generate';
import { elementCount, matrixShape, type Checkpoint, type CheckpointTensor } from './safetensors';

export interface GenerateFolderOptions extends Omit<ConvertOptions, 'mtp'> {
  /** A preset name (see PRESETS) or a config.json object. */
  config: string | Record<string, unknown>;
  seed?: number;
  /** Include the config's MTP layers (manifest `mtp: true`); default false, as for conversions. */
  mtp?: boolean;
}

const TABLE_BITS = 16;
let normalTable: Float32Array | null = null;

/** 2^16 sorted standard normal draws, shifted and scaled to mean 0 and variance 1 exactly. */
function normals(): Float32Array {
  if (normalTable) return normalTable;
  const rng = createRng(0x6e6f726d);
  const v = Float64Array.from({ length: 1 << TABLE_BITS }, () => rng.normal()).sort();
  const mean = v.reduce((a, x) => a + x, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length);
  return (normalTable = Float32Array.from(v, (x) => (x - mean) / std));
}

/** One tensor's generator: rows are drawn in order, from a state seeded by the model's seed and the tensor's index. */
interface Stream {
  state: number;
  nextRow: number;
}

const tensorSeed = (seed: number, index: number) => (seed ^ Math.imul(index + 1, 0x9e3779b9)) >>> 0;

/** A Checkpoint whose tensors are drawn on demand, in the dtypes generate.ts would store them (BF16 release). */
function randomCheckpoint(hf: Record<string, unknown>, config: AnyModelConfig, seed: number, name: string): Checkpoint {
  const specs = new Map<string, { spec: TensorSpec; index: number }>();
  const tensors = new Map<string, CheckpointTensor>();
  expectedTensors(config, true).forEach((spec, index) => {
    const dtype = storedAs(spec, config, false) as 'BF16' | 'F32' | 'I64';
    specs.set(spec.name, { spec, index });
    tensors.set(spec.name, { name: spec.name, dtype, shape: spec.shape, begin: 0, end: elementCount(spec.shape) * DTYPE_BYTES[dtype], file: name });
  });
  const streams = new Map<string, Stream>();
  const table = normals();
  const entry = (tensor: string) => {
    const e = specs.get(tensor);
    if (!e) throw new WebmoeError('internal', `generated model ${name}: no tensor "${tensor}"`);
    return e;
  };
  const readF32 = async (tensor: string, rows?: { start: number; count: number }): Promise<Float32Array> => {
    const { spec, index } = entry(tensor);
    const [nRows, cols] = matrixShape(spec.shape);
    const { start, count } = rows ?? { start: 0, count: nRows };
    let s = streams.get(tensor);
    if (!s) streams.set(tensor, (s = { state: (createRng(tensorSeed(seed, index)).int(2 ** 32) | 1) >>> 0, nextRow: 0 }));
    if (start !== s.nextRow) throw new WebmoeError('internal', `generated model ${name}: tensor "${tensor}" read at row ${start}, expected row ${s.nextRow} (rows are drawn in order)`);
    const [mean, std] = valueDistribution(spec);
    const out = new Float32Array(count * cols);
    let x = s.state;
    for (let i = 0; i < out.length; i += 2) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = mean + std * table[x & 0xffff];
      if (i + 1 < out.length) out[i + 1] = mean + std * table[(x >>> 16) & 0xffff];
    }
    s.state = x;
    s.nextRow = start + count;
    if (s.nextRow >= nRows) streams.delete(tensor);
    return out;
  };
  // Tables (V4's token → expert ids) are small and drawn whole, as generate.ts draws them.
  const tableBytes = (tensor: string): Uint8Array => {
    const { spec, index } = entry(tensor);
    const v = randomValues(spec, createRng(tensorSeed(seed, index)), config);
    return new Uint8Array(BigInt64Array.from(v, (x) => BigInt(x)).buffer);
  };
  const unsupported = (what: string) => async (): Promise<never> => {
    throw new WebmoeError('internal', `generated model ${name}: ${what} is not available`);
  };
  return {
    dir: name,
    hfConfig: hf,
    config,
    files: [],
    tensors,
    read: async (tensor) => (tensors.get(tensor)?.dtype === 'I64' ? tableBytes(tensor) : unsupported('raw bytes')()),
    readRows: async (tensor, start, count) => {
      if (tensors.get(tensor)?.dtype !== 'I64') return unsupported('raw rows')();
      const cols = matrixShape(entry(tensor).spec.shape)[1];
      return tableBytes(tensor).slice(start * cols * 8, (start + count) * cols * 8);
    },
    readF32,
    readF64: unsupported('readF64'),
    scaleOf: () => null,
    shapeOf: (tensor) => entry(tensor).spec.shape,
    close: async () => streams.clear(),
  };
}

/** Writes a seeded random model of a preset's (or a config's) shapes as a converted folder; returns its manifest. */
export async function generateModelFolder(outDir: string, options: GenerateFolderOptions): Promise<Manifest> {
  const hf = presetConfig(options.config);
  const config = parseHfConfig(hf, 'generated config.json');
  const name = typeof options.config === 'string' ? options.config : 'generated';
  await checkOutputFolder(outDir, options.force);
  const mtp = options.mtp === true && config.numMtpLayers > 0;
  const expected = expectedTensors(config, true).filter((s) => mtp || !s.mtp);
  const seed = options.seed ?? 0;
  const ckpt = randomCheckpoint(hf, config, seed, name);
  options.onStep?.(`generating ${name} (seed ${seed}): ${expected.length} tensors, ${config.numLayers} layers`);
  try {
    return await writeModelFolder(ckpt, outDir, { ...options, mtp }, { expected, mtp, tokenizerDir: null, source: { name: `${name} (random, seed ${seed})`, dtype: 'BF16', files: [] } });
  } finally {
    await ckpt.close();
  }
}
