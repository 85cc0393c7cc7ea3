// Products by workgroup tiles of GM output rows × GN tokens, for prefill chunks on GPUs
// (docs/kernels.md#prefill-gemm). Per step of GK columns the workgroup dequantizes the slab of its GM rows
// into workgroup memory ONCE, then every invocation reads it for its tokens: each weight is dequantized
// once per tile of GN tokens, where rows_tile dequantizes it once per 16 tokens in every invocation.
// The loads are coalesced whatever the format: an invocation dequantizes one unit of 8 columns (dequant8,
// the format's piece) in each of four rows, and consecutive invocations take consecutive units, so each
// of its four loads reads consecutive words of a row's storage across the invocations; x's slab is loaded
// the same way, four token rows at a time. Both slabs are written as whole vec4s. Each invocation then
// accumulates a register tile of 4 rows × 4 tokens (a vec4 of rows per token) from vec4 reads of both.
//
// The slabs and the inner loop's partial sums are gemm_t (lib/gemm-f32.wgsl or lib/gemm-f16.wgsl, one of which
// the launcher composes in); each GK step's partial sums are added to f32 accumulators.
//
// Overrides: GM and GN (multiples of 4), GK (a multiple of 8), GU (vec4s of the up projection's slab: GM/4·GK
// with SWIGLU, else 1, so that a plain product does not reserve it). The workgroup is WG = GM/4 · GN/4
// invocations (the main source's `override WG`); kernels/product-gemm.ts chooses all of them from the
// device's limits. Rows past the tensor repeat its last row and tokens past the range its last token:
// computed, never stored (as rows_tile).
//
// Expects what product-rows.wgsl lists of the main source (the bindings `w`, `w_up`, x, y, the hooks
// slot, entries and tokens, `override WG`) and uses store_rows (product-tile.wgsl). Adds the entry point
// `product_gemm`.

override GM: u32 = 32u;
override GN: u32 = 32u;
override GK: u32 = 32u;
override GU: u32 = 1u;

// The slabs, k-major: column k of rows 4i … 4i+3 at [k · GM/4 + i], of tokens 4j … 4j+3 at [k · GN/4 + j].
var<workgroup> gemm_w: array<vec4<gemm_t>, GM / 4u * GK>;
var<workgroup> gemm_up: array<vec4<gemm_t>, GU>;
var<workgroup> gemm_x: array<vec4<gemm_t>, GN / 4u * GK>;
var<workgroup> gemm_range: vec2<u32>;

/** Column j of four units (one per row or token) as a vec4: the slabs' layout, from register values only. */
fn gemm_columns(a: Vec8, b: Vec8, c: Vec8, d: Vec8) -> array<vec4<f32>, 8> {
  return array<vec4<f32>, 8>(
    vec4<f32>(a.lo.x, b.lo.x, c.lo.x, d.lo.x), vec4<f32>(a.lo.y, b.lo.y, c.lo.y, d.lo.y),
    vec4<f32>(a.lo.z, b.lo.z, c.lo.z, d.lo.z), vec4<f32>(a.lo.w, b.lo.w, c.lo.w, d.lo.w),
    vec4<f32>(a.hi.x, b.hi.x, c.hi.x, d.hi.x), vec4<f32>(a.hi.y, b.hi.y, c.hi.y, d.hi.y),
    vec4<f32>(a.hi.z, b.hi.z, c.hi.z, d.hi.z), vec4<f32>(a.hi.w, b.hi.w, c.hi.w, d.hi.w),
  );
}

/** Unit u of four tensor rows of the gate (scaled by the entry's weight) or up projection; zero past the row. */
fn gemm_units(up: bool, s: Slot, rows: vec4<u32>, u: u32) -> array<vec4<f32>, 8> {
  let cols = p.m.cols;
  var v = array<Vec8, 4>();
  // A slot that is not live adds nothing (product.wgsl); skipping it instead would skip the barriers.
  if (8u * u < cols && s.live) {
    for (var i = 0u; i < 4u; i++) {
      if (up) { v[i] = weight8(&w_up, s.up, cols, s.row + rows[i], u); } else { v[i] = weight8(&w, s.gate, cols, s.row + rows[i], u); }
    }
  }
  var t = gemm_columns(v[0], v[1], v[2], v[3]);
  if (!up) {
    for (var j = 0u; j < 8u; j++) { t[j] *= s.scale; }
  }
  return t;
}

/** Unit u of four token rows of x (the last token repeated past `hi`); zero past the row. */
fn gemm_x_units(s: Slot, t0: u32, hi: u32, u: u32) -> array<vec4<f32>, 8> {
  let cols = p.m.cols;
  var v = array<Vec8, 4>();
  if (8u * u < cols) {
    for (var i = 0u; i < 4u; i++) { v[i] = xload(s.x + min(t0 + i, hi - 1u) * p.m.x_tok, 8u * u, cols); }
  }
  return gemm_columns(v[0], v[1], v[2], v[3]);
}

fn rows_gemm(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) {
  let c = cell(wid, nwg, (p.m.rows + GM - 1u) / GM);
  // Uniform exits only: every invocation that stays must reach the barriers.
  if (c.b >= p.m.batch) { return; }
  if (lid == 0u) { gemm_range = tokens(c.b, c.span); }
  let range = workgroupUniformLoad(&gemm_range);
  let e = entries(c.b);
  let cols = p.m.cols;
  let units = GK / 8u;
  // This invocation's register tile: rows 4·tr … of the block, tokens 4·tn … of the tile.
  let tr = lid % (GM / 4u);
  let tn = lid / (GM / 4u);
  let row0 = c.block * GM + 4u * tr;
  for (var t0 = range.x; t0 < range.y; t0 += GN) {
    var acc = array<vec4<f32>, 4>();
    var acc_up = array<vec4<f32>, 4>();
    for (var k = 0u; k < e.y; k++) {
      let s = slot(e.x + k);
      for (var c0 = 0u; c0 < cols; c0 += GK) {
        // Invocation i loads unit i % units of the slab in four rows (tokens) 4·(i / units) …: consecutive
        // invocations read consecutive units of each row.
        for (var i = lid; i < (GM / 4u) * units; i += WG) {
          let g = i / units;
          let j0 = 8u * (i % units) * (GM / 4u) + g;
          let rows = min(vec4<u32>(c.block * GM + 4u * g) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.m.rows - 1u));
          let a = gemm_units(false, s, rows, c0 / 8u + i % units);
          for (var j = 0u; j < 8u; j++) { gemm_w[j0 + j * (GM / 4u)] = vec4<gemm_t>(a[j]); }
          if (SWIGLU) {
            let b = gemm_units(true, s, rows, c0 / 8u + i % units);
            for (var j = 0u; j < 8u; j++) { gemm_up[j0 + j * (GM / 4u)] = vec4<gemm_t>(b[j]); }
          }
        }
        for (var i = lid; i < (GN / 4u) * units; i += WG) {
          let g = i / units;
          let a = gemm_x_units(s, t0 + 4u * g, range.y, c0 / 8u + i % units);
          let j0 = 8u * (i % units) * (GN / 4u) + g;
          for (var j = 0u; j < 8u; j++) { gemm_x[j0 + j * (GN / 4u)] = vec4<gemm_t>(a[j]); }
        }
        workgroupBarrier();
        // Up to the row's end: a bound the compiler cannot know keeps a software adapter from unrolling
        // the loop (SwiftShader took about 20 s to compile it unrolled).
        var part = array<vec4<gemm_t>, 4>();
        var part_up = array<vec4<gemm_t>, 4>();
        for (var kk = 0u; kk < min(GK, cols - c0); kk++) {
          let a = gemm_w[kk * (GM / 4u) + tr];
          let xv = gemm_x[kk * (GN / 4u) + tn];
          part[0] += a * xv.x;
          part[1] += a * xv.y;
          part[2] += a * xv.z;
          part[3] += a * xv.w;
          if (SWIGLU) {
            let b = gemm_up[kk * (GM / 4u) + tr];
            part_up[0] += b * xv.x;
            part_up[1] += b * xv.y;
            part_up[2] += b * xv.z;
            part_up[3] += b * xv.w;
          }
        }
        for (var j = 0u; j < 4u; j++) {
          acc[j] += vec4<f32>(part[j]);
          acc_up[j] += vec4<f32>(part_up[j]);
        }
        workgroupBarrier();
      }
    }
    if (row0 < p.m.rows) {
      for (var j = 0u; j < 4u; j++) {
        let t = t0 + 4u * tn + j;
        if (t < range.y) { store_rows(y_at(c.b, t, row0), acc[j], acc_up[j], min(4u, p.m.rows - row0)); }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn product_gemm(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_gemm(wid, nwg, lid);
}
