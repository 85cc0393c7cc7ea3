// Products by output row, for few tokens per weight (decode) and for x rows not 4-float aligned:
//   rows_wg : a workgroup per output row; lanes stride over the row's units of 8 columns (adjacent lanes
//             read adjacent words) and the partial sums meet in workgroup_sum4 (reduce.wgsl). It keeps
//             every lane of a GPU busy on one row.
//   rows_row: an invocation per output row with a plain loop over the columns. Software adapters run
//             invocations as CPU threads, where a reduction across lanes only costs barriers.
// Both take the tokens in tiles of TT, so that each dequantized weight serves TT tokens from registers.
//
// The main source declares the bindings `w` and `w_up` (array<u32>, the gate and up weights), x and y, and
// the hooks that say what batch entry b of the grid is:
//   fn slot(k: u32) -> Slot                    entry k's tensors, rows, x and weight;
//   fn entries(b: u32) -> vec2<u32>            the entries summed into grid entry b's output: first, count;
//   fn tokens(b: u32, span: u32) -> vec2<u32>  grid entry b's tokens [lo, hi) in workgroup span `span`.

// Tokens per tile, at most MAX_TT.
override TT: u32 = 1u;
const MAX_TT = 8u;

var<workgroup> wg_range: vec2<u32>;

/**
 * Units u0, u0 + step, … of output row `row` of the entries e.x … e.x + e.y - 1, over tokens t0 … t0+TT-1
 * below hi: gate sums at [t], up sums (SwiGLU) at [TT + t]. rows_wg's lanes each take a stride of the
 * units, rows_row's invocation all of them.
 */
fn row_units(e: vec2<u32>, row: u32, t0: u32, hi: u32, u0: u32, step: u32) -> array<f32, 2 * MAX_TT> {
  // Explicitly zeroed: SwiftShader was seen keeping a loop-scoped array's values from the previous iteration.
  var acc = array<f32, 2 * MAX_TT>();
  let units = (p.m.cols + 7u) / 8u;
  for (var k = 0u; k < e.y; k++) {
    let s = slot(e.x + k);
    if (!s.live) { continue; }
    for (var u = u0; u < units; u += step) {
      let wv = weight8(&w, s.gate, p.m.cols, s.row + row, u);
      var wu: Vec8;
      if (SWIGLU) { wu = weight8(&w_up, s.up, p.m.cols, s.row + row, u); }
      for (var t = 0u; t < TT; t++) {
        if (t0 + t < hi) {
          let xv = xload(s.x + (t0 + t) * p.m.x_tok, 8u * u, p.m.cols);
          acc[t] += dot8(wv, xv) * s.scale;
          if (SWIGLU) { acc[TT + t] += dot8(wu, xv); }
        }
      }
    }
  }
  return acc;
}

/** A token's output from its gate and up sums. */
fn row_output(gate: f32, up: f32) -> f32 {
  if (SWIGLU) { return swiglu(gate, up); }
  return gate;
}

fn rows_wg(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) {
  let c = cell(wid, nwg, p.m.rows);
  // Uniform exits only: every invocation that stays must reach the barriers.
  if (c.b >= p.m.batch) { return; }
  if (lid == 0u) { wg_range = tokens(c.b, c.span); }
  let range = workgroupUniformLoad(&wg_range);
  let e = entries(c.b);
  for (var t0 = range.x; t0 < range.y; t0 += TT) {
    var acc = row_units(e, c.block, t0, range.y, lid, WG);
    // The lanes' sums of the tile (TT gate sums, then TT up sums), four to a reduction.
    for (var j = 0u; j < select(TT, 2u * TT, SWIGLU); j += 4u) {
      let s = workgroup_sum4(lid, vec4<f32>(acc[j], acc[j + 1u], acc[j + 2u], acc[j + 3u]));
      acc[j] = s.x;
      acc[j + 1u] = s.y;
      acc[j + 2u] = s.z;
      acc[j + 3u] = s.w;
    }
    if (lid < TT && t0 + lid < range.y) { store(y_at(c.b, t0 + lid, c.block), row_output(acc[lid], acc[TT + lid])); }
  }
}

fn rows_row(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) {
  let c = cell(wid, nwg, (p.m.rows + WG - 1u) / WG);
  let row = c.block * WG + lid;
  if (c.b >= p.m.batch || row >= p.m.rows) { return; }
  let range = tokens(c.b, c.span);
  let e = entries(c.b);
  for (var t0 = range.x; t0 < range.y; t0 += TT) {
    var acc = row_units(e, row, t0, range.y, 0u, 1u);
    for (var t = 0u; t < TT; t++) {
      if (t0 + t < range.y) { store(y_at(c.b, t0 + t, row), row_output(acc[t], acc[TT + t])); }
    }
  }
}
