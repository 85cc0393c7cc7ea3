// RMSNorm over rows: y = x / sqrt(mean(x²) + eps) * weight.
//
// rmsnorm_*     : x, weight -> y. Rows may be strided and offset so that a norm can read a slice of a
//                 wider row (the latent part of kv_a's output) and write into a wider one.
// add_rmsnorm_* : delta, weight -> h, y. The residual add fused with the norm after it:
//                 h += delta; y = rms(h) * weight. Each decoder block does this twice; fusing saves one
//                 read and one write of the residual stream per norm. Rows are contiguous here.
//
// Two shapes of the same math:
//   *_wg  : one workgroup per row, a strided loop and workgroup_sum (lib/reduce.wgsl) (GPUs).
//   *_row : one invocation per row, a plain loop (software adapters run invocations as CPU threads).

override WG: u32 = 64;

struct Params {
  rows: u32,
  cols: u32,
  x_stride: u32,
  x_offset: u32,
  y_stride: u32,
  y_offset: u32,
  eps: f32,
  _pad: u32,
}

// rmsnorm_* bindings
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

// add_rmsnorm_* bindings (the same slots, one more output); an entry point uses one set only.
@group(0) @binding(0) var<storage, read> delta: array<f32>;
@group(0) @binding(1) var<storage, read> a_weight: array<f32>;
@group(0) @binding(2) var<storage, read_write> h: array<f32>;
@group(0) @binding(3) var<storage, read_write> a_y: array<f32>;
@group(0) @binding(4) var<uniform> a_p: Params;

@compute @workgroup_size(WG)
fn rmsnorm_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= p.rows) { return; }
  let xb = row * p.x_stride + p.x_offset;
  write_normed(&y, row * p.y_stride + p.y_offset, &x, xb, &weight, p.cols, sum_squares(&x, xb, p.cols, 0u, 1u), p.eps, 0u, 1u);
}

@compute @workgroup_size(WG)
fn rmsnorm_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // No early return: every invocation must reach the barriers, and the grid has exactly `rows` groups.
  let xb = wid.x * p.x_stride + p.x_offset;
  let squares = workgroup_sum(lid, sum_squares(&x, xb, p.cols, lid, WG));
  write_normed(&y, wid.x * p.y_stride + p.y_offset, &x, xb, &weight, p.cols, squares, p.eps, lid, WG);
}

@compute @workgroup_size(WG)
fn add_rmsnorm_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  let row = gid.x;
  if (row >= a_p.rows) { return; }
  let b = row * a_p.cols;
  var s = 0.0;
  for (var c = 0u; c < a_p.cols; c++) {
    let v = h[b + c] + delta[b + c];
    h[b + c] = v;
    s += v * v;
  }
  let r = inverseSqrt(s / f32(a_p.cols) + a_p.eps);
  for (var c = 0u; c < a_p.cols; c++) {
    a_y[b + c] = h[b + c] * r * a_weight[c];
  }
}

@compute @workgroup_size(WG)
fn add_rmsnorm_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let b = wid.x * a_p.cols;
  var s = 0.0;
  for (var c = lid; c < a_p.cols; c += WG) {
    let v = h[b + c] + delta[b + c];
    h[b + c] = v;
    s += v * v;
  }
  let r = inverseSqrt(workgroup_sum(lid, s) / f32(a_p.cols) + a_p.eps);
  for (var c = lid; c < a_p.cols; c += WG) {
    a_y[b + c] = h[b + c] * r * a_weight[c];
  }
}
