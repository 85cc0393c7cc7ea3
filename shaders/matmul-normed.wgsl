// A dense product whose input is RMS-normalized first, in the same dispatch: y[r] (+)= Σ_c W[r, c] · xn[c]
// with xn = x / sqrt(mean(x²) + eps) · norm_w, for one token (decode), optionally as the SwiGLU pair
// y = silu(W xn) · (W_up xn), and optionally writing xn itself to xn_out (for consumers that read it). Each workgroup normalizes the
// row into workgroup memory (the squares met by workgroup_sum) and runs product-rows.wgsl on it, where
// `x` is that workgroup array: the norm costs no dispatch and no round trip through a buffer. MLA's
// q_a_layernorm before q_b_proj, and in decode every RMSNorm of the residual stream, run this way
// (docs/architecture-v3.md#layers).
//
// Entry points:
//   normed_wg  : a workgroup per output row (rows_wg): GPUs.
//   normed_row : an invocation per output row (rows_row): software adapters.
// Bindings: 0 x_in (f32: the row to normalize at p.in_offset), 1 norm_w (f32 [cols]), 2 w, 3 w_up (the
// gate's buffer again without SwiGLU) | 4 y, 5 xn_out (written by the grid's first workgroup when
// p.out_normed is 1; a placeholder otherwise) | 6 params (the Product header with x at 0, then eps,
// in_offset, out_normed).

override WG: u32 = 64u;
// vec4s of the normalized row: cols rounded up to whole units of 8 columns.
override XV: u32 = 2u;

struct Params {
  m: Product,
  eps: f32,
  in_offset: u32,
  out_normed: u32,
  _pad0: u32,
}

@group(0) @binding(0) var<storage, read> x_in: array<f32>;
@group(0) @binding(1) var<storage, read> norm_w: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<u32>;
@group(0) @binding(3) var<storage, read> w_up: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> xn_out: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

// The normalized row as product-rows.wgsl reads it (through x-vec4.wgsl's xload), zero past cols.
var<workgroup> x: array<vec4<f32>, XV>;

fn slot(b: u32) -> Slot { return slot_at(b, 0u, 1.0); }
fn entries(b: u32) -> vec2<u32> { return vec2<u32>(b, 1u); }
fn tokens(b: u32, span: u32) -> vec2<u32> { return span_range(0u, p.m.tokens, span); }

/** x ← the normalized row; every invocation takes a share, then waits for the whole row. */
fn load_normed(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) {
  let cols = p.m.cols;
  let squares = workgroup_sum(lid, sum_squares(&x_in, p.in_offset, cols, lid, WG));
  let r = inverseSqrt(squares / f32(cols) + p.eps);
  let publish = p.out_normed != 0u && flat_group(wid, nwg) == 0u;
  for (var c = lid; c < 4u * XV; c += WG) {
    var v = 0.0;
    if (c < cols) {
      v = x_in[p.in_offset + c] * r * norm_w[c];
      if (publish) { xn_out[c] = v; }
    }
    x[c >> 2u][c & 3u] = v;
  }
  workgroupBarrier();
}

@compute @workgroup_size(WG)
fn normed_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  load_normed(wid, nwg, lid);
  rows_wg(wid, nwg, lid);
}

@compute @workgroup_size(WG)
fn normed_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  load_normed(wid, nwg, lid);
  rows_row(wid, nwg, lid);
}
