// fp8 weights: OCP E4M3 bytes times an f32 scale per block of 128 × 128 (DeepSeek's weight_scale_inv).
// A unit of 8 never straddles a block.

/**
 * Four E4M3 bytes to f32. Normal numbers move their exponent from bias 7 to bias 127 by integer
 * arithmetic (exact, and free of f32 subnormals, which GPUs may flush); subnormals are m · 2⁻⁹. The NaN
 * codes 0x7F/0xFF never occur in checkpoints and decode as ±480.
 */
fn e4m3x4(v: u32) -> vec4<f32> {
  let b = (vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
  let sign = (b & vec4<u32>(0x80u)) << vec4<u32>(24u);
  let mag = b & vec4<u32>(0x7fu);
  let normal = bitcast<vec4<f32>>(sign | ((mag << vec4<u32>(20u)) + vec4<u32>(120u << 23u)));
  let sub = vec4<f32>(mag & vec4<u32>(7u)) * 0.001953125;
  return select(normal, select(sub, -sub, sign != vec4<u32>(0u)), mag < vec4<u32>(8u));
}

fn dequant8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  // Rows whose length is not a multiple of 4 start inside a word: a three-word window.
  let e = r * cols + 8u * u;
  let i = t.q + (e >> 2u);
  let sh = (e & 3u) * 8u;
  var a = (*wp)[i];
  var b = (*wp)[i + 1u];
  if (sh != 0u) {
    let n = (*wp)[i + 2u];
    a = (a >> sh) | (b << (32u - sh));
    b = (b >> sh) | (n << (32u - sh));
  }
  let s = bitcast<f32>((*wp)[t.scales + (r / 128u) * ((cols + 127u) / 128u) + (8u * u) / 128u]);
  return Vec8(e4m3x4(a) * s, e4m3x4(b) * s);
}
