// Products by output row whose lanes meet in subgroupAdd instead of workgroup memory: decode on adapters
// with the `subgroups` feature (docs/kernels.md#subgroup-rows). Composed only into modules built for such a
// device: its `enable subgroups` would make any other device refuse the module.
//
//   rows_subgroup: ROWS_SG output rows per workgroup, one subgroup per row at a time. The lanes of a
//                  subgroup stride over the row's units of 8 columns (adjacent lanes read adjacent words,
//                  as in rows_wg) through row_units (product-rows.wgsl), and the partial sums of a token
//                  tile meet in one subgroupAdd per four sums: no workgroup memory, no barrier.
//
// WGSL says neither how invocations are grouped into subgroups nor how large they are (4 to 128), so
// nothing here assumes a layout: a subgroup numbers its lanes with subgroupExclusiveAdd, counts them with
// subgroupAdd, and marks its lowest local index in workgroup memory; after one barrier, its index is the
// number of marks below its own and the workgroup's subgroups are all the marks. They then share the
// workgroup's ROWS_SG rows in turn, whatever their size. (A counter bumped by atomicAdd from an elected
// lane would be shorter, but SwiftShader returned 0 to every subgroup.)
//
// Expects what product-rows.wgsl expects of the main source (the bindings, the hooks slot, entries and
// tokens, `override WG`), and adds the entry point `product_sg`.

enable subgroups;

// Output rows per workgroup; the launcher sets WG / (the adapter's smallest subgroup size).
override ROWS_SG: u32 = 2u;

// 1 at the lowest local index of each subgroup (workgroup memory starts zeroed).
var<workgroup> sg_first: array<u32, WG>;

// Every branch below depends on values equal across a subgroup (its index, the grid cell, the row), which
// the uniformity analysis cannot see through the broadcast and workgroup memory.
@diagnostic(off, subgroup_uniformity)
fn rows_subgroup(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) {
  let c = cell(wid, nwg, (p.m.rows + ROWS_SG - 1u) / ROWS_SG);
  if (c.b >= p.m.batch) { return; }
  let lanes = subgroupAdd(1u);
  let lane = subgroupExclusiveAdd(1u);
  let first = subgroupBroadcastFirst(lid);
  if (lid == first) { sg_first[lid] = 1u; }
  workgroupBarrier();
  var sg = 0u;
  var groups = 0u;
  for (var j = 0u; j < WG; j++) {
    let mark = sg_first[j];
    groups += mark;
    if (j < first) { sg += mark; }
  }
  let range = tokens(c.b, c.span);
  let e = entries(c.b);
  for (var i = sg; i < ROWS_SG; i += groups) {
    let row = c.block * ROWS_SG + i;
    if (row >= p.m.rows) { break; }
    for (var t0 = range.x; t0 < range.y; t0 += TT) {
      var acc = row_units(e, row, t0, range.y, lane, lanes);
      for (var j = 0u; j < select(TT, 2u * TT, SWIGLU); j += 4u) {
        let s = subgroupAdd(vec4<f32>(acc[j], acc[j + 1u], acc[j + 2u], acc[j + 3u]));
        acc[j] = s.x;
        acc[j + 1u] = s.y;
        acc[j + 2u] = s.z;
        acc[j + 3u] = s.w;
      }
      if (lane < TT && t0 + lane < range.y) { store(y_at(c.b, t0 + lane, row), row_output(acc[lane], acc[TT + lane])); }
    }
  }
}

@compute @workgroup_size(WG)
fn product_sg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_subgroup(wid, nwg, lid);
}
