// A reader for Hugging Face safetensors folders (model.safetensors, or the files a
// model.safetensors.index.json lists): each file is an 8-byte little-endian header length, a JSON header
// {name: {dtype, shape, data_offsets: [begin, end]}} and the data, offsets counted from the data's start.
// Tensors are read on demand with synchronous file reads (the reference is for small models) and decoded
// element by element into float64; block scales are applied in checkpoint.ts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { WebmoeError } from 'webmoe/model';
import { readAt } from './file-bytes';
import { isObject } from './json-fields';
import { bf16Value, e4m3Value, e8m0Value, f16Value } from './number-formats';

export const SINGLE_FILE = 'model.safetensors';
export const INDEX_FILE = 'model.safetensors.index.json';

const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, F8_E4M3: 1, F8_E8M0: 1, I64: 8, I32: 4, I8: 1, U8: 1 } as const;
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

export interface StoredTensor {
  name: string;
  file: string;
  dtype: SafetensorsDtype;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

function formatError(file: string, problem: string, tensor?: string): WebmoeError {
  return new WebmoeError('model-format', `${file}: ${tensor ? `tensor ${tensor} ` : ''}${problem}`, { detail: { file, ...(tensor ? { tensor } : {}) } });
}

/** The tensors listed in one safetensors file's header. */
function readHeader(dir: string, file: string): StoredTensor[] {
  const path = join(dir, file);
  if (!existsSync(path)) throw formatError(file, 'does not exist');
  const size = statSync(path).size;
  if (size < 8) throw formatError(file, `is ${size} bytes, too short for a safetensors header`);
  const length = Number(new DataView(readAt(path, 0, 8).buffer).getBigUint64(0, true));
  if (length < 2 || 8 + length > size) throw formatError(file, `declares a ${length}-byte header in a ${size}-byte file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(readAt(path, 8, length)));
  } catch (e) {
    throw formatError(file, `has a header that is not JSON (${(e as Error).message})`);
  }
  if (!isObject(header)) throw formatError(file, 'has a header that is not a JSON object');
  const dataStart = 8 + length;
  const out: StoredTensor[] = [];
  for (const [name, v] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    if (!isObject(v)) throw formatError(file, 'has a header entry that is not an object', name);
    const dtype = v.dtype as SafetensorsDtype;
    if (!(typeof dtype === 'string' && dtype in DTYPE_BYTES)) throw formatError(file, `has dtype ${JSON.stringify(v.dtype)}, which the reference does not read (${Object.keys(DTYPE_BYTES).join(', ')})`, name);
    const shape = v.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isSafeInteger(s) && s >= 0)) throw formatError(file, `has shape ${JSON.stringify(shape)}`, name);
    const offsets = v.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) throw formatError(file, `has data_offsets ${JSON.stringify(offsets)}`, name);
    const [b, e] = offsets as number[];
    const want = (shape as number[]).reduce((a, s) => a * s, 1) * DTYPE_BYTES[dtype];
    if (e - b !== want) throw formatError(file, `spans ${e - b} bytes, but ${dtype} [${shape.join(', ')}] takes ${want}`, name);
    if (dataStart + e > size) throw formatError(file, `runs past the end of the file (bytes ${b}…${e} of the data)`, name);
    out.push({ name, file, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  return out;
}

export class SafetensorsFolder {
  readonly tensors = new Map<string, StoredTensor>();

  constructor(readonly dir: string) {
    const index = join(dir, INDEX_FILE);
    let files: string[];
    let placed: Map<string, string> | null = null;
    if (existsSync(index)) {
      const json: unknown = JSON.parse(readFileSync(index, 'utf8'));
      const map = isObject(json) ? json.weight_map : undefined;
      if (!isObject(map)) throw formatError(INDEX_FILE, 'has no weight_map object');
      placed = new Map(Object.entries(map).map(([name, file]) => [name, String(file)]));
      files = [...new Set(placed.values())];
    } else if (existsSync(join(dir, SINGLE_FILE))) {
      files = [SINGLE_FILE];
    } else {
      throw new WebmoeError('model-format', `${dir} holds neither ${SINGLE_FILE} nor ${INDEX_FILE}`, { detail: { dir } });
    }
    for (const file of files) {
      for (const t of readHeader(dir, file)) {
        if (this.tensors.has(t.name)) throw formatError(file, `is also stored in ${this.tensors.get(t.name)!.file}`, t.name);
        if (placed && placed.get(t.name) !== file) throw formatError(file, `is placed in ${placed.get(t.name) ?? 'no file'} by ${INDEX_FILE}`, t.name);
        this.tensors.set(t.name, t);
      }
    }
    if (placed) {
      for (const [name, file] of placed) if (!this.tensors.has(name)) throw formatError(file, `is listed by ${INDEX_FILE} but not stored`, name);
    }
  }

  bytes(t: StoredTensor): Uint8Array {
    return readAt(join(this.dir, t.file), t.begin, t.end - t.begin);
  }

  /** Every element's value: floats decoded exactly, integers as themselves, F8_E4M3 without its block scales. */
  values(t: StoredTensor): Float64Array {
    const bytes = this.bytes(t);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const n = bytes.byteLength / DTYPE_BYTES[t.dtype];
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = element(dv, t, i);
    return out;
  }
}

function element(dv: DataView, t: StoredTensor, i: number): number {
  switch (t.dtype) {
    case 'F64': return dv.getFloat64(8 * i, true);
    case 'F32': return dv.getFloat32(4 * i, true);
    case 'F16': return f16Value(dv.getUint16(2 * i, true));
    case 'BF16': return bf16Value(dv.getUint16(2 * i, true));
    case 'F8_E4M3': return e4m3Value(dv.getUint8(i));
    case 'F8_E8M0': return e8m0Value(dv.getUint8(i));
    case 'I8': return dv.getInt8(i);
    case 'U8': return dv.getUint8(i);
    case 'I32': return dv.getInt32(4 * i, true);
    case 'I64': {
      const v = dv.getBigInt64(8 * i, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(t.file, `holds ${v}, beyond the integers float64 represents exactly`, t.name);
      return Number(v);
    }
  }
}
