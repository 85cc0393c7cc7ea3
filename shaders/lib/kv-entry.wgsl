// DeepSeek-V4's KV entries (docs/kernels.md#v4-kv-entries): one D-wide vector per window position or
// compressed block, whose last ROPE dims are rotated and whose first n = D − ROPE dims went through the
// FP8 round trip (E4M3 with a power-of-two scale per 64 values). With FP8 an entry is, in u32 words,
//   [n/4: the E4M3 codes of dims 0 … n−1, 4 per word, dim 4w in the low byte of word w]
//   [⌈n/256⌉: the E8M0 exponent byte of each block of 64 dims, 4 per word, block 4k in the low byte]
//   [ROPE: dims n … D−1 as f32 bits]
// — exact, because the round trip's values ARE code × 2^(byte − 127). Without FP8 it is D f32 values.
// packages/webmoe/src/kernels/v4-kv.ts `kvEntryWords` is the same layout on the CPU side.
//
// Needs in the main source: `override D: u32`, `override ROPE: u32`, `override FP8: bool`.

const KV_BLOCK: u32 = 64u;

fn kv_nope() -> u32 {
  return D - ROPE;
}

/** Word of an FP8 entry holding the exponent byte of block 4k … 4k+3 (k = word index among them). */
fn kv_exp_word() -> u32 {
  return kv_nope() / 4u;
}

/** Word of an entry holding rope dim 0 (dim n). */
fn kv_rope_word() -> u32 {
  if (FP8) { return kv_nope() / 4u + (kv_nope() / KV_BLOCK + 3u) / 4u; }
  return kv_nope();
}

fn kv_entry_words() -> u32 {
  return kv_rope_word() + ROPE;
}

/** The E8M0 scale 2^(b − 127) of byte b (1 ≤ b ≤ 254: a normal f32 made from the exponent bits alone). */
fn e8m0_scale(b: u32) -> f32 {
  return bitcast<f32>(b << 23u);
}

/** The E8M0 byte of a power of two s (normal f32). */
fn e8m0_byte(s: f32) -> u32 {
  return (bitcast<u32>(s) >> 23u) & 0xffu;
}

/**
 * The E4M3 code of v, a value of the E4M3 grid (|v| ≤ 448): the sign bit, then for normal values the
 * rebiased exponent (bias 7) and the top 3 mantissa bits, for subnormals (|v| < 2^-6) v / 2^-9.
 */
fn e4m3_code(v: f32) -> u32 {
  let bits = bitcast<u32>(v);
  let sign = (bits >> 24u) & 0x80u;
  let a = abs(v);
  if (a < 0.015625) { return sign | u32(a * 512.0); }
  return sign | (((bits & 0x7fffffffu) >> 20u) - 960u);
}

/**
 * Dims 4v … 4v+3 of an entry's non-rope part (v < n/4) from its word and the word holding its block's
 * exponent byte (word kv_exp_word() + v / 64 of the entry). Needs e4m3x4 (lib/dequant-fp8.wgsl).
 */
fn kv_fp8_vec4(word: u32, exp_word: u32, v: u32) -> vec4<f32> {
  let block = (4u * v) / KV_BLOCK;
  return e4m3x4(word) * e8m0_scale((exp_word >> (8u * (block % 4u))) & 0xffu);
}
