// Hugging Face checkpoint folder → webmoe model folder (format in webmoe's model/manifest.ts). Tensors are
// streamed in runs of rows: read, quantize, hash and write, so memory stays bounded by one run plus the
// scales of one tensor. The output appears atomically: everything is written into a temporary sibling
// folder that is renamed into place only after the manifest has been written and re-validated.
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import {
  DEFAULT_SHARD_BYTES, MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, TENSOR_ALIGNMENT, WebmoeError,
  parseManifest, quantizeRows, tensorLayout, type ByteRange, type Manifest, type ManifestExpert, type ManifestFile,
  type ManifestTensor, type QuantizedRows, type TensorSpec, type WeightFormat,
} from './engine';
import { DTYPE_BYTES, decodeInto, type Dtype } from './dtypes';
import { checkpointName, elementCount, formatError, openCheckpoint, type Checkpoint } from './safetensors';
import { ShardWriter } from './shard-writer';
import { checkCheckpointTensors } from './validate';

export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/**
 * Which converter wrote a folder, recorded as manifest.json `converterVersion`, so that caches of converted
 * models (`webmoe bench`, the e2e models) can tell a conversion made by an older converter. Bump it with
 * every change that makes the same checkpoint and options convert to different bytes or a different
 * manifest: a tensor's format, a quantizer's rounding, the placement of tensors in shards. 1: the first
 * recorded (BF16 router weights kept as bf16); manifests from before it have no field.
 */
export const CONVERTER_VERSION = 1;

export interface ConvertProgress {
  /** Source bytes read so far (weights and their scales) and in all. */
  bytesDone: number;
  bytesTotal: number;
  tensorsDone: number;
  tensorsTotal: number;
}

export interface ConvertOptions {
  /** Format of linear and embedding weights; norms and biases stay f32, router weights f32 or bf16 (formatFor). Default q4. */
  quant?: WeightFormat;
  /** Replace an existing output folder. */
  force?: boolean;
  /** Largest shard, in bytes (a multiple of 256). Default 64 MiB. */
  shardBytes?: number;
  onProgress?: (p: ConvertProgress) => void;
  /** One line per step (opening, validating, each shard written, done). */
  onStep?: (message: string) => void;
}

/**
 * The format a tensor is stored in under `quant`, given its dtype in the checkpoint. The router weight is
 * small but read whole every decode step: a BF16 one is kept as bf16 (lossless, half of f32's bytes),
 * under every `quant`; any other dtype becomes f32, as do norms and biases.
 */
export function formatFor(spec: Pick<TensorSpec, 'kind'>, quant: WeightFormat, sourceDtype?: Dtype): WeightFormat {
  if (spec.kind === 'linear' || spec.kind === 'embedding') return quant;
  return spec.kind === 'router' && sourceDtype === 'BF16' ? 'bf16' : 'f32';
}

/** Temporary folders of conversions in progress, so that a signal handler can remove them. */
const inProgress = new Set<string>();

/** Removes the temporary folders of unfinished conversions (for SIGINT/SIGTERM handlers). */
export function removeTemporaryOutputs(): void {
  for (const dir of inProgress) rmSync(dir, { recursive: true, force: true });
  inProgress.clear();
}

/** About 4 M values per run of rows; fp8 runs are whole 128-row blocks. */
function rowsPerRun(format: WeightFormat, cols: number): number {
  const rows = Math.max(1, Math.floor((4 << 20) / cols));
  return format === 'fp8' ? Math.max(128, rows - (rows % 128)) : rows;
}

const align = (n: number) => Math.ceil(n / TENSOR_ALIGNMENT) * TENSOR_ALIGNMENT;

/** The ordered work: main model non-expert tensors, main experts, MTP non-expert tensors, MTP experts. */
type Item = { spec: TensorSpec } | { layer: number; expert: number; mtp: boolean; specs: TensorSpec[] };

function plan(expected: TensorSpec[]): Item[] {
  const items: Item[] = [];
  for (const mtp of [false, true]) {
    const part = expected.filter((s) => s.mtp === mtp);
    for (const spec of part) if (spec.expert === null) items.push({ spec });
    const experts = new Map<string, TensorSpec[]>();
    for (const s of part) {
      if (s.expert === null) continue;
      const key = `${s.layer}/${s.expert}`;
      if (!experts.has(key)) experts.set(key, []);
      experts.get(key)!.push(s);
    }
    for (const specs of experts.values()) {
      const order = ['gate_proj', 'up_proj', 'down_proj'].map((p) => specs.find((s) => s.name.endsWith(`.${p}.weight`)));
      if (order.some((s) => !s) || specs.length !== 3) throw new WebmoeError('internal', `expert ${specs[0].name}: expected gate, up and down projections`);
      items.push({ layer: specs[0].layer!, expert: specs[0].expert!, mtp, specs: order as TensorSpec[] });
    }
  }
  return items;
}

function sourceBytes(ckpt: Checkpoint, name: string): number {
  const t = ckpt.tensors.get(name)!;
  const s = ckpt.scaleInvOf(name);
  return t.end - t.begin + (s ? s.end - s.begin : 0);
}

class Conversion {
  readonly tensors: ManifestTensor[] = [];
  readonly experts: ManifestExpert[] = [];
  readonly progress: ConvertProgress;

  constructor(private readonly ckpt: Checkpoint, private readonly quant: WeightFormat, private readonly writer: ShardWriter,
    expected: TensorSpec[], private readonly onProgress?: (p: ConvertProgress) => void) {
    this.progress = { bytesDone: 0, bytesTotal: expected.reduce((a, s) => a + sourceBytes(ckpt, s.name), 0), tensorsDone: 0, tensorsTotal: expected.length };
  }

  /** Where the byte `rel` of a placed range lies (ranges spanning shards fill each one completely). */
  private locate(range: ByteRange, rel: number): { shard: number; offset: number } {
    const pos = range.offset + rel;
    return { shard: range.shard + Math.floor(pos / this.writer.shardBytes), offset: pos % this.writer.shardBytes };
  }

  private formatOf(spec: TensorSpec): WeightFormat {
    return formatFor(spec, this.quant, this.ckpt.tensors.get(spec.name)!.dtype);
  }

  async run(items: Item[]): Promise<void> {
    for (const item of items) {
      if ('spec' in item) {
        const format = this.formatOf(item.spec);
        const range = await this.writer.place(tensorLayout(format, item.spec.shape).bytes);
        await this.tensor(item.spec, format, range, 0);
        continue;
      }
      const layouts = item.specs.map((s) => tensorLayout(this.formatOf(s), s.shape));
      const rel: number[] = [];
      let end = 0;
      for (const l of layouts) {
        rel.push(align(end));
        end = align(end) + l.bytes;
      }
      const range = await this.writer.place(end);
      this.experts.push({ layer: item.layer, expert: item.expert, mtp: item.mtp, ...range });
      for (let i = 0; i < 3; i++) {
        await this.writer.zeros(rel[i] - (i === 0 ? 0 : rel[i - 1] + layouts[i - 1].bytes));
        await this.tensor(item.specs[i], layouts[i].format, range, rel[i]);
      }
    }
  }

  private async tensor(spec: TensorSpec, format: WeightFormat, range: ByteRange, rel: number): Promise<void> {
    const { ckpt, writer } = this;
    const src = ckpt.tensors.get(spec.name)!;
    const file = join(ckpt.dir, src.file);
    const layout = tensorLayout(format, spec.shape);
    this.tensors.push({ name: spec.name, kind: spec.kind, shape: spec.shape, format, layer: spec.layer, expert: spec.expert, mtp: spec.mtp, ...this.locate(range, rel), bytes: layout.bytes });
    const scaleInv = ckpt.scaleInvOf(spec.name);
    // FP8 weights converted to fp8 keep the release's own bytes and scales, bit for bit.
    const passthrough = format === 'fp8' && scaleInv !== null;
    const scales: Uint8Array[] = [];
    const mins: Uint8Array[] = [];
    const step = rowsPerRun(format, layout.cols);
    const rowBytes = layout.cols * DTYPE_BYTES[src.dtype];
    let written = 0;
    // The next run of rows is read while this one is quantized.
    const read = (start: number) => {
      if (start >= layout.rows) return null;
      const count = Math.min(step, layout.rows - start);
      const p = passthrough ? ckpt.readRows(spec.name, start, count) : ckpt.readF32(spec.name, { start, count });
      p.catch(() => {}); // awaited below; this only keeps an abandoned read from being an unhandled rejection
      return p;
    };
    let next = read(0);
    for (let start = 0; start < layout.rows; start += step) {
      const count = Math.min(step, layout.rows - start);
      const run = await next!;
      next = read(start + step);
      let parts: QuantizedRows;
      if (passthrough) {
        parts = { q: run as Uint8Array, scales: null, mins: null };
      } else {
        const values = run as Float32Array;
        try {
          parts = quantizeRows(format, values, count, layout.cols);
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          throw formatError(file, `tensor "${spec.name}" (rows from ${start}): ${e.message}`, { tensor: spec.name });
        }
      }
      await writer.write(parts.q);
      written += parts.q.byteLength;
      if (parts.scales) scales.push(parts.scales);
      if (parts.mins) mins.push(parts.mins);
      this.progress.bytesDone += count * rowBytes;
      this.onProgress?.(this.progress);
    }
    if (passthrough) {
      const raw = await ckpt.read(scaleInv.name);
      if (scaleInv.dtype === 'F32') scales.push(raw);
      else {
        const f = new Float32Array(elementCount(scaleInv.shape));
        decodeInto(scaleInv.dtype, raw, f);
        scales.push(new Uint8Array(f.buffer));
      }
      this.progress.bytesDone += raw.byteLength;
    }
    for (const [section, chunks] of [[layout.scales, scales], [layout.mins, mins]] as const) {
      if (!section) continue;
      await writer.zeros(section.offset - written);
      for (const c of chunks) await writer.write(c);
      written = section.offset + chunks.reduce((a, c) => a + c.byteLength, 0);
      if (written !== section.offset + section.bytes) throw new WebmoeError('internal', `${spec.name}: wrote ${written - section.offset} bytes of a ${section.bytes}-byte section`);
    }
    await writer.zeros(layout.bytes - written);
    this.progress.tensorsDone++;
    this.onProgress?.(this.progress);
  }
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

function inside(parent: string, child: string): boolean {
  const r = relative(parent, child);
  return r === '' || (!r.startsWith('..') && !isAbsolute(r));
}

function sourceDtype(ckpt: Checkpoint, expected: TensorSpec[]): string {
  const dtypes = new Set(expected.filter((s) => s.kind === 'linear').map((s) => ckpt.tensors.get(s.name)!.dtype));
  return [...dtypes].sort().join('+');
}

async function copyFile(from: string, dir: string, file: string): Promise<ManifestFile> {
  const bytes = await readFile(from);
  await writeFile(join(dir, file), bytes, { flag: 'wx' });
  return { file, bytes: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** One array element per line: readable, and small enough for V3's ninety thousand tensors. */
export function stringifyManifest(m: Manifest): string {
  const fields = Object.entries(m).map(([k, v]) =>
    Array.isArray(v) && v.length > 0 && typeof v[0] === 'object'
      ? `  ${JSON.stringify(k)}: [\n${v.map((x) => `    ${JSON.stringify(x)}`).join(',\n')}\n  ]`
      : `  ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  return `{\n${fields.join(',\n')}\n}\n`;
}

/** Converts `hfDir` into the model folder `outDir`; returns the manifest written. */
export async function convertCheckpoint(hfDir: string, outDir: string, options: ConvertOptions = {}): Promise<Manifest> {
  const quant = options.quant ?? 'q4';
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  const step = options.onStep ?? (() => {});
  const out = resolve(outDir);
  if (await exists(out)) {
    if (!options.force) throw new WebmoeError('invalid-request', `${outDir}: already exists (pass --force to replace it)`, { detail: { file: outDir } });
    if (!(await lstat(out)).isDirectory()) throw new WebmoeError('invalid-request', `${outDir}: exists and is not a folder; not replacing it`, { detail: { file: outDir } });
  }
  const src = await realpath(hfDir).catch(() => {
    throw formatError(hfDir, 'no such checkpoint folder');
  });
  const realOut = (await exists(out)) ? await realpath(out) : out;
  if (inside(realOut, src)) throw new WebmoeError('invalid-request', `${outDir}: would overwrite the checkpoint folder ${hfDir}`, { detail: { file: outDir } });

  const ckpt = await openCheckpoint(hfDir);
  let tmp: string | null = null;
  let writer: ShardWriter | null = null;
  try {
    step(`checkpoint ${hfDir}: ${ckpt.config.modelType}, ${ckpt.tensors.size} tensors in ${ckpt.files.length} file(s)`);
    const expected = checkCheckpointTensors(ckpt);
    step(`validated ${expected.length} tensors against config.json (${ckpt.config.numLayers} layers + ${ckpt.config.numMtpLayers} MTP)`);

    await mkdir(dirname(out), { recursive: true });
    tmp = await mkdtemp(join(dirname(out), `.${basename(out)}.tmp-`));
    inProgress.add(tmp);
    await chmod(tmp, 0o755); // mkdtemp makes it private; the model folder is not
    writer = new ShardWriter(tmp, shardBytes, (f) => step(`wrote ${f.file} (${(f.bytes / 1048576).toFixed(1)} MiB)`));
    const conversion = new Conversion(ckpt, quant, writer, expected, options.onProgress);
    await conversion.run(plan(expected));
    const shards = await writer.finish();
    writer = null;

    const tokenizer: ManifestFile[] = [];
    for (const f of TOKENIZER_FILES) {
      if (await exists(join(hfDir, f))) tokenizer.push(await copyFile(join(hfDir, f), tmp, f));
    }
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      converterVersion: CONVERTER_VERSION,
      model: { config: ckpt.config, hf: ckpt.hfConfig },
      quant,
      alignment: TENSOR_ALIGNMENT,
      shardBytes,
      tensors: conversion.tensors,
      experts: conversion.experts,
      shards,
      tokenizer,
      source: { name: checkpointName(ckpt), dtype: sourceDtype(ckpt, expected), files: ckpt.files },
    };
    const text = stringifyManifest(manifest);
    parseManifest(JSON.parse(text), join(tmp, MANIFEST_FILE)); // the converter's own output must pass the engine's checks
    await writeFile(join(tmp, MANIFEST_FILE), text, { flag: 'wx' });
    step(`wrote ${MANIFEST_FILE}: ${manifest.tensors.length} tensors, ${manifest.experts.length} experts, ${shards.length} shard(s), ${tokenizer.length} tokenizer file(s)`);

    if (await exists(out)) {
      const old = `${tmp}-replaced`;
      await rename(out, old);
      try {
        await rename(tmp, out);
      } catch (e) {
        await rename(old, out);
        throw e;
      }
      await rm(old, { recursive: true, force: true });
    } else {
      await rename(tmp, out);
    }
    inProgress.delete(tmp);
    tmp = null;
    return manifest;
  } finally {
    await writer?.abort();
    await ckpt.close();
    if (tmp) {
      await rm(tmp, { recursive: true, force: true });
      inProgress.delete(tmp);
    }
  }
}

