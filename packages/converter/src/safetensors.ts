// Reading Hugging Face checkpoints in Node: single safetensors files and whole checkpoint folders
// (model.safetensors, or shards listed by model.safetensors.index.json). Files are read through handles,
// one byte range at a time, so a multi-gigabyte shard is never held whole; every header is validated before
// any offset in it is used. Errors are WebmoeError('model-format') naming the file and the tensor or field.
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join, basename } from 'node:path';
import { WebmoeError, parseHfConfig, e2m1ToF32, FP8_BLOCK, GROUP, type AnyModelConfig, type WeightFormat } from 'webmoe/model';
import { DTYPE_BYTES, DTYPES, decodeInto, isDtype, type Dtype } from './dtypes';

/** A header larger than this is not a real checkpoint's (V3's largest shard header is well under 1 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

export interface SafetensorsTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute byte offsets in the file (the header's data_offsets plus 8 + header length). */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  size: number;
  metadata: Record<string, unknown> | null;
  tensors: Map<string, SafetensorsTensor>;
  /** The tensor's raw bytes. */
  read(name: string): Promise<Uint8Array>;
  /** `length` raw bytes of the tensor starting `start` bytes into it. */
  readRange(name: string, start: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

export function formatError(file: string, message: string, detail: Record<string, unknown> = {}): WebmoeError {
  return new WebmoeError('model-format', `${file}: ${message}`, { detail: { file, ...detail } });
}

const tensorError = (file: string, name: string, message: string) => formatError(file, `tensor "${name}": ${message}`, { tensor: name });

export const elementCount = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

async function readExactly(fh: FileHandle, path: string, position: number, length: number): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0) throw formatError(path, `ends at byte ${position + done}, expected ${length - done} more bytes (the file was truncated)`);
    done += bytesRead;
  }
  return out;
}

function parseHeader(path: string, text: Uint8Array, dataStart: number, dataBytes: number) {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(text));
  } catch (e) {
    throw formatError(path, `safetensors header is not valid JSON (${(e as Error).message})`, { field: 'header' });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw formatError(path, 'safetensors header is not a JSON object', { field: 'header' });
  let metadata: Record<string, unknown> | null = null;
  const tensors = new Map<string, SafetensorsTensor>();
  for (const [name, entry] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw formatError(path, '__metadata__ is not an object', { field: '__metadata__' });
      metadata = entry as Record<string, unknown>;
      continue;
    }
    if (typeof entry !== 'object' || entry === null) throw tensorError(path, name, 'header entry is not an object');
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) throw tensorError(path, name, `unknown dtype ${JSON.stringify(dtype)} (webmoe reads ${DTYPES.join(', ')})`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw tensorError(path, name, `shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      throw tensorError(path, name, `data_offsets ${JSON.stringify(offsets)} is not a pair [begin, end] with 0 ≤ begin ≤ end`);
    }
    const [b, e] = offsets as number[];
    if (e > dataBytes) throw tensorError(path, name, `data_offsets [${b}, ${e}] run past the end of the data (${dataBytes} bytes): the file is truncated or corrupt`);
    const expected = elementCount(shape) * DTYPE_BYTES[dtype];
    if (e - b !== expected) throw tensorError(path, name, `holds ${e - b} bytes, but shape [${shape.join(', ')}] of ${dtype} needs ${expected}`);
    tensors.set(name, { name, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  const sorted = [...tensors.values()].sort((x, y) => x.begin - y.begin || x.end - y.end);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    const cur = sorted[i];
    if (cur.begin < prev.end) throw tensorError(path, cur.name, `data overlaps tensor "${prev.name}" (data_offsets overlap)`);
  }
  return { metadata, tensors };
}

/** Opens one safetensors file and validates its header; the data is read on demand. */
export async function openSafetensors(path: string): Promise<SafetensorsFile> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw formatError(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const { size } = await fh.stat();
    if (size < 8) throw formatError(path, `is ${size} bytes, too short for a safetensors header (the file was truncated)`, { field: 'header' });
    const lenBytes = await readExactly(fh, path, 0, 8);
    const headerLen = new DataView(lenBytes.buffer).getBigUint64(0, true);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) throw formatError(path, `header length ${headerLen} exceeds the ${MAX_HEADER_BYTES}-byte bound: not a safetensors file`, { field: 'header' });
    const n = Number(headerLen);
    if (8 + n > size) throw formatError(path, `header length ${n} runs past the end of the ${size}-byte file (the file was truncated)`, { field: 'header' });
    const { metadata, tensors } = parseHeader(path, await readExactly(fh, path, 8, n), 8 + n, size - 8 - n);
    const entry = (name: string) => {
      const t = tensors.get(name);
      if (!t) throw formatError(path, `has no tensor "${name}"`, { tensor: name });
      return t;
    };
    return {
      path,
      size,
      metadata,
      tensors,
      read: (name) => {
        const t = entry(name);
        return readExactly(fh, path, t.begin, t.end - t.begin);
      },
      readRange: (name, start, length) => {
        const t = entry(name);
        if (start < 0 || length < 0 || t.begin + start + length > t.end) throw new RangeError(`${path}: readRange(${name}, ${start}, ${length}) outside the tensor`);
        return readExactly(fh, path, t.begin + start, length);
      },
      close: () => fh.close(),
    };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------
// Checkpoint folders
// ---------------------------------------------------------------------------------------------------

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';
export const SCALE_INV_SUFFIX = '_scale_inv';

/**
 * The name of a quantized weight's scale tensor: V2/V3 `<name>_scale_inv`, V4 `<name without .weight>.scale`.
 */
export function scaleNameOf(config: Pick<AnyModelConfig, 'family'>, name: string): string {
  return config.family === 'v4' ? name.replace(/\.weight$/, '') + '.scale' : name + SCALE_INV_SUFFIX;
}

export interface CheckpointTensor extends SafetensorsTensor {
  /** The safetensors file (name inside the checkpoint folder) that holds it. */
  file: string;
}

export interface Checkpoint {
  dir: string;
  /** config.json as written by Hugging Face, and its normalized form. */
  hfConfig: Record<string, unknown>;
  config: AnyModelConfig;
  /** The safetensors files, in index order. */
  files: string[];
  tensors: Map<string, CheckpointTensor>;
  read(name: string): Promise<Uint8Array>;
  /** Raw bytes of rows [start, start+count) of a tensor viewed as [shape[0], rest] (1-D: one row), as stored. */
  readRows(name: string, start: number, count: number): Promise<Uint8Array>;
  /**
   * Values as f32, dequantized: BF16/F16/F32 and integers exactly, F8_E4M3 times its 128×128 block scales
   * (the product rounded to f32), packed FP4 (I8) times its scale per 32 (exact). `rows` limits the read
   * to a row range.
   */
  readF32(name: string, rows?: { start: number; count: number }): Promise<Float32Array>;
  /** Like readF32 in float64: every source value and FP8/FP4 product is exact. */
  readF64(name: string): Promise<Float64Array>;
  /**
   * The scale tensor of an F8_E4M3 weight (block scales, F32 or F8_E8M0) or of a packed FP4 weight (I8,
   * F8_E8M0 per 32 columns), checked against the weight's shape; null for other dtypes.
   */
  scaleOf(name: string): CheckpointTensor | null;
  /** The tensor's shape as the model sees it: as stored, but packed FP4 (I8) has twice the stored columns. */
  shapeOf(name: string): number[];
  /**
   * When a tensor's stored bytes already are rows of a weight format the engine reads (a GGUF file's
   * blocks), that format: the converter then copies readRows' bytes as they are. Undefined or null: the
   * format follows the conversion's policy.
   */
  storedFormat?(name: string): WeightFormat | null;
  close(): Promise<void>;
}

/** [rows, cols] of a tensor read as a matrix: 1-D tensors are one row, higher ranks fold into cols. */
export function matrixShape(shape: readonly number[]): [number, number] {
  return shape.length <= 1 ? [1, shape[0] ?? 1] : [shape[0], elementCount(shape.slice(1))];
}

async function readJson(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw formatError(path, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : `cannot read (${(e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw formatError(path, `is not valid JSON (${(e as Error).message})`);
  }
}

const isSafeFileName = (f: unknown): f is string => typeof f === 'string' && /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(f);

async function exists(path: string): Promise<boolean> {
  return stat(path).then(() => true, () => false);
}

/** The safetensors files of a checkpoint folder and, when sharded, the index's name → file map. */
async function listFiles(dir: string): Promise<{ files: string[]; weightMap: Map<string, string> | null }> {
  const indexPath = join(dir, INDEX_FILE);
  if (await exists(indexPath)) {
    const index = await readJson(indexPath);
    const wm = (index as Record<string, unknown> | null)?.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw formatError(indexPath, 'field "weight_map" is missing or not an object', { field: 'weight_map' });
    const weightMap = new Map<string, string>();
    const files: string[] = [];
    for (const [name, file] of Object.entries(wm)) {
      if (!isSafeFileName(file)) throw formatError(indexPath, `tensor "${name}": file ${JSON.stringify(file)} is not a plain file name in the folder`, { tensor: name, field: 'weight_map' });
      weightMap.set(name, file);
      if (!files.includes(file)) files.push(file);
    }
    for (const f of files) {
      if (!(await exists(join(dir, f)))) throw formatError(indexPath, `names shard file "${f}", which does not exist in ${dir}`, { field: 'weight_map', shard: f });
    }
    return { files, weightMap };
  }
  if (await exists(join(dir, SINGLE_FILE))) return { files: [SINGLE_FILE], weightMap: null };
  throw formatError(dir, `holds neither ${SINGLE_FILE} nor ${INDEX_FILE}`);
}

/** Opens a Hugging Face checkpoint folder: config.json plus its safetensors file(s), all headers validated. */
export async function openCheckpoint(dir: string): Promise<Checkpoint> {
  const configPath = join(dir, 'config.json');
  const hfConfig = await readJson(configPath);
  const config = parseHfConfig(hfConfig, configPath);
  const { files, weightMap } = await listFiles(dir);
  const opened: SafetensorsFile[] = [];
  const byFile = new Map<string, SafetensorsFile>();
  const tensors = new Map<string, CheckpointTensor>();
  try {
    for (const file of files) {
      const st = await openSafetensors(join(dir, file));
      opened.push(st);
      byFile.set(file, st);
      for (const t of st.tensors.values()) {
        const other = tensors.get(t.name);
        if (other) throw tensorError(join(dir, file), t.name, `is also stored in ${other.file}`);
        tensors.set(t.name, { ...t, file });
      }
    }
    if (weightMap) {
      for (const [name, file] of weightMap) {
        const t = tensors.get(name);
        if (!t || t.file !== file) throw tensorError(join(dir, INDEX_FILE), name, `is listed in ${file}, which does not hold it`);
      }
    }
  } catch (e) {
    await Promise.all(opened.map((f) => f.close()));
    throw e;
  }

  const entry = (name: string): CheckpointTensor => {
    const t = tensors.get(name);
    if (!t) throw formatError(dir, `has no tensor "${name}"`, { tensor: name });
    return t;
  };
  const where = (t: CheckpointTensor) => join(dir, t.file);

  const shapeOf = (name: string): number[] => {
    const t = entry(name);
    return t.dtype === 'I8' ? [...t.shape.slice(0, -1), 2 * t.shape[t.shape.length - 1]] : t.shape;
  };

  const scaleOf = (name: string): CheckpointTensor | null => {
    const t = entry(name);
    if (t.dtype !== 'F8_E4M3' && t.dtype !== 'I8') return null;
    const fp4 = t.dtype === 'I8';
    const what = fp4 ? 'I8 (FP4 packed two per byte)' : 'F8_E4M3';
    const scaleName = scaleNameOf(config, name);
    const s = tensors.get(scaleName);
    if (!s) throw tensorError(where(t), name, `is ${what} but its scales "${scaleName}" are missing`);
    const [r, c] = matrixShape(shapeOf(name));
    const want = fp4 ? [r, Math.ceil(c / GROUP)] : [Math.ceil(r / FP8_BLOCK), Math.ceil(c / FP8_BLOCK)];
    const dtypes = fp4 ? ['F8_E8M0'] : ['F32', 'F8_E8M0', 'BF16'];
    const [sr, sc] = matrixShape(s.shape);
    if (s.shape.length !== 2 || sr !== want[0] || sc !== want[1] || !dtypes.includes(s.dtype)) {
      throw tensorError(where(s), s.name, `has shape [${s.shape.join(', ')}] ${s.dtype}, expected [${want.join(', ')}] ${dtypes.join(' or ')} ${fp4 ? 'scales per 32 columns' : 'block scales'} for [${r}, ${c}]`);
    }
    return s;
  };

  const readRows = (name: string, start: number, count: number): Promise<Uint8Array> => {
    const t = entry(name);
    const [rows, cols] = matrixShape(t.shape);
    if (start < 0 || count < 0 || start + count > rows) throw new RangeError(`${where(t)}: rows [${start}, ${start + count}) of "${name}" are outside its ${rows} rows`);
    const rowBytes = cols * DTYPE_BYTES[t.dtype];
    return byFile.get(t.file)!.readRange(name, start * rowBytes, count * rowBytes);
  };

  async function readFloat<T extends Float32Array | Float64Array>(name: string, start: number, count: number, make: (n: number) => T): Promise<T> {
    const t = entry(name);
    const [, cols] = matrixShape(shapeOf(name));
    const bytes = await readRows(name, start, count);
    const out = make(count * cols);
    const scale = scaleOf(name);
    if (!scale) {
      decodeInto(t.dtype, bytes, out);
      return out;
    }
    const s = new Float64Array(elementCount(scale.shape));
    decodeInto(scale.dtype, await byFile.get(scale.file)!.read(scale.name), s);
    if (t.dtype === 'I8') {
      // Byte j of a row holds element 2j in its low nibble; an e2m1 value times a power of two is exact.
      const groups = Math.ceil(cols / GROUP);
      for (let r = 0; r < count; r++) {
        for (let c = 0; c < cols; c++) {
          const byte = bytes[r * (cols >> 1) + (c >> 1)];
          out[r * cols + c] = e2m1ToF32(c & 1 ? byte >> 4 : byte & 15) * s[(start + r) * groups + Math.floor(c / GROUP)];
        }
      }
      return out;
    }
    // Decode e4m3 into float64 so each product below is rounded once, into `out`.
    const q = new Float64Array(count * cols);
    decodeInto('F8_E4M3', bytes, q);
    const bc = Math.ceil(cols / FP8_BLOCK);
    for (let r = 0; r < count; r++) {
      const srow = Math.floor((start + r) / FP8_BLOCK) * bc;
      for (let b = 0; b < bc; b++) {
        const scale = s[srow + b];
        for (let i = r * cols + b * FP8_BLOCK, end = r * cols + Math.min(cols, (b + 1) * FP8_BLOCK); i < end; i++) out[i] = q[i] * scale;
      }
    }
    return out;
  }

  return {
    dir,
    hfConfig: hfConfig as Record<string, unknown>,
    config,
    files,
    tensors,
    read: (name) => byFile.get(entry(name).file)!.read(name),
    readRows,
    readF32: (name, rows) => {
      const [r] = matrixShape(entry(name).shape);
      return readFloat(name, rows?.start ?? 0, rows?.count ?? r, (n) => new Float32Array(n));
    },
    readF64: (name) => readFloat(name, 0, matrixShape(entry(name).shape)[0], (n) => new Float64Array(n)),
    scaleOf,
    shapeOf,
    close: async () => {
      await Promise.all(opened.map((f) => f.close()));
    },
  };
}

/** The checkpoint's folder name, for messages and the manifest. */
export const checkpointName = (c: Checkpoint) => basename(c.dir.replace(/[/\\]+$/, '')) || c.dir;
