// Activations read through `x: array<vec4<f32>>` (declared by the main source; buffers are sized in whole
// vec4s): with X4, rows of x start on multiples of 4 floats and a unit of 8 columns is two vec4 loads;
// otherwise element by element.

override X4: bool = false;

/** x[j] through the vec4 view. */
fn xs(j: u32) -> f32 {
  return x[j >> 2u][j & 3u];
}

/** Columns c0 … c0+7 of the x row starting at index i, zero at columns ≥ cols. */
fn xload(i: u32, c0: u32, cols: u32) -> Vec8 {
  if (X4) {
    let j = (i + c0) >> 2u;
    return Vec8(x[j], select(vec4<f32>(0.0), x[j + 1u], c0 + 4u < cols));
  }
  let j = i + c0;
  if (c0 + 8u <= cols) {
    return Vec8(vec4<f32>(xs(j), xs(j + 1u), xs(j + 2u), xs(j + 3u)), vec4<f32>(xs(j + 4u), xs(j + 5u), xs(j + 6u), xs(j + 7u)));
  }
  var v = array<f32, 8>();
  for (var k = 0u; k < 8u; k++) {
    if (c0 + k < cols) { v[k] = xs(j + k); }
  }
  return Vec8(vec4<f32>(v[0], v[1], v[2], v[3]), vec4<f32>(v[4], v[5], v[6], v[7]));
}
