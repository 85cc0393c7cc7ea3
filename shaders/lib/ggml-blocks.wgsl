// Byte access for llama.cpp's blocks kept from GGUF files (docs/gguf.md#block-formats): their sizes (34,
// 18, 210 bytes) are not all multiples of 4, so a block's fields start at any even byte of the tensor.

/** The 4 bytes of the tensor starting at byte `b` (any alignment), the first in the low byte. */
fn bytes4(wp: Words, t: Tensor, b: u32) -> u32 {
  let i = t.q + (b >> 2u);
  let sh = (b & 3u) * 8u;
  if (sh == 0u) { return (*wp)[i]; }
  return ((*wp)[i] >> sh) | ((*wp)[i + 1u] << (32u - sh));
}

/** Byte `b` of the tensor. */
fn byte_at(wp: Words, t: Tensor, b: u32) -> u32 {
  return ((*wp)[t.q + (b >> 2u)] >> ((b & 3u) * 8u)) & 0xffu;
}

/** The f16 at even byte `b` of the tensor. */
fn f16_at(wp: Words, t: Tensor, b: u32) -> f32 {
  return unpack2x16float((*wp)[t.q + (b >> 2u)] >> ((b & 2u) * 8u)).x;
}

/** Four bytes' low (shift 0) or high (shift 4) nibbles. */
fn nibbles4(v: u32, shift: u32) -> vec4<f32> {
  return vec4<f32>((vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(shift))) & vec4<u32>(15u));
}

/** Four bytes as signed 8-bit integers. */
fn i8x4(v: u32) -> vec4<f32> {
  return vec4<f32>(bitcast<vec4<i32>>(vec4<u32>(v) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u));
}

/**
 * Sub-block j's 6-bit scale and min (q4_k, q5_k) of the block at byte `b`, whose 12 scale bytes start at
 * b + 4: sub-blocks 0–3 in the low 6 bits of bytes 0–3 and 4–7; 4–7 in the nibbles of bytes 8–11 with
 * their top 2 bits in the top bits of bytes 0–3 (scales) and 4–7 (mins).
 */
fn k_scale_min(wp: Words, t: Tensor, b: u32, j: u32) -> vec2<f32> {
  if (j < 4u) {
    return vec2<f32>(f32(byte_at(wp, t, b + 4u + j) & 63u), f32(byte_at(wp, t, b + 8u + j) & 63u));
  }
  let x = byte_at(wp, t, b + 8u + j);
  let s = (x & 15u) | ((byte_at(wp, t, b + j) >> 6u) << 4u);
  let m = (x >> 4u) | ((byte_at(wp, t, b + 4u + j) >> 6u) << 4u);
  return vec2<f32>(f32(s), f32(m));
}
