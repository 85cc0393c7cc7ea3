// The transposed product y[t, b, c] (+)= Σ_r W[row_base + b·row_stride + r, c] · x[t, b, r]: MLA's
// absorbed query q̃_h = W_UK[h]ᵀ q_nope_h reads kv_b's rows of head h this way
// (docs/architecture-v3.md#mla).
//
// matmul_t: an invocation per 8 output columns (a unit of the weight rows), looping over the rows: the
// column-parallel loop is already coalesced, so one shape serves both kinds of adapter. Tokens go in
// tiles of TT, so that each dequantized weight serves TT tokens from registers.
// Bindings: 0 x (f32), 1 w | 2 y | 3 params.

override WG: u32 = 64u;
// Tokens per tile, at most MAX_TT.
override TT: u32 = 1u;
const MAX_TT = 8u;

struct Params {
  m: Product,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn matmul_t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let cols = p.m.cols;
  let units = (cols + 7u) / 8u;
  let c = cell(wid, nwg, (units + WG - 1u) / WG);
  let u = c.block * WG + lid;
  if (c.b >= p.m.batch || u >= units) { return; }
  let range = span_range(0u, p.m.tokens, c.span);
  let s = slot_at(c.b, 0u, 1.0);
  let c0 = 8u * u;
  for (var t0 = range.x; t0 < range.y; t0 += TT) {
    var acc = array<Vec8, MAX_TT>();
    for (var r = 0u; r < p.m.rows; r++) {
      let wv = weight8(&w, s.gate, cols, s.row + r, u);
      for (var t = 0u; t < TT; t++) {
        if (t0 + t < range.y) {
          let xv = x[s.x + (t0 + t) * p.m.x_tok + r];
          acc[t].lo += wv.lo * xv;
          acc[t].hi += wv.hi * xv;
        }
      }
    }
    for (var t = 0u; t < TT; t++) {
      if (t0 + t < range.y) {
        let yi = y_at(c.b, t0 + t, c0);
        for (var j = 0u; j < 8u; j++) {
          if (c0 + j < cols) { store(yi + j, at8(acc[t], j)); }
        }
      }
    }
  }
}
