// The kernel tests' own decoder of the weight formats (docs/model-folder.md#formats), in float64 and
// sharing no code with the engine's model/formats.ts: the tests quantize their inputs with the engine and
// compute the expected products from what this decoder reads back, so a wrong layout or a wrong decode on
// either side shows. Only the section offsets come from the tensor's layout (they are the launch's input).
import type { TensorLayout } from 'webmoe';
import { blockElementF64, isGgufBlockFormatF64 } from 'webmoe/model';

/**
 * A binary float of `e` exponent bits (bias 2^(e-1) - 1) and `m` mantissa bits, the sign above them.
 * `ieee`: the top exponent is infinity/NaN. Otherwise (OCP E4M3, E2M1) every code is finite, except the
 * all-ones magnitude when `nanAtMax`.
 */
function minifloat(bits: number, e: number, m: number, o: { ieee?: boolean; nanAtMax?: boolean } = {}): number {
  const bias = 2 ** (e - 1) - 1;
  const sign = (bits >> (e + m)) & 1 ? -1 : 1;
  const exp = (bits >> m) & (2 ** e - 1);
  const frac = (bits & (2 ** m - 1)) / 2 ** m;
  if (o.ieee && exp === 2 ** e - 1) return frac ? NaN : sign * Infinity;
  if (o.nanAtMax && exp === 2 ** e - 1 && frac * 2 ** m === 2 ** m - 1) return NaN;
  return exp === 0 ? sign * frac * 2 ** (1 - bias) : sign * (1 + frac) * 2 ** (exp - bias);
}

const half = (b: number) => minifloat(b, 5, 10, { ieee: true });
const brain = (b: number) => minifloat(b, 8, 7, { ieee: true });
const e4m3 = (b: number) => minifloat(b, 4, 3, { nanAtMax: true });
const e2m1 = (b: number) => minifloat(b, 2, 1);
const e8m0 = (b: number) => (b === 255 ? NaN : 2 ** (b - 127));

type Element = (r: number, c: number) => number;

/** W[r, c] of a tensor in `bytes` (laid out from byte 0), for every weight format the kernels read. */
export function weightReader(layout: TensorLayout, bytes: Uint8Array): Element {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { cols } = layout;
  const q = layout.q.offset;
  const sc = layout.scales?.offset ?? 0;
  const mn = layout.mins?.offset ?? 0;
  // Codes padded to whole groups of 32 per row (q8, q4, fp4), and the group of (r, c).
  const padded = (r: number, c: number) => r * Math.ceil(cols / 32) * 32 + c;
  const group = (r: number, c: number) => r * Math.ceil(cols / 32) + Math.floor(c / 32);
  const u16 = (at: number) => view.getUint16(at, true);
  const nibble = (i: number) => (view.getUint8(q + Math.floor(i / 2)) >> (4 * (i % 2))) & 15;
  const readers: Partial<Record<TensorLayout['format'], Element>> = {
    f32: (r, c) => view.getFloat32(q + 4 * (r * cols + c), true),
    f16: (r, c) => half(u16(q + 2 * (r * cols + c))),
    bf16: (r, c) => brain(u16(q + 2 * (r * cols + c))),
    q8: (r, c) => view.getInt8(q + padded(r, c)) * half(u16(sc + 2 * group(r, c))),
    q4: (r, c) => nibble(padded(r, c)) * half(u16(sc + 2 * group(r, c))) + half(u16(mn + 2 * group(r, c))),
    fp8: (r, c) => e4m3(view.getUint8(q + r * cols + c)) * view.getFloat32(sc + 4 * (Math.floor(r / 128) * Math.ceil(cols / 128) + Math.floor(c / 128)), true),
    fp4: (r, c) => e2m1(nibble(padded(r, c))) * e8m0(view.getUint8(sc + group(r, c))),
  };
  // llama.cpp's blocks: the element-wise oracle written from docs/gguf.md (model/decode-gguf-f64.ts, no code shared with formats.ts).
  if (isGgufBlockFormatF64(layout.format)) return (r, c) => blockElementF64(layout.format, bytes.subarray(q), cols, r, c);
  const read = readers[layout.format];
  if (!read) throw new Error(`weights-ref: no decoder for ${layout.format}`);
  return read;
}

/** The whole tensor, row-major, in float64. */
export function decodeWeights(layout: TensorLayout, bytes: Uint8Array): Float64Array {
  const read = weightReader(layout, bytes);
  const out = new Float64Array(layout.rows * layout.cols);
  for (let r = 0; r < layout.rows; r++) for (let c = 0; c < layout.cols; c++) out[r * layout.cols + c] = read(r, c);
  return out;
}
