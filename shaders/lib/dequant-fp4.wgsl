// fp4 weights (DeepSeek-V4's experts): OCP E2M1 codes packed as q4 packs its codes (nibbles.wgsl), times
// an E8M0 scale byte per group of 32, four bytes per word.

/** Four E2M1 codes to f32 (magnitudes 0, 0.5, 1, 1.5, 2, 3, 4, 6) by moving the code into f32's bits. */
fn e2m1x4(n: vec4<u32>) -> vec4<f32> {
  let mag = n & vec4<u32>(7u);
  // Codes ≥ 2 are normal: their 2 exponent bits (bias 1) and 1 mantissa bit become f32's (bias 127).
  let normal = bitcast<vec4<f32>>((mag << vec4<u32>(22u)) + vec4<u32>(126u << 23u));
  let v = select(normal, vec4<f32>(mag) * 0.5, mag < vec4<u32>(2u));
  return select(v, -v, (n & vec4<u32>(8u)) != vec4<u32>(0u));
}

/** An E8M0 byte: 2^(b − 127) (b = 0 is an f32 subnormal; 255, NaN, never occurs in checkpoints). */
fn e8m0(b: u32) -> f32 {
  return select(bitcast<f32>(b << 23u), bitcast<f32>(0x00400000u), b == 0u);
}

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let n = nibbles8(wp, t, cols, r, u);
  let s = e8m0(((*wp)[t.scales + (n.group >> 2u)] >> ((n.group & 3u) * 8u)) & 0xffu);
  return Vec8(e2m1x4(n.lo) * s, e2m1x4(n.hi) * s);
}
