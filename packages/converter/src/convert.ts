// Hugging Face checkpoint folder → webmoe model folder (format in webmoe's model/manifest.ts). Tensors are
// streamed in runs of rows: read, quantize, hash and write, so memory stays bounded by one run plus the
// scales of one tensor. The output appears atomically: everything is written into a temporary sibling
// folder that is renamed into place only after the manifest has been written and re-validated.
import { createHash } from 'node:crypto';
import { chmod, lstat, mkdir, mkdtemp, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { basename, dirname, join, relative, resolve, isAbsolute } from 'node:path';
import {
  DEFAULT_SHARD_BYTES, GROUP, MANIFEST_FILE, MANIFEST_FORMAT, MANIFEST_VERSION, PRODUCT_FORMATS, TENSOR_ALIGNMENT, WebmoeError,
  expertGroups, isOutputHead, parseManifest, quantizeRows, tensorLayout, type ByteRange, type Manifest, type ManifestExpert, type ManifestFile,
  type ManifestTensor, type TensorLayout, type TensorSpec, type WeightFormat,
} from 'webmoe/model';
import { DTYPE_BYTES, decodeInto, i64View, type Dtype } from './dtypes';
import { checkpointName, elementCount, formatError, matrixShape, openCheckpoint, type Checkpoint, type CheckpointTensor } from './safetensors';
import { ShardWriter } from './shard-writer';
import { checkCheckpointTensors } from './validate';

export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json'];

/**
 * Which converter wrote a folder, recorded as manifest.json `converterVersion`, so that caches of converted
 * models (`webmoe bench`, the e2e models) can tell a conversion made by an older converter. Bump it with
 * every change that makes the same checkpoint and options convert to different bytes or a different
 * manifest: a tensor's format, a quantizer's rounding, the placement of tensors in shards. 1: the first
 * recorded (BF16 router weights kept as bf16); manifests from before it have no field. 2: fp8 keeps the
 * embedding and output heads bf16; MTP modules only with `mtp`; DeepSeek-V4 checkpoints.
 */
export const CONVERTER_VERSION = 2;

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
  /**
   * Convert the multi-token-prediction modules too (manifest `mtp: true`). Default false: nothing in the
   * engine uses them yet, and V3's would add a whole layer of experts to the folder.
   */
  mtp?: boolean;
  /** Replace an existing output folder. */
  force?: boolean;
  /** Largest shard, in bytes (a multiple of 256). Default 64 MiB. */
  shardBytes?: number;
  onProgress?: (p: ConvertProgress) => void;
  /** One line per step (opening, validating, each shard written, done). */
  onStep?: (message: string) => void;
}

/**
 * The format a tensor is stored in under `quant`, given its dtype in the checkpoint.
 * - Router weights and `precise` tensors are small but precision-sensitive: a BF16 one is kept as bf16
 *   (lossless, half of f32's bytes) under every `quant`, any other dtype becomes f32. Norms and biases are
 *   f32, tables (tid2eid) u32.
 * - Linear and embedding weights take `quant`, except under fp8, which keeps a release's own precision:
 *   the embedding and the output heads bf16 (DeepSeek leaves them unquantized beside FP8 weights), and
 *   V4's FP4 experts (I8) fp4, bit for bit; and under q4, which keeps the embedding and the output heads at
 *   q8: every token's distribution passes through the head, and both are a small part of an MoE model's
 *   bytes (docs/quality.md).
 */
export function formatFor(spec: Pick<TensorSpec, 'kind' | 'name'>, quant: WeightFormat, sourceDtype?: Dtype): WeightFormat {
  switch (spec.kind) {
    case 'norm':
    case 'bias': return 'f32';
    case 'table': return 'u32';
    case 'router':
    case 'precise': return sourceDtype === 'BF16' ? 'bf16' : 'f32';
  }
  const head = spec.kind === 'embedding' || isOutputHead(spec);
  if (quant === 'q4') return head ? 'q8' : 'q4';
  if (quant !== 'fp8') return quant;
  if (head) return 'bf16';
  return sourceDtype === 'I8' ? 'fp4' : 'fp8';
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
    for (const specs of expertGroups(part)) {
      if (specs.length !== 3) throw new WebmoeError('internal', `expert ${specs[0].name}: expected gate, up and down projections`);
      items.push({ layer: specs[0].layer!, expert: specs[0].expert!, mtp, specs });
    }
  }
  return items;
}

function sourceBytes(ckpt: Checkpoint, name: string): number {
  const t = ckpt.tensors.get(name)!;
  const s = ckpt.scaleOf(name);
  return t.end - t.begin + (s ? s.end - s.begin : 0);
}

/** How a tensor's bytes are made: copied from the release's own (quantized) bytes, or requantized from f32 values. */
type Source = 'fp8' | 'fp4' | 'table' | 'copy' | 'values';

function sourceKind(format: WeightFormat, src: CheckpointTensor, stored: WeightFormat | null): Source {
  if (stored === format) return 'copy';
  if (format === 'fp8' && src.dtype === 'F8_E4M3') return 'fp8';
  if (format === 'fp4' && src.dtype === 'I8') return 'fp4';
  if (format === 'u32') return 'table';
  return 'values';
}

class Conversion {
  readonly tensors: ManifestTensor[] = [];
  readonly experts: ManifestExpert[] = [];
  readonly progress: ConvertProgress;

  /** Table entries are expert ids (tid2eid). */
  private readonly tableLimit: number;

  constructor(private readonly ckpt: Checkpoint, private readonly quant: WeightFormat, private readonly writer: ShardWriter,
    expected: TensorSpec[], private readonly onProgress?: (p: ConvertProgress) => void) {
    this.progress = { bytesDone: 0, bytesTotal: expected.reduce((a, s) => a + sourceBytes(ckpt, s.name), 0), tensorsDone: 0, tensorsTotal: expected.length };
    this.tableLimit = ckpt.config.moe?.nRoutedExperts ?? 0;
  }

  /** Where the byte `rel` of a placed range lies (ranges spanning shards fill each one completely). */
  private locate(range: ByteRange, rel: number): { shard: number; offset: number } {
    const pos = range.offset + rel;
    return { shard: range.shard + Math.floor(pos / this.writer.shardBytes), offset: pos % this.writer.shardBytes };
  }

  private formatOf(spec: TensorSpec): WeightFormat {
    return this.ckpt.storedFormat?.(spec.name) ?? formatFor(spec, this.quant, this.ckpt.tensors.get(spec.name)!.dtype);
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
    const kind = sourceKind(format, src, ckpt.storedFormat?.(spec.name) ?? null);
    const scales: Uint8Array[] = [];
    const mins: Uint8Array[] = [];
    const step = rowsPerRun(format, layout.cols);
    const rowBytes = matrixShape(src.shape)[1] * DTYPE_BYTES[src.dtype];
    let written = 0;
    // The next run of rows is read while this one is converted.
    const read = (start: number) => {
      if (start >= layout.rows) return null;
      const count = Math.min(step, layout.rows - start);
      const p = kind === 'values' ? ckpt.readF32(spec.name, { start, count }) : ckpt.readRows(spec.name, start, count);
      p.catch(() => {}); // awaited below; this only keeps an abandoned read from being an unhandled rejection
      return p;
    };
    let next = read(0);
    for (let start = 0; start < layout.rows; start += step) {
      const count = Math.min(step, layout.rows - start);
      const run = await next!;
      next = read(start + step);
      let q: Uint8Array;
      try {
        if (kind === 'values') {
          const parts = quantizeRows(format, run as Float32Array, count, layout.cols);
          q = parts.q;
          if (parts.scales) scales.push(parts.scales);
          if (parts.mins) mins.push(parts.mins);
        } else {
          q = kind === 'copy' ? (run as Uint8Array) : kind === 'fp8' ? checkE4m3(run as Uint8Array, layout.cols) : kind === 'fp4' ? padFp4Rows(run as Uint8Array, count, layout) : tableRows(run as Uint8Array, layout.cols, this.tableLimit);
        }
      } catch (e) {
        if (!(e instanceof RangeError)) throw e;
        throw formatError(file, `tensor "${spec.name}" (rows from ${start}): ${e.message}`, { tensor: spec.name });
      }
      await writer.write(q);
      written += q.byteLength;
      this.progress.bytesDone += count * rowBytes;
      this.onProgress?.(this.progress);
    }
    if (kind === 'fp8' || kind === 'fp4') {
      // The release's scales: fp8 holds them as f32 (E8M0 powers of two are exact in f32), fp4 as the E8M0 bytes.
      const scale = ckpt.scaleOf(spec.name)!;
      const raw = await ckpt.read(scale.name);
      const values = new Float32Array(elementCount(scale.shape));
      decodeInto(scale.dtype, raw, values);
      const bad = values.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0) throw formatError(join(ckpt.dir, scale.file), `tensor "${scale.name}": scale ${bad} is ${values[bad]}`, { tensor: scale.name });
      scales.push(kind === 'fp4' ? raw : new Uint8Array(values.buffer));
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

/** E4M3 bytes copied as they are, once known to hold no NaN code (0x7F, 0xFF). */
function checkE4m3(q: Uint8Array, cols: number): Uint8Array {
  for (let i = 0; i < q.length; i++) {
    if ((q[i] & 0x7f) === 0x7f) throw new RangeError(`NaN (e4m3 0x${q[i].toString(16)}) at row ${Math.floor(i / cols)}, column ${i % cols}`);
  }
  return q;
}

/** Packed FP4 rows (cols/2 bytes each) placed in fp4's rows of whole groups (G·16 bytes, zero-padded). */
function padFp4Rows(packed: Uint8Array, rows: number, layout: TensorLayout): Uint8Array {
  const from = layout.cols / 2;
  const to = Math.ceil(layout.cols / GROUP) * (GROUP / 2);
  if (from === to) return packed;
  const out = new Uint8Array(rows * to);
  for (let r = 0; r < rows; r++) out.set(packed.subarray(r * from, (r + 1) * from), r * to);
  return out;
}

/** I64 table entries as u32, each checked to lie in 0 … limit−1. */
function tableRows(raw: Uint8Array, cols: number, limit: number): Uint8Array {
  const src = i64View(raw);
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    if (v < 0n || v >= BigInt(limit)) throw new RangeError(`entry ${v} at row ${Math.floor(i / cols)}, column ${i % cols} is not an expert id (0 … ${limit - 1})`);
    out[i] = Number(v);
  }
  return new Uint8Array(out.buffer);
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

/** Refuses an existing `outDir` unless `force`, and anything there that is not a folder. */
export async function checkOutputFolder(outDir: string, force: boolean | undefined): Promise<void> {
  const out = resolve(outDir);
  if (!(await exists(out))) return;
  if (!force) throw new WebmoeError('invalid-request', `${outDir}: already exists (pass --force to replace it)`, { detail: { file: outDir } });
  if (!(await lstat(out)).isDirectory()) throw new WebmoeError('invalid-request', `${outDir}: exists and is not a folder; not replacing it`, { detail: { file: outDir } });
}

/** Converts `hfDir` into the model folder `outDir`; returns the manifest written. */
export async function convertCheckpoint(hfDir: string, outDir: string, options: ConvertOptions = {}): Promise<Manifest> {
  const step = options.onStep ?? (() => {});
  const out = resolve(outDir);
  await checkOutputFolder(outDir, options.force);
  const src = await realpath(hfDir).catch(() => {
    throw formatError(hfDir, 'no such checkpoint folder');
  });
  const realOut = (await exists(out)) ? await realpath(out) : out;
  if (inside(realOut, src)) throw new WebmoeError('invalid-request', `${outDir}: would overwrite the checkpoint folder ${hfDir}`, { detail: { file: outDir } });

  const ckpt = await openCheckpoint(hfDir);
  try {
    step(`checkpoint ${hfDir}: ${ckpt.config.modelType}, ${ckpt.tensors.size} tensors in ${ckpt.files.length} file(s)`);
    const mtp = options.mtp === true && ckpt.config.numMtpLayers > 0;
    const expected = checkCheckpointTensors(ckpt, mtp);
    const skipped = ckpt.config.numMtpLayers > 0 && !mtp ? '; the MTP modules are left out (--mtp converts them)' : '';
    step(`validated ${expected.length} tensors against config.json (${ckpt.config.numLayers} layers + ${ckpt.config.numMtpLayers} MTP)${skipped}`);
    return await writeModelFolder(ckpt, outDir, options, { expected, mtp, tokenizerDir: hfDir, source: { name: checkpointName(ckpt), dtype: sourceDtype(ckpt, expected), files: ckpt.files } });
  } finally {
    await ckpt.close();
  }
}

export interface FolderSource {
  /** The tensors to write, in expectedTensors order. */
  expected: TensorSpec[];
  mtp: boolean;
  /** Where tokenizer files are copied from, if any. */
  tokenizerDir: string | null;
  source: Manifest['source'];
}

/**
 * Writes the model folder `outDir` from the tensors of `ckpt` (a checkpoint on disk, or any object that reads
 * like one); the caller has checked `outDir` (checkOutputFolder) and closes `ckpt`.
 */
export async function writeModelFolder(ckpt: Checkpoint, outDir: string, options: ConvertOptions, from: FolderSource): Promise<Manifest> {
  const quant = options.quant ?? 'q4';
  if (!PRODUCT_FORMATS.includes(quant)) throw new WebmoeError('invalid-request', `quant must be one of ${PRODUCT_FORMATS.join(', ')}, got "${quant}"`);
  const shardBytes = options.shardBytes ?? DEFAULT_SHARD_BYTES;
  const step = options.onStep ?? (() => {});
  const out = resolve(outDir);
  const { expected, mtp } = from;
  let tmp: string | null = null;
  let writer: ShardWriter | null = null;
  try {
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
    for (const f of from.tokenizerDir === null ? [] : TOKENIZER_FILES) {
      if (await exists(join(from.tokenizerDir!, f))) tokenizer.push(await copyFile(join(from.tokenizerDir!, f), tmp, f));
    }
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      version: MANIFEST_VERSION,
      converterVersion: CONVERTER_VERSION,
      model: { config: ckpt.config, hf: ckpt.hfConfig },
      quant,
      mtp,
      alignment: TENSOR_ALIGNMENT,
      shardBytes,
      tensors: conversion.tensors,
      experts: conversion.experts,
      shards,
      tokenizer,
      source: from.source,
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
    if (tmp) {
      await rm(tmp, { recursive: true, force: true });
      inProgress.delete(tmp);
    }
  }
}

