// The scalar number formats model files use, decoded from their bit definitions into exact float64 values.
// Every value of these formats is exactly representable in float64.

const f32View = new DataView(new ArrayBuffer(4));

/** bfloat16: the high 16 bits of an IEEE binary32. */
export function bf16Value(bits: number): number {
  f32View.setUint32(0, (bits & 0xffff) << 16);
  return f32View.getFloat32(0);
}

/** IEEE binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits. */
export function f16Value(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  if (e === 0x1f) return m === 0 ? sign * Infinity : NaN;
  return e === 0 ? sign * m * 2 ** -24 : sign * (1024 + m) * 2 ** (e - 25);
}

/** FP8 E4M3 ("fn": no infinities): 1 sign, 4 exponent (bias 7), 3 mantissa bits; S.1111.111 is NaN; max 448. */
export function e4m3Value(byte: number): number {
  const sign = byte & 0x80 ? -1 : 1;
  const e = (byte >> 3) & 0xf;
  const m = byte & 7;
  if (e === 0xf && m === 7) return NaN;
  return e === 0 ? sign * m * 2 ** -9 : sign * (8 + m) * 2 ** (e - 10);
}

/** E8M0: an exponent byte only, 2^(b − 127); 0xFF is NaN. DeepSeek's power-of-two ("ue8m0") scales. */
export function e8m0Value(byte: number): number {
  return byte === 0xff ? NaN : 2 ** (byte - 127);
}

/** FP4 E2M1: 1 sign, 2 exponent (bias 1), 1 mantissa bit: ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}. */
export function e2m1Value(nibble: number): number {
  const sign = nibble & 8 ? -1 : 1;
  const e = (nibble >> 1) & 3;
  const m = nibble & 1;
  return e === 0 ? sign * m * 0.5 : sign * (2 + m) * 2 ** (e - 2);
}
