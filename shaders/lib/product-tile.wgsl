// Products by tiles of four adjacent output rows × TILE_T tokens per invocation, for prefill on every
// adapter. x is read as vec4s (X4 required), so each x load serves four rows (eight weights with SwiGLU)
// and each dequantized weight TILE_T tokens; the 64 invocations of a workgroup load the same x values at
// the same time (one broadcast on a GPU). The sums are a vec4 of rows per token (and one for the up
// projection), indexed by constant-bound loops only: software adapters keep them in registers. Rows past
// the tensor repeat its last row and tokens past the range its last token: computed, never stored.
//
// The main source declares what product-rows.wgsl lists: the bindings `w`, `w_up`, x and y and the hooks
// slot, entries and tokens.

const TILE_T = 16u;

fn dot4w(a: Vec8, b: Vec8, c: Vec8, d: Vec8, xv: Vec8) -> vec4<f32> {
  return vec4<f32>(dot8(a, xv), dot8(b, xv), dot8(c, xv), dot8(d, xv));
}

/** Stores the rows of one token that exist (`rows` of 4), after SwiGLU when fused. */
fn store_rows(i: u32, gate: vec4<f32>, up: vec4<f32>, rows: u32) {
  var v = gate;
  if (SWIGLU) { v = vec4<f32>(swiglu(gate.x, up.x), swiglu(gate.y, up.y), swiglu(gate.z, up.z), swiglu(gate.w, up.w)); }
  store(i, v.x);
  if (rows > 1u) { store(i + 1u, v.y); }
  if (rows > 2u) { store(i + 2u, v.z); }
  if (rows > 3u) { store(i + 3u, v.w); }
}

fn rows_tile(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) {
  let c = cell(wid, nwg, (p.m.rows + 4u * WG - 1u) / (4u * WG));
  let row = 4u * (c.block * WG + lid);
  if (c.b >= p.m.batch || row >= p.m.rows) { return; }
  let nrows = min(4u, p.m.rows - row);
  let rs = min(vec4<u32>(row) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m.rows - 1u));
  let range = tokens(c.b, c.span);
  let e = entries(c.b);
  let cols = p.m.cols;
  let units = (cols + 7u) / 8u;
  for (var t0 = range.x; t0 < range.y; t0 += TILE_T) {
    var acc = array<vec4<f32>, TILE_T>();
    var acc_up = array<vec4<f32>, TILE_T>();
    for (var k = 0u; k < e.y; k++) {
      let s = slot(e.x + k);
      for (var u = 0u; u < units; u++) {
        let w0 = weight8(&w, s.gate, cols, s.row + rs.x, u);
        let w1 = weight8(&w, s.gate, cols, s.row + rs.y, u);
        let w2 = weight8(&w, s.gate, cols, s.row + rs.z, u);
        let w3 = weight8(&w, s.gate, cols, s.row + rs.w, u);
        var v0: Vec8;
        var v1: Vec8;
        var v2: Vec8;
        var v3: Vec8;
        if (SWIGLU) {
          v0 = weight8(&w_up, s.up, cols, s.row + rs.x, u);
          v1 = weight8(&w_up, s.up, cols, s.row + rs.y, u);
          v2 = weight8(&w_up, s.up, cols, s.row + rs.z, u);
          v3 = weight8(&w_up, s.up, cols, s.row + rs.w, u);
        }
        for (var t = 0u; t < TILE_T; t++) {
          let xv = xload(s.x + min(t0 + t, range.y - 1u) * p.m.x_tok, 8u * u, cols);
          acc[t] += dot4w(w0, w1, w2, w3, xv) * s.scale;
          if (SWIGLU) { acc_up[t] += dot4w(v0, v1, v2, v3, xv); }
        }
      }
    }
    for (var t = 0u; t < TILE_T; t++) {
      if (t0 + t < range.y) { store_rows(y_at(c.b, t0 + t, row), acc[t], acc_up[t], nrows); }
    }
  }
}
