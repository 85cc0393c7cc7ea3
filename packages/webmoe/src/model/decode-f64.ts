// A second, independent decoding of every tensor format into float64, written from the format table of
// docs/model-folder.md (sign/exponent/mantissa arithmetic on the bits, its own section offsets) and
// sharing no code with formats.ts. It is the oracle the format, quantizer and converter tests compare
// formats.ts `dequantize` and the quantizers against; the engine does not use it.
import type { WeightFormat } from './formats';
import { blockElementF64, blockTensorBytesF64 } from './decode-gguf-f64';

const pad16 = (n: number) => (n + 15) & ~15;

/** sign · 2^(e − bias) · (1 + m/2^mbits), or the subnormal m/2^mbits · 2^(1 − bias) when e = 0. */
function minifloat(sign: number, e: number, m: number, mbits: number, bias: number): number {
  const frac = m / 2 ** mbits;
  const mag = e === 0 ? frac * 2 ** (1 - bias) : (1 + frac) * 2 ** (e - bias);
  return sign ? -mag : mag;
}

function half(h: number): number {
  const e = (h >> 10) & 31;
  if (e === 31) return (h & 0x3ff) ? NaN : h & 0x8000 ? -Infinity : Infinity;
  return minifloat(h & 0x8000, e, h & 0x3ff, 10, 15);
}

function bfloat(h: number): number {
  const e = (h >> 7) & 255;
  if (e === 255) return (h & 0x7f) ? NaN : h & 0x8000 ? -Infinity : Infinity;
  return minifloat(h & 0x8000, e, h & 0x7f, 7, 127);
}

function e4m3(b: number): number {
  return (b & 0x7f) === 0x7f ? NaN : minifloat(b & 0x80, (b >> 3) & 15, b & 7, 3, 7);
}

function e2m1(n: number): number {
  return minifloat(n & 8, (n >> 1) & 3, n & 1, 1, 1);
}

/** Decodes a tensor's bytes, laid out as `format` for `shape` ([rows, cols] or [cols]), into float64. */
export function decodeF64(format: WeightFormat, shape: readonly number[], bytes: Uint8Array): Float64Array {
  const rows = shape.length === 1 ? 1 : shape[0];
  const cols = shape[shape.length - 1];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(rows * cols);
  const groups = Math.ceil(cols / 32);
  const each = (f: (r: number, c: number) => number) => {
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = f(r, c);
  };
  switch (format) {
    case 'f32': each((r, c) => dv.getFloat32(4 * (r * cols + c), true)); break;
    case 'u32': each((r, c) => dv.getUint32(4 * (r * cols + c), true)); break;
    case 'f16': each((r, c) => half(dv.getUint16(2 * (r * cols + c), true))); break;
    case 'bf16': each((r, c) => bfloat(dv.getUint16(2 * (r * cols + c), true))); break;
    case 'q8': {
      const scales = pad16(rows * groups * 32);
      each((r, c) => dv.getInt8(r * groups * 32 + c) * half(dv.getUint16(scales + 2 * (r * groups + (c >> 5)), true)));
      break;
    }
    case 'q4': {
      const scales = pad16(rows * groups * 16);
      const mins = scales + pad16(rows * groups * 2);
      each((r, c) => {
        const i = r * groups * 32 + c;
        const g = 2 * (r * groups + (c >> 5));
        return ((dv.getUint8(i >> 1) >> (4 * (i & 1))) & 15) * half(dv.getUint16(scales + g, true)) + half(dv.getUint16(mins + g, true));
      });
      break;
    }
    case 'fp8': {
      const scales = pad16(rows * cols);
      const blockCols = Math.ceil(cols / 128);
      each((r, c) => e4m3(dv.getUint8(r * cols + c)) * dv.getFloat32(scales + 4 * ((r >> 7) * blockCols + (c >> 7)), true));
      break;
    }
    case 'fp4': {
      const scales = pad16(rows * groups * 16);
      each((r, c) => {
        const b = dv.getUint8(r * groups * 16 + (c >> 1));
        const s = dv.getUint8(scales + r * groups + (c >> 5));
        return e2m1(c % 2 === 0 ? b & 15 : b >> 4) * (s === 255 ? NaN : 2 ** (s - 127));
      });
      break;
    }
    default: each((r, c) => blockElementF64(format, bytes, cols, r, c));
  }
  return out;
}

/** The bytes a tensor of `format` and `shape` occupies, from the same table. */
export function tensorBytesF64(format: WeightFormat, shape: readonly number[]): number {
  const rows = shape.length === 1 ? 1 : shape[0];
  const cols = shape[shape.length - 1];
  const groups = Math.ceil(cols / 32);
  switch (format) {
    case 'f32':
    case 'u32': return pad16(4 * rows * cols);
    case 'f16':
    case 'bf16': return pad16(2 * rows * cols);
    case 'q8': return pad16(rows * groups * 32) + pad16(2 * rows * groups);
    case 'q4': return pad16(rows * groups * 16) + 2 * pad16(2 * rows * groups);
    case 'fp8': return pad16(rows * cols) + pad16(4 * Math.ceil(rows / 128) * Math.ceil(cols / 128));
    case 'fp4': return pad16(rows * groups * 16) + pad16(rows * groups);
    default: return blockTensorBytesF64(format, rows, cols);
  }
}
