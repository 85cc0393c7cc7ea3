// q8 weights: int8 codes times an f16 scale per group of 32. Rows are padded to whole groups, so they
// start on a word, and a unit of 8 never straddles a group.

requires packed_4x8_integer_dot_product;

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let groups = (cols + 31u) / 32u;
  let i = t.q + r * groups * 8u + 2u * u;
  let s = half_at(wp, t.scales, r * groups + (u >> 2u));
  return Vec8(vec4<f32>(unpack4xI8((*wp)[i])) * s, vec4<f32>(unpack4xI8((*wp)[i + 1u])) * s);
}
