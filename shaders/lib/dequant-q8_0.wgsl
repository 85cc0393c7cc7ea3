// q8_0 (llama.cpp): blocks of 34 bytes, an f16 scale d then 32 int8 codes; w = d · q.

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let b = (r * ((cols + 31u) / 32u) + (u >> 2u)) * 34u;
  let d = f16_at(wp, t, b);
  let o = b + 2u + 8u * (u & 3u);
  return Vec8(i8x4(bytes4(wp, t, o)) * d, i8x4(bytes4(wp, t, o + 4u)) * d);
}
