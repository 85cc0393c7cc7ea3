// q4 weights: 4-bit codes (nibbles.wgsl) times an f16 scale plus an f16 min per group of 32.

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let n = nibbles8(wp, t, cols, r, u);
  let s = half_at(wp, t.scales, n.group);
  let m = half_at(wp, t.mins, n.group);
  return Vec8(vec4<f32>(n.lo) * s + m, vec4<f32>(n.hi) * s + m);
}
