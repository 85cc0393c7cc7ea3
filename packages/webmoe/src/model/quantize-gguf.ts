// CPU quantizers for llama.cpp's block formats (docs/gguf.md#block-formats): round to nearest per block,
// enough to write test GGUF files and to convert into these formats; llama.cpp's own quantizers search
// for better scales, which changes the codes but not what they mean. Error bounds, with S the effective
// scale of a value's (sub-)block after its f16 / 6-bit / 8-bit rounding:
//
//   q8_0  d = f16(amax/127), q = round(w/d) in −127..127:                    |ŵ−w| ≤ d/2 (+ clamp at ±127·d)
//   q4_0  d = f16(−m/8) (m the value of largest |w|), q = round(w/d)+8 in 0..15: |ŵ−w| ≤ |d|/2 (+ clamp)
//   q4_k  per 32: scale (max−min)/15, min −min(0, group min), both as 6-bit multiples of f16 super
//         scales d = max scale/63, dmin = max min/63; q in 0..15:             |ŵ−w| ≲ S/2 + dmin/2
//   q5_k  as q4_k with 31 levels, the fifth bit in qh
//   q6_k  per 16: scale amax/31 as an int8 multiple of d = f16(max |scale|/127); q in −32..31: |ŵ−w| ≲ S/2
import { GGML_BLOCKS, f16ToF32, f32ToF16, formatFitsCols, type GgmlBlockFormat } from './formats';

type Encoder = (x: Float64Array, dv: DataView, o: number) => void;

const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
/** v as an f16: its bits and the value they hold. */
const half = (v: number): [number, number] => {
  const h = f32ToF16(v);
  return [h, f16ToF32(h)];
};
const amaxOf = (x: Float64Array, from: number, to: number) => {
  let m = 0;
  for (let i = from; i < to; i++) m = Math.max(m, Math.abs(x[i]));
  return m;
};

const q8_0: Encoder = (x, dv, o) => {
  const [h, d] = half(amaxOf(x, 0, 32) / 127);
  dv.setUint16(o, h, true);
  for (let i = 0; i < 32; i++) dv.setInt8(o + 2 + i, d ? clamp(Math.round(x[i] / d), -127, 127) : 0);
};

const q4_0: Encoder = (x, dv, o) => {
  let m = 0;
  for (let i = 0; i < 32; i++) if (Math.abs(x[i]) > Math.abs(m)) m = x[i];
  const [h, d] = half(m / -8);
  dv.setUint16(o, h, true);
  const code = (v: number) => (d ? clamp(Math.round(v / d) + 8, 0, 15) : 8);
  for (let i = 0; i < 16; i++) dv.setUint8(o + 2 + i, code(x[i]) | (code(x[i + 16]) << 4));
};

/** q4_k (levels 15) and q5_k (31): 8 sub-blocks of 32 with 6-bit scales and mins. */
const kQuant = (levels: 15 | 31): Encoder => (x, dv, o) => {
  const scale = new Float64Array(8);
  const min = new Float64Array(8);
  for (let s = 0; s < 8; s++) {
    let lo = 0;
    let hi = -Infinity;
    for (let l = 0; l < 32; l++) {
      lo = Math.min(lo, x[32 * s + l]);
      hi = Math.max(hi, x[32 * s + l]);
    }
    scale[s] = (hi - lo) / levels;
    min[s] = -lo;
  }
  const [hd, d] = half(Math.max(...scale) / 63);
  const [hm, dmin] = half(Math.max(...min) / 63);
  dv.setUint16(o, hd, true);
  dv.setUint16(o + 2, hm, true);
  const sc = Array.from(scale, (v) => (d ? clamp(Math.round(v / d), 0, 63) : 0));
  const mn = Array.from(min, (v) => (dmin ? clamp(Math.round(v / dmin), 0, 63) : 0));
  for (let j = 0; j < 4; j++) {
    dv.setUint8(o + 4 + j, sc[j] | ((sc[j + 4] >> 4) << 6));
    dv.setUint8(o + 8 + j, mn[j] | ((mn[j + 4] >> 4) << 6));
    dv.setUint8(o + 12 + j, (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
  }
  const qs = o + (levels === 31 ? 48 : 16);
  for (let s = 0; s < 8; s++) {
    const S = d * sc[s];
    const M = dmin * mn[s];
    for (let l = 0; l < 32; l++) {
      const q = S ? clamp(Math.round((x[32 * s + l] + M) / S), 0, levels) : 0;
      const at = qs + 32 * (s >> 1) + l;
      dv.setUint8(at, dv.getUint8(at) | ((q & 15) << (4 * (s & 1))));
      if (levels === 31) dv.setUint8(o + 16 + l, dv.getUint8(o + 16 + l) | ((q >> 4) << s));
    }
  }
};

const q6_k: Encoder = (x, dv, o) => {
  const scale = Array.from({ length: 16 }, (_, s) => amaxOf(x, 16 * s, 16 * s + 16) / 31);
  const [hd, d] = half(Math.max(...scale) / 127);
  dv.setUint16(o + 208, hd, true);
  for (let s = 0; s < 16; s++) {
    const sc = d ? clamp(Math.round(scale[s] / d), -128, 127) : 0;
    dv.setInt8(o + 192 + s, sc);
    for (let i = 16 * s; i < 16 * s + 16; i++) {
      const q = (d * sc ? clamp(Math.round(x[i] / (d * sc)), -32, 31) : 0) + 32;
      const half128 = i >> 7;
      const part = (i & 127) >> 5;
      const l = i & 31;
      const lo = o + 64 * half128 + 32 * (part & 1) + l;
      const hi = o + 128 + 32 * half128 + l;
      dv.setUint8(lo, dv.getUint8(lo) | ((q & 15) << (4 * (part >> 1))));
      dv.setUint8(hi, dv.getUint8(hi) | ((q >> 4) << (2 * part)));
    }
  }
};

const ENCODERS: Record<GgmlBlockFormat, Encoder> = { q8_0, q4_0, q4_k: kQuant(15), q5_k: kQuant(31), q6_k };

/**
 * Quantizes `rows` rows of `cols` values (row-major) into whole blocks of `format`, ceil(cols/B) per row;
 * the last block of a row is padded with zeros. RangeError for a non-finite value or a width the format
 * cannot hold (formatFitsCols).
 */
export function quantizeBlocks(format: GgmlBlockFormat, values: ArrayLike<number>, rows: number, cols: number): Uint8Array {
  const { values: B, bytes } = GGML_BLOCKS[format];
  if (!formatFitsCols(format, cols)) throw new RangeError(`${format} needs columns a multiple of 256 (whole K-quant blocks), got ${cols}`);
  const perRow = Math.ceil(cols / B);
  const out = new Uint8Array(rows * perRow * bytes);
  const dv = new DataView(out.buffer);
  const x = new Float64Array(B);
  const encode = ENCODERS[format];
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < perRow; k++) {
      x.fill(0);
      for (let i = 0; i < B && k * B + i < cols; i++) {
        const v = values[r * cols + k * B + i];
        if (!Number.isFinite(v)) throw new RangeError(`non-finite value ${v} at row ${r}, column ${k * B + i}`);
        x[i] = v;
      }
      encode(x, dv, (r * perRow + k) * bytes);
    }
  }
  return out;
}
