// f32 weights: the row's words as they are.

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let i = t.q + r * cols + 8u * u;
  let lo = vec4<u32>((*wp)[i], (*wp)[i + 1u], (*wp)[i + 2u], (*wp)[i + 3u]);
  let hi = vec4<u32>((*wp)[i + 4u], (*wp)[i + 5u], (*wp)[i + 6u], (*wp)[i + 7u]);
  return Vec8(bitcast<vec4<f32>>(lo), bitcast<vec4<f32>>(hi));
}
