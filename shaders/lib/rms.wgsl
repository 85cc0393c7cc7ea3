// RMSNorm of a row, y = x / sqrt(mean(x²) + eps) · w (docs/architecture-v3.md#layers), in two steps so
// that a workgroup can share a row: each invocation sums its share of the squares, the shares meet in
// workgroup_sum (or there is one share), then each invocation writes its share of the outputs. Shares
// are the columns first, first + step, … (an invocation per row: 0 and 1; a workgroup: lid and WG).
// rmsnorm.wgsl's norms and rope.wgsl's kv_a_layernorm.

requires unrestricted_pointer_parameters;

alias Floats = ptr<storage, array<f32>, read>;
alias FloatsOut = ptr<storage, array<f32>, read_write>;

/** Σ x[xb + c]² over this invocation's share of the row's `cols` columns. */
fn sum_squares(x: Floats, xb: u32, cols: u32, first: u32, step: u32) -> f32 {
  var s = 0.0;
  for (var c = first; c < cols; c += step) {
    let v = (*x)[xb + c];
    s += v * v;
  }
  return s;
}

/** y[yb + c] = x[xb + c] · w[c] / sqrt(squares / cols + eps) over this invocation's share of the row. */
fn write_normed(y: FloatsOut, yb: u32, x: Floats, xb: u32, w: Floats, cols: u32, squares: f32, eps: f32, first: u32, step: u32) {
  let r = inverseSqrt(squares / f32(cols) + eps);
  for (var c = first; c < cols; c += step) {
    (*y)[yb + c] = (*x)[xb + c] * r * (*w)[c];
  }
}
