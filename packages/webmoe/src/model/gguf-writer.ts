// Writing GGUF files (version 3; docs/gguf.md): webmoe's tests make their GGUF inputs with it, from the
// golden and generated models, since no llama.cpp output is at hand. Values are written with the types
// given, or inferred: integers as UINT32 (INT32 when negative), other numbers FLOAT32, bigint UINT64,
// strings, booleans, and arrays of one inferred element type.
import { GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_VALUE, GGML_TYPE, ggmlTensorBytes, type GgmlTypeName, type GgufEntry, type GgufValue, type GgufValueType } from './gguf';

export interface GgufTensorInput {
  name: string;
  /** ne[0] first (innermost). */
  dims: number[];
  type: GgmlTypeName;
  data: Uint8Array;
}

export type GgufMetadataInput = Record<string, GgufValue | GgufEntry>;

function inferType(v: GgufValue): GgufValueType {
  if (typeof v === 'string') return GGUF_VALUE.STRING;
  if (typeof v === 'boolean') return GGUF_VALUE.BOOL;
  if (typeof v === 'bigint') return GGUF_VALUE.UINT64;
  if (typeof v !== 'number') return GGUF_VALUE.ARRAY;
  if (Number.isInteger(v)) return v < 0 ? GGUF_VALUE.INT32 : GGUF_VALUE.UINT32;
  return GGUF_VALUE.FLOAT32;
}

const isEntry = (v: GgufValue | GgufEntry): v is GgufEntry => typeof v === 'object' && !Array.isArray(v) && v !== null && 'type' in v;

function entryOf(v: GgufValue | GgufEntry): GgufEntry {
  if (isEntry(v)) return v;
  const type = inferType(v);
  if (type !== GGUF_VALUE.ARRAY) return { type, value: v };
  const items = v as readonly GgufValue[];
  // An array of integers with a float among them is FLOAT32; with a negative one, INT32.
  const itemType = items.length === 0 ? GGUF_VALUE.UINT32
    : items.some((x) => typeof x === 'number' && !Number.isInteger(x)) ? GGUF_VALUE.FLOAT32
      : items.some((x) => typeof x === 'number' && x < 0) ? GGUF_VALUE.INT32 : inferType(items[0]);
  return { type, itemType, value: v };
}

class Out {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  pos = 0;
  private grow(n: number) {
    if (this.pos + n <= this.buf.byteLength) return;
    const next = new Uint8Array(Math.max(2 * this.buf.byteLength, this.pos + n));
    next.set(this.buf);
    this.buf = next;
    this.dv = new DataView(next.buffer);
  }
  put(n: number, f: (dv: DataView, at: number) => void) {
    this.grow(n);
    f(this.dv, this.pos);
    this.pos += n;
  }
  bytes(b: Uint8Array) {
    this.grow(b.byteLength);
    this.buf.set(b, this.pos);
    this.pos += b.byteLength;
  }
  u32(v: number) { this.put(4, (d, a) => d.setUint32(a, v, true)); }
  u64(v: number | bigint) { this.put(8, (d, a) => d.setBigUint64(a, BigInt(v), true)); }
  string(s: string) {
    const b = new TextEncoder().encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  padTo(alignment: number) {
    const n = Math.ceil(this.pos / alignment) * alignment - this.pos;
    this.grow(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }
  result() { return this.buf.slice(0, this.pos); }
}

function writeValue(o: Out, type: GgufValueType, v: GgufValue, key: string): void {
  const num = () => {
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new RangeError(`metadata ${key}: ${String(v)} is not a number`);
    return v;
  };
  switch (type) {
    case GGUF_VALUE.UINT8: o.put(1, (d, a) => d.setUint8(a, Number(num()))); break;
    case GGUF_VALUE.INT8: o.put(1, (d, a) => d.setInt8(a, Number(num()))); break;
    case GGUF_VALUE.UINT16: o.put(2, (d, a) => d.setUint16(a, Number(num()), true)); break;
    case GGUF_VALUE.INT16: o.put(2, (d, a) => d.setInt16(a, Number(num()), true)); break;
    case GGUF_VALUE.UINT32: o.put(4, (d, a) => d.setUint32(a, Number(num()), true)); break;
    case GGUF_VALUE.INT32: o.put(4, (d, a) => d.setInt32(a, Number(num()), true)); break;
    case GGUF_VALUE.FLOAT32: o.put(4, (d, a) => d.setFloat32(a, Number(num()), true)); break;
    case GGUF_VALUE.FLOAT64: o.put(8, (d, a) => d.setFloat64(a, Number(num()), true)); break;
    case GGUF_VALUE.UINT64: o.put(8, (d, a) => d.setBigUint64(a, BigInt(num()), true)); break;
    case GGUF_VALUE.INT64: o.put(8, (d, a) => d.setBigInt64(a, BigInt(num()), true)); break;
    case GGUF_VALUE.BOOL: o.put(1, (d, a) => d.setUint8(a, v ? 1 : 0)); break;
    case GGUF_VALUE.STRING: o.string(String(v)); break;
    default: throw new RangeError(`metadata ${key}: cannot write value type ${type}`);
  }
}

/** A whole GGUF file (version 3): header, metadata, tensor infos, then each tensor's data at `alignment`. */
export function writeGguf(metadata: GgufMetadataInput, tensors: readonly GgufTensorInput[], alignment = GGUF_DEFAULT_ALIGNMENT): Uint8Array {
  const entries = Object.entries(metadata).map(([k, v]) => [k, entryOf(v)] as const);
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !entries.some(([k]) => k === 'general.alignment')) entries.push(['general.alignment', { type: GGUF_VALUE.UINT32, value: alignment }]);
  const o = new Out();
  o.u32(GGUF_MAGIC);
  o.u32(3);
  o.u64(tensors.length);
  o.u64(entries.length);
  for (const [key, e] of entries) {
    o.string(key);
    o.u32(e.type);
    if (e.type === GGUF_VALUE.ARRAY) {
      const items = e.value as GgufValue[];
      o.u32(e.itemType!);
      o.u64(items.length);
      for (const x of items) writeValue(o, e.itemType!, x, key);
    } else {
      writeValue(o, e.type, e.value, key);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    const bytes = ggmlTensorBytes(t.type, t.dims);
    if (t.data.byteLength !== bytes) throw new RangeError(`tensor "${t.name}": ${t.data.byteLength} bytes, ${t.type} [${t.dims.join(', ')}] needs ${bytes}`);
    o.string(t.name);
    o.u32(t.dims.length);
    for (const d of t.dims) o.u64(d);
    o.u32(GGML_TYPE[t.type]);
    o.u64(offset);
    offsets.push(offset);
    offset = Math.ceil((offset + bytes) / alignment) * alignment;
  }
  o.padTo(alignment);
  tensors.forEach((t) => {
    o.bytes(t.data);
    o.padTo(alignment);
  });
  return o.result();
}
