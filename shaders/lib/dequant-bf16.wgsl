// bf16 weights, two per word: a bf16 is the high half of an f32.

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let v = halves8(wp, t.q, r * cols + 8u * u);
  let lo = vec4<u32>(v.x << 16u, v.x & 0xffff0000u, v.y << 16u, v.y & 0xffff0000u);
  let hi = vec4<u32>(v.z << 16u, v.z & 0xffff0000u, v.w << 16u, v.w & 0xffff0000u);
  return Vec8(bitcast<vec4<f32>>(lo), bitcast<vec4<f32>>(hi));
}
