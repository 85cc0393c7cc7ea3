// An independent float64 decoding of llama.cpp's block formats, element by element from the block tables
// of docs/gguf.md#block-formats (field offsets spelt out here, f16 decoded from its bits), sharing no code
// with formats.ts: the oracle for the block formats' dequantization, quantizers and kernels.

const BLOCK: Record<string, [values: number, bytes: number]> = {
  q8_0: [32, 34], q4_0: [32, 18], q4_k: [256, 144], q5_k: [256, 176], q6_k: [256, 210],
};

function f16(bits: number): number {
  const sign = bits >> 15 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  if (e === 31) return m ? NaN : sign * Infinity;
  return e ? sign * 2 ** (e - 15) * (1 + m / 1024) : sign * 2 ** -14 * (m / 1024);
}

/** Whether `format` is one of the block formats this file decodes. */
export function isGgufBlockFormatF64(format: string): boolean {
  return Object.hasOwn(BLOCK, format);
}

/** Bytes of a [rows, cols] tensor of whole blocks, padded to 16. */
export function blockTensorBytesF64(format: string, rows: number, cols: number): number {
  const [n, b] = BLOCK[format];
  return (Math.ceil((rows * Math.ceil(cols / n) * b) / 16)) * 16;
}

/** Value (r, c) of a tensor of `format` blocks, `cols` values per row. */
export function blockElementF64(format: string, bytes: Uint8Array, cols: number, r: number, c: number): number {
  const [n, size] = BLOCK[format];
  const base = (r * Math.ceil(cols / n) + Math.floor(c / n)) * size;
  const at = (i: number) => bytes[base + i];
  const i8 = (i: number) => (at(i) >= 128 ? at(i) - 256 : at(i));
  const h = (i: number) => f16(at(i) + 256 * at(i + 1));
  const j = c % n;
  switch (format) {
    case 'q8_0': return h(0) * i8(2 + j);
    case 'q4_0': return h(0) * ((j < 16 ? at(2 + j) % 16 : Math.floor(at(2 + j - 16) / 16)) - 8);
    case 'q6_k': {
      // Quarter p of half g: element 128g + 32p + l; low nibble in ql (bytes 0..127), 2 high bits in qh (128..191).
      const g = Math.floor(j / 128);
      const p = Math.floor((j % 128) / 32);
      const l = j % 32;
      const lowByte = at(64 * g + 32 * (p % 2) + l);
      const low = p < 2 ? lowByte % 16 : Math.floor(lowByte / 16);
      const high = Math.floor(at(128 + 32 * g + l) / 4 ** p) % 4;
      return h(208) * i8(192 + Math.floor(j / 16)) * (low + 16 * high - 32);
    }
    default: {
      // q4_k, q5_k: sub-block s of 32; 6-bit scale/min: s < 4 from bytes 4+s and 8+s, else split over 12+(s−4) and the top bits.
      const s = Math.floor(j / 32);
      const l = j % 32;
      const top = (i: number) => Math.floor(at(4 + i) / 64);
      const scale = s < 4 ? at(4 + s) % 64 : (at(12 + s - 4) % 16) + 16 * top(s - 4);
      const min = s < 4 ? at(8 + s) % 64 : Math.floor(at(12 + s - 4) / 16) + 16 * top(s);
      const five = format === 'q5_k';
      const qs = five ? 48 : 16;
      const byte = at(qs + 32 * Math.floor(s / 2) + l);
      let q = s % 2 === 0 ? byte % 16 : Math.floor(byte / 16);
      if (five) q += 16 * (Math.floor(at(16 + l) / 2 ** s) % 2);
      return h(0) * scale * q - h(2) * min;
    }
  }
}
