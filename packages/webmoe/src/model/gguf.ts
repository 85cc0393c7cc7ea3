// Reading GGUF files (llama.cpp's model format, version 2 and 3; docs/gguf.md) from their first bytes:
// the header, every metadata key/value and every tensor's name, dimensions, type and byte range. The
// tensor data is not needed, so a caller holding only a prefix of the file (a browser fetching it by
// HTTP range) lists the tensors and then reads each one's range. Pure TypeScript, little-endian.
import { WebmoeError } from '../errors';
import { GGML_BLOCKS } from './formats';

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** Metadata value types, by their codes in the file. */
export const GGUF_VALUE = {
  UINT8: 0, INT8: 1, UINT16: 2, INT16: 3, UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9, UINT64: 10, INT64: 11, FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GGUF_VALUE)[keyof typeof GGUF_VALUE];

/** ggml tensor types webmoe reads, by their codes in the file. */
export const GGML_TYPE = { F32: 0, F16: 1, Q4_0: 2, Q8_0: 8, Q4_K: 12, Q5_K: 13, Q6_K: 14, BF16: 30 } as const;
export type GgmlTypeName = keyof typeof GGML_TYPE;

/** Values per block and bytes per block of each type (plain floats are blocks of one). */
export const GGML_TYPE_SIZE: Record<GgmlTypeName, { values: number; bytes: number }> = {
  F32: { values: 1, bytes: 4 },
  F16: { values: 1, bytes: 2 },
  BF16: { values: 1, bytes: 2 },
  Q8_0: GGML_BLOCKS.q8_0,
  Q4_0: GGML_BLOCKS.q4_0,
  Q4_K: GGML_BLOCKS.q4_k,
  Q5_K: GGML_BLOCKS.q5_k,
  Q6_K: GGML_BLOCKS.q6_k,
};

const TYPE_NAMES = new Map<number, GgmlTypeName>(Object.entries(GGML_TYPE).map(([k, v]) => [v, k as GgmlTypeName]));

export function ggmlTypeName(code: number): GgmlTypeName | null {
  return TYPE_NAMES.get(code) ?? null;
}

/** A metadata value: numbers (u64/i64 as bigint), booleans, strings, or arrays of one type. */
export type GgufValue = number | bigint | boolean | string | readonly GgufValue[];

export interface GgufEntry {
  type: GgufValueType;
  /** For arrays, the element type. */
  itemType?: GgufValueType;
  value: GgufValue;
}

export interface GgufTensorInfo {
  name: string;
  /** ne[0], ne[1], …: ne[0] is the innermost (contiguous) dimension, the reverse of a row-major shape. */
  dims: number[];
  type: GgmlTypeName;
  /** Byte offset from the start of the data section. */
  offset: number;
  bytes: number;
}

export interface GgufHeader {
  version: number;
  metadata: Map<string, GgufEntry>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute byte offset of the data section (tensor offsets count from here). */
  dataOffset: number;
}

/** Thrown when the header runs past the bytes given; `detail.needBytes` is a prefix length that may suffice. */
export class GgufTruncated extends WebmoeError {
  constructor(source: string, readonly needBytes: number) {
    super('model-format', `${source}: the GGUF header runs past the bytes given (read at least ${needBytes} bytes)`, { detail: { file: source, needBytes } });
  }
}

const formatError = (source: string, message: string, detail: Record<string, unknown> = {}) =>
  new WebmoeError('model-format', `${source}: ${message}`, { detail: { file: source, ...detail } });

/** Bytes a tensor of `type` and dims `ne` occupies; ne[0] must hold whole blocks. */
export function ggmlTensorBytes(type: GgmlTypeName, ne: readonly number[]): number {
  const { values, bytes } = GGML_TYPE_SIZE[type];
  if (ne[0] % values !== 0) throw new RangeError(`${type} needs ne[0] a multiple of ${values}, got ${ne[0]}`);
  return (ne.reduce((a, b) => a * b, 1) / values) * bytes;
}

class Cursor {
  pos = 0;
  private readonly dv: DataView;
  private readonly text = new TextDecoder('utf-8', { fatal: true });
  constructor(private readonly bytes: Uint8Array, private readonly source: string) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  need(n: number): void {
    if (this.pos + n > this.bytes.byteLength) throw new GgufTruncated(this.source, Math.max(2 * this.bytes.byteLength, this.pos + n));
  }
  u8() { this.need(1); return this.dv.getUint8(this.pos++); }
  i8() { this.need(1); return this.dv.getInt8(this.pos++); }
  u16() { this.need(2); const v = this.dv.getUint16(this.pos, true); this.pos += 2; return v; }
  i16() { this.need(2); const v = this.dv.getInt16(this.pos, true); this.pos += 2; return v; }
  u32() { this.need(4); const v = this.dv.getUint32(this.pos, true); this.pos += 4; return v; }
  i32() { this.need(4); const v = this.dv.getInt32(this.pos, true); this.pos += 4; return v; }
  f32() { this.need(4); const v = this.dv.getFloat32(this.pos, true); this.pos += 4; return v; }
  f64() { this.need(8); const v = this.dv.getFloat64(this.pos, true); this.pos += 8; return v; }
  u64() { this.need(8); const v = this.dv.getBigUint64(this.pos, true); this.pos += 8; return v; }
  i64() { this.need(8); const v = this.dv.getBigInt64(this.pos, true); this.pos += 8; return v; }
  /** A u64 count or size that must fit a JS number. */
  size(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw formatError(this.source, `${what} ${v} is too large`);
    return Number(v);
  }
  string(what: string): string {
    const n = this.size(`length of ${what}`);
    this.need(n);
    try {
      return this.text.decode(this.bytes.subarray(this.pos, (this.pos += n)));
    } catch {
      throw formatError(this.source, `${what} is not valid UTF-8`);
    }
  }
}

function readValue(c: Cursor, type: number, key: string): GgufValue {
  switch (type) {
    case GGUF_VALUE.UINT8: return c.u8();
    case GGUF_VALUE.INT8: return c.i8();
    case GGUF_VALUE.UINT16: return c.u16();
    case GGUF_VALUE.INT16: return c.i16();
    case GGUF_VALUE.UINT32: return c.u32();
    case GGUF_VALUE.INT32: return c.i32();
    case GGUF_VALUE.FLOAT32: return c.f32();
    case GGUF_VALUE.FLOAT64: return c.f64();
    case GGUF_VALUE.UINT64: return c.u64();
    case GGUF_VALUE.INT64: return c.i64();
    case GGUF_VALUE.BOOL: return c.u8() !== 0;
    case GGUF_VALUE.STRING: return c.string(`metadata ${key}`);
    default: throw new WebmoeError('model-format', `metadata ${key}: unknown value type ${type}`, { detail: { field: key } });
  }
}

/**
 * Parses a GGUF header from the first bytes of a file. Throws GgufTruncated when `bytes` ends inside the
 * header (call again with at least `needBytes`), WebmoeError('model-format') naming the field otherwise.
 */
export function parseGgufHeader(bytes: Uint8Array, source = 'model.gguf'): GgufHeader {
  const c = new Cursor(bytes, source);
  if (c.u32() !== GGUF_MAGIC) throw formatError(source, 'not a GGUF file (the first four bytes are not "GGUF")', { field: 'magic' });
  const version = c.u32();
  if (version !== 2 && version !== 3) throw formatError(source, `GGUF version ${version} is not supported (webmoe reads versions 2 and 3)`, { field: 'version' });
  const tensorCount = c.size('tensor count');
  const kvCount = c.size('metadata count');
  const metadata = new Map<string, GgufEntry>();
  for (let i = 0; i < kvCount; i++) {
    const key = c.string(`metadata key ${i}`);
    const type = c.u32() as GgufValueType;
    if (type === GGUF_VALUE.ARRAY) {
      const itemType = c.u32() as GgufValueType;
      const n = c.size(`length of metadata ${key}`);
      if (itemType === GGUF_VALUE.ARRAY) throw formatError(source, `metadata ${key}: arrays of arrays are not supported`, { field: key });
      const value: GgufValue[] = new Array(n);
      for (let j = 0; j < n; j++) value[j] = readValue(c, itemType, key);
      metadata.set(key, { type, itemType, value });
    } else {
      metadata.set(key, { type, value: readValue(c, type, key) });
    }
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = c.string(`tensor name ${i}`);
    const nDims = c.u32();
    if (nDims < 1 || nDims > 4) throw formatError(source, `tensor "${name}": ${nDims} dimensions (GGUF has 1 to 4)`, { tensor: name });
    const dims = Array.from({ length: nDims }, () => c.size(`tensor "${name}" dimension`));
    const code = c.u32();
    const type = ggmlTypeName(code);
    if (!type) throw formatError(source, `tensor "${name}": ggml type ${code} is not supported (webmoe reads ${Object.keys(GGML_TYPE).join(', ')})`, { tensor: name });
    const offset = c.size(`tensor "${name}" offset`);
    let bytes: number;
    try {
      bytes = ggmlTensorBytes(type, dims);
    } catch (e) {
      throw formatError(source, `tensor "${name}": ${(e as Error).message}`, { tensor: name });
    }
    tensors.push({ name, dims, type, offset, bytes });
  }
  const align = metadata.get('general.alignment');
  const alignment = align === undefined ? GGUF_DEFAULT_ALIGNMENT : Number(align.value);
  if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
    throw formatError(source, `general.alignment ${String(align?.value)} is not a positive multiple of 8`, { field: 'general.alignment' });
  }
  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  for (const t of tensors) {
    if (t.offset % alignment !== 0) throw formatError(source, `tensor "${t.name}": offset ${t.offset} is not a multiple of the alignment ${alignment}`, { tensor: t.name });
  }
  return { version, metadata, tensors, alignment, dataOffset };
}

/** Checks every tensor's range lies inside a file of `fileBytes` bytes. */
export function checkGgufRanges(header: GgufHeader, fileBytes: number, source = 'model.gguf'): void {
  for (const t of header.tensors) {
    const end = header.dataOffset + t.offset + t.bytes;
    if (end > fileBytes) throw formatError(source, `tensor "${t.name}" ends at byte ${end}, past the end of the file (${fileBytes} bytes): it is truncated`, { tensor: t.name });
  }
}

/** A metadata value, or undefined. */
export function ggufValue(header: Pick<GgufHeader, 'metadata'>, key: string): GgufValue | undefined {
  return header.metadata.get(key)?.value;
}
