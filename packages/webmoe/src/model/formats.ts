// Weight formats: how a tensor's bytes are laid out in a shard and in GPU memory (the same bytes: loading
// is a copy), and the CPU dequantization that defines what those bytes mean. Kernels read these layouts
// directly and dequantize in registers.
//
// A tensor is a matrix [rows, cols] = [out, in] (1-D tensors are one row). Its byte range holds one or
// more sections, each starting on a 16-byte boundary; the whole range is a multiple of 16 bytes:
//
//   f32  q: f32 [rows][cols]
//   f16  q: IEEE half [rows][cols], element i in the low half of 32-bit word i/2 when i is even
//   bf16 q: bfloat16 [rows][cols], placed as f16 (w = the f32 whose high half is the bf16 bits)
//   q8   q: int8 [rows][G·32], scales: f16 [rows][G]          w = q · scale      (G = ceil(cols/32); padding is 0)
//   q4   q: uint4 [rows][G·32], 8 per 32-bit word, element j of a word in bits 4j..4j+3
//        scales: f16 [rows][G], mins: f16 [rows][G]         w = q · scale + min  (q in 0..15)
//   fp8  q: e4m3 bytes [rows][cols], scales: f32 [ceil(rows/128)][ceil(cols/128)]
//                                                            w = e4m3(q) · scale (DeepSeek's weight_scale_inv;
//                                                            V4's E8M0 `.scale` bytes are powers of two, exact in f32)
//   fp4  q: e2m1 nibbles [rows][G·32], element 2j of a row in the low nibble of byte j and 2j+1 in the high
//        one (DeepSeek-V4's packing of its experts; as q4, element k of a 32-bit word in bits 4k..4k+3);
//        scales: e8m0 bytes [rows][G]                      w = e2m1(q) · 2^(scale − 127)
//   u32  q: u32 [rows][cols]: an integer table (V4's tid2eid), not a weight of a product
//   q8_0, q4_0, q4_k, q5_k, q6_k  q: llama.cpp's (GGUF's) blocks as they are, each row ceil(cols/B) whole
//        blocks (B = 32 for q8_0/q4_0, 256 for the K-quants, which need cols a multiple of 256); the block
//        layouts and their dequantization are docs/gguf.md#block-formats
//
// The matrix products read every format of PRODUCT_FORMATS through its own dequantization piece,
// shaders/lib/dequant-<format>.wgsl (docs/kernels.md#composed-shader-sources).
// bf16 stores BF16 checkpoint tensors losslessly at half of f32's bytes (the router weight). fp4 holds
// V4's FP4 experts as released, bit for bit.

/** llama.cpp's block formats, kept as a GGUF file stores them (docs/gguf.md#block-formats). */
export type GgmlBlockFormat = 'q8_0' | 'q4_0' | 'q4_k' | 'q5_k' | 'q6_k';
export const GGML_BLOCK_FORMATS: readonly GgmlBlockFormat[] = ['q8_0', 'q4_0', 'q4_k', 'q5_k', 'q6_k'];
export type WeightFormat = 'f32' | 'f16' | 'q8' | 'q4' | 'fp8' | 'bf16' | 'fp4' | 'u32' | GgmlBlockFormat;
/** webmoe's own weight formats, the ones a conversion quantizes into (`quant`); matrix products read them all. */
export const WEIGHT_FORMATS: readonly WeightFormat[] = ['f32', 'f16', 'q8', 'q4', 'fp8', 'bf16', 'fp4'];
/** Every format matrix products read: webmoe's own and llama.cpp's blocks kept from GGUF files (u32 tables are not among them). */
export const PRODUCT_FORMATS: readonly WeightFormat[] = [...WEIGHT_FORMATS, ...GGML_BLOCK_FORMATS];
/** Every format a manifest tensor may have. */
export const TENSOR_FORMATS: readonly WeightFormat[] = [...PRODUCT_FORMATS, 'u32'];

export const GROUP = 32;
export const FP8_BLOCK = 128;

export interface Section {
  /** Byte offset from the start of the tensor. */
  offset: number;
  bytes: number;
}

export interface TensorLayout {
  format: WeightFormat;
  rows: number;
  cols: number;
  q: Section;
  scales: Section | null;
  mins: Section | null;
  /** Total bytes, a multiple of 16. */
  bytes: number;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

/** Bits per weight of each format for a [rows, cols] matrix whose sizes are multiples of the group/block. */
export const BITS_PER_WEIGHT: Record<WeightFormat, number> = {
  f32: 32,
  f16: 16,
  q8: 8 + 16 / GROUP,
  q4: 4 + 32 / GROUP,
  fp8: 8 + 32 / (FP8_BLOCK * FP8_BLOCK),
  bf16: 16,
  fp4: 4 + 8 / GROUP,
  u32: 32,
  q8_0: (34 * 8) / 32,
  q4_0: (18 * 8) / 32,
  q4_k: (144 * 8) / 256,
  q5_k: (176 * 8) / 256,
  q6_k: (210 * 8) / 256,
};

/** Values per block and bytes per block of each llama.cpp block format. */
export const GGML_BLOCKS: Record<GgmlBlockFormat, { values: number; bytes: number }> = {
  q8_0: { values: 32, bytes: 34 },
  q4_0: { values: 32, bytes: 18 },
  q4_k: { values: 256, bytes: 144 },
  q5_k: { values: 256, bytes: 176 },
  q6_k: { values: 256, bytes: 210 },
};

export function isGgmlBlockFormat(format: string): format is GgmlBlockFormat {
  return Object.hasOwn(GGML_BLOCKS, format);
}

/**
 * Whether a row of `cols` values can be stored in `format`: the K-quants' 6-bit sub-block scales cover
 * whole blocks of 256, so they need cols a multiple of 256 (as llama.cpp does); every other format takes
 * any width (q8_0 and q4_0 pad a row's last block with zero codes).
 */
export function formatFitsCols(format: WeightFormat, cols: number): boolean {
  return !isGgmlBlockFormat(format) || GGML_BLOCKS[format].values === 32 || cols % 256 === 0;
}

export function groupsPerRow(cols: number): number {
  return Math.ceil(cols / GROUP);
}

export function tensorLayout(format: WeightFormat, shape: readonly number[]): TensorLayout {
  const rows = shape.length === 1 ? 1 : shape[0];
  const cols = shape.length === 1 ? shape[0] : shape[1];
  if (shape.length < 1 || shape.length > 2 || !(rows > 0) || !(cols > 0)) throw new RangeError(`tensorLayout: unsupported shape [${shape.join(', ')}]`);
  const sections: { q: number; scales?: number; mins?: number } = { q: 0 };
  const G = groupsPerRow(cols);
  switch (format) {
    case 'f32':
    case 'u32': sections.q = rows * cols * 4; break;
    case 'f16':
    case 'bf16': sections.q = rows * cols * 2; break;
    case 'q8': sections.q = rows * G * GROUP; sections.scales = rows * G * 2; break;
    case 'q4': sections.q = rows * G * GROUP / 2; sections.scales = rows * G * 2; sections.mins = rows * G * 2; break;
    case 'fp8': sections.q = rows * cols; sections.scales = Math.ceil(rows / FP8_BLOCK) * Math.ceil(cols / FP8_BLOCK) * 4; break;
    case 'fp4': sections.q = rows * G * GROUP / 2; sections.scales = rows * G; break;
    default: {
      const b = GGML_BLOCKS[format];
      if (!formatFitsCols(format, cols)) throw new RangeError(`tensorLayout: ${format} needs columns a multiple of 256 (whole K-quant blocks), got [${shape.join(', ')}]`);
      sections.q = rows * Math.ceil(cols / b.values) * b.bytes;
    }
  }
  let offset = 0;
  const place = (bytes: number | undefined): Section | null => {
    if (bytes === undefined) return null;
    const s = { offset, bytes };
    offset = align16(offset + bytes);
    return s;
  };
  const q = place(sections.q)!;
  const scales = place(sections.scales);
  const mins = place(sections.mins);
  return { format, rows, cols, q, scales, mins, bytes: offset };
}

// ---------------------------------------------------------------------------------------------------
// Scalar conversions
// ---------------------------------------------------------------------------------------------------

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);

export function bf16ToF32(bits: number): number {
  u32buf[0] = (bits & 0xffff) << 16;
  return f32buf[0];
}

export function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Round to nearest even; overflows to ±Infinity like IEEE. */
export function f32ToF16(v: number): number {
  f32buf[0] = v;
  const x = u32buf[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 31) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

/** OCP FP8 E4M3 (the "fn" variant): bias 7, no infinities, 0x7F/0xFF are NaN, max 448. */
export function e4m3ToF32(b: number): number {
  const s = b & 0x80 ? -1 : 1;
  const e = (b >> 3) & 0xf;
  const m = b & 0x7;
  if (e === 0xf && m === 0x7) return NaN;
  if (e === 0) return s * (m / 8) * 2 ** -6;
  return s * (1 + m / 8) * 2 ** (e - 7);
}

/** OCP FP4 E2M1 nibble: sign in bit 3, then 2 exponent bits and 1 mantissa bit (0, ±0.5 … ±6, no NaN). */
export function e2m1ToF32(nibble: number): number {
  const m = E2M1_VALUES[nibble & 7];
  return nibble & 8 ? -m : m;
}

/** The magnitudes of E2M1 codes 0 … 7. */
export const E2M1_VALUES: readonly number[] = [0, 0.5, 1, 1.5, 2, 3, 4, 6];

/** OCP E8M0 scale byte: 2^(b − 127), b = 255 is NaN. Every value is exact in f32 (2^-127 as a subnormal). */
export function e8m0ToF32(b: number): number {
  return b === 255 ? NaN : 2 ** (b - 127);
}

// ---------------------------------------------------------------------------------------------------
// Dequantization (the definition of each format; kernels must agree with it)
// ---------------------------------------------------------------------------------------------------

/** Dequantizes a whole tensor from its bytes (laid out by tensorLayout) into row-major f32 (u32 tables: exact below 2^24). */
export function dequantize(layout: TensorLayout, bytes: Uint8Array): Float32Array {
  const { rows, cols } = layout;
  if (bytes.byteLength < layout.bytes) throw new RangeError(`dequantize: ${bytes.byteLength} bytes, layout needs ${layout.bytes}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(rows * cols);
  const G = groupsPerRow(cols);
  const q = layout.q.offset;
  switch (layout.format) {
    case 'f32':
      for (let i = 0; i < rows * cols; i++) out[i] = dv.getFloat32(q + 4 * i, true);
      break;
    case 'u32':
      for (let i = 0; i < rows * cols; i++) out[i] = dv.getUint32(q + 4 * i, true);
      break;
    case 'f16':
      for (let i = 0; i < rows * cols; i++) out[i] = f16ToF32(dv.getUint16(q + 2 * i, true));
      break;
    case 'bf16':
      for (let i = 0; i < rows * cols; i++) out[i] = bf16ToF32(dv.getUint16(q + 2 * i, true));
      break;
    case 'q8': {
      const sc = layout.scales!.offset;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const g = r * G + Math.floor(c / GROUP);
          out[r * cols + c] = dv.getInt8(q + r * G * GROUP + c) * f16ToF32(dv.getUint16(sc + 2 * g, true));
        }
      }
      break;
    }
    case 'q4': {
      const sc = layout.scales!.offset;
      const mn = layout.mins!.offset;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const g = r * G + Math.floor(c / GROUP);
          const i = r * G * GROUP + c;
          const nib = (dv.getUint8(q + (i >> 1)) >> ((i & 1) * 4)) & 0xf;
          out[r * cols + c] = nib * f16ToF32(dv.getUint16(sc + 2 * g, true)) + f16ToF32(dv.getUint16(mn + 2 * g, true));
        }
      }
      break;
    }
    case 'fp8': {
      const sc = layout.scales!.offset;
      const bc = Math.ceil(cols / FP8_BLOCK);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const s = dv.getFloat32(sc + 4 * (Math.floor(r / FP8_BLOCK) * bc + Math.floor(c / FP8_BLOCK)), true);
          out[r * cols + c] = e4m3ToF32(dv.getUint8(q + r * cols + c)) * s;
        }
      }
      break;
    }
    case 'fp4': {
      const sc = layout.scales!.offset;
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const byte = dv.getUint8(q + r * G * (GROUP / 2) + (c >> 1));
          out[r * cols + c] = e2m1ToF32(c & 1 ? byte >> 4 : byte & 15) * e8m0ToF32(dv.getUint8(sc + r * G + Math.floor(c / GROUP)));
        }
      }
      break;
    }
    default:
      dequantizeBlocks(layout.format, rows, cols, dv, q, out);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// llama.cpp's blocks (docs/gguf.md#block-formats)
// ---------------------------------------------------------------------------------------------------

/** Sub-block j's 6-bit scale and min of a q4_k/q5_k block whose 12 scale bytes start at `at`. */
export function kScaleMin(dv: DataView, at: number, j: number): [number, number] {
  const b = (i: number) => dv.getUint8(at + i);
  if (j < 4) return [b(j) & 63, b(j + 4) & 63];
  return [(b(j + 4) & 15) | ((b(j - 4) >> 6) << 4), (b(j + 4) >> 4) | ((b(j) >> 6) << 4)];
}

/** Decodes rows of whole blocks starting at byte `q` of `dv` into `out` (row-major, `cols` wide). */
function dequantizeBlocks(format: WeightFormat, rows: number, cols: number, dv: DataView, q: number, out: Float32Array): void {
  const { values: B, bytes } = GGML_BLOCKS[format as GgmlBlockFormat];
  const perRow = Math.ceil(cols / B);
  const block = new Float32Array(B);
  const h = (at: number) => f16ToF32(dv.getUint16(at, true));
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < perRow; k++) {
      const o = q + (r * perRow + k) * bytes;
      switch (format) {
        case 'q8_0': for (let i = 0; i < 32; i++) block[i] = h(o) * dv.getInt8(o + 2 + i); break;
        case 'q4_0':
          for (let i = 0; i < 16; i++) {
            const byte = dv.getUint8(o + 2 + i);
            block[i] = h(o) * ((byte & 15) - 8);
            block[i + 16] = h(o) * ((byte >> 4) - 8);
          }
          break;
        case 'q4_k':
        case 'q5_k': {
          const five = format === 'q5_k';
          const qs = o + (five ? 48 : 16);
          for (let s = 0; s < 8; s++) {
            const [sc, m] = kScaleMin(dv, o + 4, s);
            for (let l = 0; l < 32; l++) {
              const code = ((dv.getUint8(qs + 32 * (s >> 1) + l) >> (4 * (s & 1))) & 15) + (five ? ((dv.getUint8(o + 16 + l) >> s) & 1) * 16 : 0);
              block[32 * s + l] = h(o) * sc * code - h(o + 2) * m;
            }
          }
          break;
        }
        case 'q6_k':
          for (let i = 0; i < 256; i++) {
            const half = i >> 7;
            const part = (i & 127) >> 5;
            const l = i & 31;
            const low = (dv.getUint8(o + 64 * half + 32 * (part & 1) + l) >> (4 * (part >> 1))) & 15;
            const high = (dv.getUint8(o + 128 + 32 * half + l) >> (2 * part)) & 3;
            block[i] = h(o + 208) * dv.getInt8(o + 192 + 8 * half + (l >> 4) + 2 * part) * ((low | (high << 4)) - 32);
          }
          break;
      }
      const n = Math.min(B, cols - k * B);
      out.set(block.subarray(0, n), r * cols + k * B);
    }
  }
}
