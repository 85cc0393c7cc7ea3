// DeepSeek-V4's manifold-constrained hyper-connections (docs/kernels.md#mhc). The residual is hc streams of
// d values per token, X[t] ∈ R^{hc×d}; x̄ is X[t] flattened and ρ = 1/sqrt(mean(x̄²) + norm_eps). `mix` is
// x̄·fnᵀ from the matrix kernels, not yet times ρ: these kernels compute ρ from x.
//
// mhc_pre_*  : x [T, hc, d], mix [T, (2+hc)·hc], base [(2+hc)·hc], scale [3] -> u [T, d], post [T, hc],
//              comb [T, hc, hc] with
//                pre_j  = sigmoid(mix_j·ρ·scale0 + base_j) + hc_eps,  u = Σ_j pre_j·X[j]
//                post_j = 2·sigmoid(mix_{hc+j}·ρ·scale1 + base_{hc+j})
//                C[j,k] = softmax_k(mix_{2hc+j·hc+k}·ρ·scale2 + base_…) + hc_eps, then column-normalised,
//                         then (iters − 1) × (row-, column-normalised), each sum + hc_eps (Sinkhorn).
// mhc_head_* : x, mix [T, hc], base [hc], scale [1] -> y [T, d] = Σ_j pre_j·X[j] (pre as above).
// mhc_post   : x, f [T, d], post, comb -> out [T, hc, d], out[k] = post_k·f + Σ_j C[j,k]·X[j] (out ≠ x).
//
// pre and head come in two shapes: *_wg, a workgroup per token (the sum of squares reduced over it, the
// tiny hc×hc Sinkhorn on one invocation while the others form u); *_row, an invocation per token.
// mhc_post is an invocation per (token, column) on every adapter.
//
// Bindings: mhc_pre  0 x, 1 mix, 2 base, 3 scale | 4 u, 5 post, 6 comb | 7 params
//           mhc_head 0 x, 1 mix, 2 base, 3 scale | 4 y | 5 params
//           mhc_post 0 x, 1 f, 2 post, 3 comb | 4 out | 5 params
// Each entry point uses one set; shared functions take the params block as an argument, so that what
// they touch (x, mix, base, scale, u) is bound at the same slot in every entry point using them.

override WG: u32 = 64u;
const MAX_HC: u32 = 8u;

struct Params {
  tokens: u32,
  hc: u32,
  dim: u32,
  iters: u32,
  hc_eps: f32,
  norm_eps: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mixes: array<f32>;
@group(0) @binding(2) var<storage, read> base: array<f32>;
@group(0) @binding(3) var<storage, read> scale: array<f32>;
@group(0) @binding(4) var<storage, read_write> u: array<f32>;
@group(0) @binding(5) var<storage, read_write> post: array<f32>;
@group(0) @binding(6) var<storage, read_write> comb: array<f32>;
@group(0) @binding(7) var<uniform> p: Params;

// mhc_head and mhc_post: params right after their one output (u: y or out).
@group(0) @binding(5) var<uniform> q: Params;

// mhc_post's inputs.
@group(0) @binding(1) var<storage, read> f: array<f32>;
@group(0) @binding(2) var<storage, read> post_in: array<f32>;
@group(0) @binding(3) var<storage, read> comb_in: array<f32>;

fn sigmoid(v: f32) -> f32 {
  return 1.0 / (1.0 + exp(-v));
}

/** Σ x² over token t's hc·d values at first, first + step, …. */
fn sum_squares(t: u32, s: Params, first: u32, step: u32) -> f32 {
  let n = s.hc * s.dim;
  var acc = 0.0;
  for (var i = first; i < n; i += step) {
    let v = x[t * n + i];
    acc += v * v;
  }
  return acc;
}

fn token_rho(sum_sq: f32, s: Params) -> f32 {
  return inverseSqrt(sum_sq / f32(s.hc * s.dim) + s.norm_eps);
}

/** Columns first, first + step, … of u[t] = Σ_j pre_j·X[t][j], pre_j from the mix row at mb. */
fn write_u(t: u32, mb: u32, rho: f32, s: Params, first: u32, step: u32) {
  var w: array<f32, MAX_HC>;
  for (var j = 0u; j < s.hc; j++) { w[j] = sigmoid(mixes[mb + j] * rho * scale[0] + base[j]) + s.hc_eps; }
  let xb = t * s.hc * s.dim;
  for (var c = first; c < s.dim; c += step) {
    var acc = 0.0;
    for (var j = 0u; j < s.hc; j++) { acc += w[j] * x[xb + j * s.dim + c]; }
    u[t * s.dim + c] = acc;
  }
}

/** post and the Sinkhorn-normalised C of token t, written to the outputs. */
fn post_and_comb(t: u32, rho: f32) {
  let hc = p.hc;
  let mb = t * (2u + hc) * hc;
  for (var j = 0u; j < hc; j++) { post[t * hc + j] = 2.0 * sigmoid(mixes[mb + hc + j] * rho * scale[1] + base[hc + j]); }
  var c: array<f32, MAX_HC * MAX_HC>;
  let cb = 2u * hc;
  for (var j = 0u; j < hc; j++) {
    for (var k = 0u; k < hc; k++) { c[j * hc + k] = mixes[mb + cb + j * hc + k] * rho * scale[2] + base[cb + j * hc + k]; }
    var m = c[j * hc];
    for (var k = 1u; k < hc; k++) { m = max(m, c[j * hc + k]); }
    var s = 0.0;
    for (var k = 0u; k < hc; k++) {
      let e = exp(c[j * hc + k] - m);
      c[j * hc + k] = e;
      s += e;
    }
    for (var k = 0u; k < hc; k++) { c[j * hc + k] = c[j * hc + k] / s + p.hc_eps; }
  }
  for (var it = 0u; it < p.iters; it++) {
    if (it > 0u) {
      for (var j = 0u; j < hc; j++) {
        var s = 0.0;
        for (var k = 0u; k < hc; k++) { s += c[j * hc + k]; }
        for (var k = 0u; k < hc; k++) { c[j * hc + k] /= s + p.hc_eps; }
      }
    }
    for (var k = 0u; k < hc; k++) {
      var s = 0.0;
      for (var j = 0u; j < hc; j++) { s += c[j * hc + k]; }
      for (var j = 0u; j < hc; j++) { c[j * hc + k] /= s + p.hc_eps; }
    }
  }
  for (var i = 0u; i < hc * hc; i++) { comb[t * hc * hc + i] = c[i]; }
}

// Only post_and_comb is left to one invocation: every invocation derives the same hc pre weights, which
// costs less than a barrier.
@compute @workgroup_size(WG)
fn mhc_pre_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_group(wid, nwg);
  if (t >= p.tokens) { return; }
  let rho = token_rho(workgroup_sum(lid, sum_squares(t, p, lid, WG)), p);
  if (lid == 0u) { post_and_comb(t, rho); }
  write_u(t, t * (2u + p.hc) * p.hc, rho, p, lid, WG);
}

@compute @workgroup_size(WG)
fn mhc_pre_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_id(wid, nwg, lid, WG);
  if (t >= p.tokens) { return; }
  let rho = token_rho(sum_squares(t, p, 0u, 1u), p);
  post_and_comb(t, rho);
  write_u(t, t * (2u + p.hc) * p.hc, rho, p, 0u, 1u);
}

@compute @workgroup_size(WG)
fn mhc_head_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_group(wid, nwg);
  if (t >= q.tokens) { return; }
  write_u(t, t * q.hc, token_rho(workgroup_sum(lid, sum_squares(t, q, lid, WG)), q), q, lid, WG);
}

@compute @workgroup_size(WG)
fn mhc_head_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_id(wid, nwg, lid, WG);
  if (t >= q.tokens) { return; }
  write_u(t, t * q.hc, token_rho(sum_squares(t, q, 0u, 1u), q), q, 0u, 1u);
}

@compute @workgroup_size(WG)
fn mhc_post(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_id(wid, nwg, lid, WG);
  if (i >= q.tokens * q.dim) { return; }
  let hc = q.hc;
  let t = i / q.dim;
  let c = i % q.dim;
  let xb = t * hc * q.dim + c;
  var xs: array<f32, MAX_HC>;
  for (var j = 0u; j < hc; j++) { xs[j] = x[xb + j * q.dim]; }
  let fv = f[i];
  for (var k = 0u; k < hc; k++) {
    var s = post_in[t * hc + k] * fv;
    for (var j = 0u; j < hc; j++) { s += comb_in[(t * hc + j) * hc + k] * xs[j]; }
    u[xb + k * q.dim] = s;
  }
}
