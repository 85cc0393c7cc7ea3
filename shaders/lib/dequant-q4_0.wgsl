// q4_0 (llama.cpp): blocks of 18 bytes, an f16 scale d then 16 bytes holding value j in the low nibble of
// byte j and value j + 16 in its high nibble; w = d · (q − 8).

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let b = (r * ((cols + 31u) / 32u) + (u >> 2u)) * 18u;
  let d = f16_at(wp, t, b);
  let k = u & 3u;
  let o = b + 2u + 8u * (k & 1u);
  let sh = 4u * (k >> 1u);
  return Vec8((nibbles4(bytes4(wp, t, o), sh) - 8.0) * d, (nibbles4(bytes4(wp, t, o + 4u), sh) - 8.0) * d);
}
