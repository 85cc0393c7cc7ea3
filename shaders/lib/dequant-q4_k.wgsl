// q4_k (llama.cpp): blocks of 256 values in 144 bytes: f16 d and dmin, 12 bytes of 6-bit scales and mins
// of 8 sub-blocks of 32, then 128 bytes of codes (sub-blocks 2i and 2i+1 in the low and high nibbles of
// bytes 32i … 32i+31); w = d · scale · q − dmin · min. Rows are whole blocks (cols a multiple of 256).

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let e = 8u * u;
  let b = (r * (cols / 256u) + (e >> 8u)) * 144u;
  let dm = unpack2x16float((*wp)[t.q + (b >> 2u)]);
  let s = (e & 255u) >> 5u;
  let sm = k_scale_min(wp, t, b, s);
  let scale = dm.x * sm.x;
  let m = dm.y * sm.y;
  let o = b + 16u + 32u * (s >> 1u) + (e & 31u);
  let sh = 4u * (s & 1u);
  return Vec8(nibbles4(bytes4(wp, t, o), sh) * scale - m, nibbles4(bytes4(wp, t, o + 4u), sh) * scale - m);
}
