// The safetensors element types webmoe reads, and their decoding to float. Bulk loops work on typed-array
// views (little-endian, like every platform Node and browsers run on) rather than a DataView per element.
import { f16ToF32, e4m3ToF32, e8m0ToF32, quantizeRows } from 'webmoe/model';

/**
 * F8_E8M0: power-of-two scales (DeepSeek-V4's `.scale` tensors); I8: in V4 releases, FP4 E2M1 weights packed
 * two per byte (decoded here as plain integers; the checkpoint reader unpacks them); I64: integer tables
 * (V4's tid2eid).
 */
export type Dtype = 'BF16' | 'F16' | 'F32' | 'F8_E4M3' | 'F8_E8M0' | 'I8' | 'I64';
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = { BF16: 2, F16: 2, F32: 4, F8_E4M3: 1, F8_E8M0: 1, I8: 1, I64: 8 };
export const DTYPES = Object.keys(DTYPE_BYTES) as Dtype[];

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s);
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('webmoe converter: big-endian platforms are not supported');

let f16Table: Float32Array | null = null;
let e4m3Table: Float32Array | null = null;
let e8m0Table: Float32Array | null = null;

function halfTable(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
  }
  return f16Table;
}

export function e4m3Table256(): Float32Array {
  if (!e4m3Table) {
    e4m3Table = new Float32Array(256);
    for (let b = 0; b < 256; b++) e4m3Table[b] = e4m3ToF32(b);
  }
  return e4m3Table;
}

function e8m0Table256(): Float32Array {
  if (!e8m0Table) e8m0Table = Float32Array.from({ length: 256 }, (_, b) => e8m0ToF32(b));
  return e8m0Table;
}

/** A typed-array view of `bytes` with element size `size`, copying only when the view would be misaligned. */
function view<T>(bytes: Uint8Array, size: number, make: (b: ArrayBuffer, o: number, n: number) => T): T {
  const n = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return make(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  return make(bytes.slice().buffer as ArrayBuffer, 0, n);
}

export const u16View = (b: Uint8Array) => view(b, 2, (buf, o, n) => new Uint16Array(buf, o, n));
export const f32View = (b: Uint8Array) => view(b, 4, (buf, o, n) => new Float32Array(buf, o, n));
export const i64View = (b: Uint8Array) => view(b, 8, (buf, o, n) => new BigInt64Array(buf, o, n));

/**
 * Decodes raw elements to float. F8_E4M3 bytes are decoded without their block scales and I8 as integers
 * (the checkpoint applies scales and unpacks FP4); `out` may be a Float64Array, which holds every dtype
 * exactly (I64 up to 2^53).
 */
export function decodeInto(dtype: Dtype, bytes: Uint8Array, out: Float32Array | Float64Array): void {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  if (out.length < n) throw new RangeError(`decodeInto: ${n} elements do not fit in ${out.length}`);
  switch (dtype) {
    case 'BF16': {
      const src = u16View(bytes);
      if (out instanceof Float32Array) {
        // bf16 is the top half of an f32: shift the bits into place, no float math.
        const dst = new Int32Array(out.buffer, out.byteOffset, n); // Int32: `<<` yields int32, no conversion
        for (let i = 0; i < n; i++) dst[i] = src[i] << 16;
      } else {
        const tmp = new Float32Array(n);
        decodeInto(dtype, bytes, tmp);
        out.set(tmp);
      }
      break;
    }
    case 'F16': {
      const src = u16View(bytes);
      const t = halfTable();
      for (let i = 0; i < n; i++) out[i] = t[src[i]];
      break;
    }
    case 'F32':
      out.set(f32View(bytes));
      break;
    case 'F8_E4M3': {
      const t = e4m3Table256();
      for (let i = 0; i < n; i++) out[i] = t[bytes[i]];
      break;
    }
    case 'F8_E8M0': {
      const t = e8m0Table256();
      for (let i = 0; i < n; i++) out[i] = t[bytes[i]];
      break;
    }
    case 'I8':
      for (let i = 0; i < n; i++) out[i] = (bytes[i] << 24) >> 24;
      break;
    case 'I64': {
      const src = i64View(bytes);
      for (let i = 0; i < n; i++) out[i] = Number(src[i]);
      break;
    }
  }
}

/** f32 values → BF16 bytes, round to nearest even: the engine's bf16 quantizer (a value beyond bf16's range is a RangeError). */
export function encodeBf16(values: Float32Array): Uint8Array {
  return quantizeRows('bf16', values, 1, values.length).q;
}
