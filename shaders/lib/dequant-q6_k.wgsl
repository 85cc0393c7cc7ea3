// q6_k (llama.cpp): blocks of 256 values in 210 bytes: ql (128 bytes of low nibbles), qh (64 bytes of
// 2-bit high parts), 16 int8 scales (one per 16 values), then f16 d; w = d · scale · (q − 32). Value
// 128g + 32p + l: the low (p < 2) or high nibble of ql[64g + 32(p mod 2) + l], bits 2p … 2p+1 of
// qh[32g + l], scale (128g + 32p + l) / 16.

/** Four 6-bit codes from their ql and qh bytes, minus 32. */
fn q6x4(ql: u32, qh: u32, p: u32) -> vec4<f32> {
  let at = vec4<u32>(0u, 8u, 16u, 24u);
  let low = (vec4<u32>(ql) >> (at + vec4<u32>(4u * (p >> 1u)))) & vec4<u32>(15u);
  let high = (vec4<u32>(qh) >> (at + vec4<u32>(2u * p))) & vec4<u32>(3u);
  return vec4<f32>(low | (high << vec4<u32>(4u))) - 32.0;
}

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let e = 8u * u;
  let b = (r * (cols / 256u) + (e >> 8u)) * 210u;
  let j = e & 255u;
  let g = j >> 7u;
  let p = (j & 127u) >> 5u;
  let l = j & 31u;
  let ql = b + 64u * g + 32u * (p & 1u) + l;
  let qh = b + 128u + 32u * g + l;
  let sc = f32(bitcast<i32>(byte_at(wp, t, b + 192u + (j >> 4u)) << 24u) >> 24u);
  let d = f16_at(wp, t, b + 208u) * sc;
  return Vec8(q6x4(bytes4(wp, t, ql), bytes4(wp, t, qh), p) * d, q6x4(bytes4(wp, t, ql + 4u), bytes4(wp, t, qh + 4u), p) * d);
}
