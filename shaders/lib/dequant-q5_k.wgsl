// q5_k (llama.cpp): as q4_k with a fifth bit per value: blocks of 176 bytes, f16 d and dmin, 12 scale
// bytes, 32 bytes qh (bit s of byte l: value l of sub-block s), then the 128 bytes of low nibbles;
// w = d · scale · (q + 16·h) − dmin · min.

/** Bit `s` of four bytes, times 16. */
fn fifth4(v: u32, s: u32) -> vec4<f32> {
  return vec4<f32>(((vec4<u32>(v) >> (vec4<u32>(0u, 8u, 16u, 24u) + vec4<u32>(s))) & vec4<u32>(1u)) * 16u);
}

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let e = 8u * u;
  let b = (r * (cols / 256u) + (e >> 8u)) * 176u;
  let dm = unpack2x16float((*wp)[t.q + (b >> 2u)]);
  let s = (e & 255u) >> 5u;
  let l = e & 31u;
  let sm = k_scale_min(wp, t, b, s);
  let scale = dm.x * sm.x;
  let m = dm.y * sm.y;
  let o = b + 48u + 32u * (s >> 1u) + l;
  let sh = 4u * (s & 1u);
  let lo = nibbles4(bytes4(wp, t, o), sh) + fifth4(bytes4(wp, t, b + 16u + l), s);
  let hi = nibbles4(bytes4(wp, t, o + 4u), sh) + fifth4(bytes4(wp, t, b + 20u + l), s);
  return Vec8(lo * scale - m, hi * scale - m);
}
