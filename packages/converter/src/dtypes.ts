// The safetensors element types webmoe reads, and their decoding to float. Bulk loops work on typed-array
// views (little-endian, like every platform Node and browsers run on) rather than a DataView per element.
import { f16ToF32, e4m3ToF32, quantizeRows } from './engine';

export type Dtype = 'BF16' | 'F16' | 'F32' | 'F8_E4M3';
export const DTYPE_BYTES: Readonly<Record<Dtype, number>> = { BF16: 2, F16: 2, F32: 4, F8_E4M3: 1 };
export const DTYPES = Object.keys(DTYPE_BYTES) as Dtype[];

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s);
}

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('webmoe converter: big-endian platforms are not supported');

let f16Table: Float32Array | null = null;
let e4m3Table: Float32Array | null = null;

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

/** A typed-array view of `bytes` with element size `size`, copying only when the view would be misaligned. */
function view<T>(bytes: Uint8Array, size: number, make: (b: ArrayBuffer, o: number, n: number) => T): T {
  const n = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) return make(bytes.buffer as ArrayBuffer, bytes.byteOffset, n);
  return make(bytes.slice().buffer as ArrayBuffer, 0, n);
}

export const u16View = (b: Uint8Array) => view(b, 2, (buf, o, n) => new Uint16Array(buf, o, n));
export const f32View = (b: Uint8Array) => view(b, 4, (buf, o, n) => new Float32Array(buf, o, n));

/**
 * Decodes raw elements to float. F8_E4M3 bytes are decoded without their block scales (the checkpoint
 * applies those); `out` may be a Float64Array, which holds every dtype exactly.
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
  }
}

/** f32 values → BF16 bytes, round to nearest even: the engine's bf16 quantizer (a value beyond bf16's range is a RangeError). */
export function encodeBf16(values: Float32Array): Uint8Array {
  return quantizeRows('bf16', values, 1, values.length).q;
}
