// The sampler's counter-based uniforms: u = (h(h(seed ^ 0x9e3779b9) + step) >> 8) / 2^24 with h the
// lowbias32 integer hash, so a draw reproduces from (seed, step) with no RNG state. Mirrored on the CPU
// by sampleUniform() in kernels/sample.ts.

fn mix32(x: u32) -> u32 {
  var v = x;
  v ^= v >> 16u;
  v *= 0x7feb352du;
  v ^= v >> 15u;
  v *= 0x846ca68bu;
  v ^= v >> 16u;
  return v;
}

fn uniform01(seed: u32, step: u32) -> f32 {
  return f32(mix32(mix32(seed ^ 0x9e3779b9u) + step) >> 8u) * (1.0 / 16777216.0);
}
