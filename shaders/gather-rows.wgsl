// The embedding lookup: y[t, :] = W[ids[t], :] dequantized (by the composed dequant8) from the table's own
// bytes. An id past the table (the executor checks ids on the CPU first) gives a zero row, not another
// token's. A table split by rows over several buffers (docs/model-folder.md#split-tensors) is gathered by one
// launch per part: each writes the ids in its own rows [row_base, row_base + rows) and skips the others;
// only the last part (zero_past = 1, also every unsplit table) writes the zero rows of ids past the table.
//
// gather_rows: an invocation per (token, unit of 8 columns).
// Bindings: 0 ids, 1 w | 2 y | 3 params.

override WG: u32 = 64u;

struct Params {
  tokens: u32,
  rows: u32,
  cols: u32,
  q: u32,         // word offsets in `w` of the table's sections
  scales: u32,
  mins: u32,
  ids_offset: u32,
  y_offset: u32,
  y_tok: u32,
  row_base: u32,
  zero_past: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(WG)
fn gather_rows(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let units = (p.cols + 7u) / 8u;
  let i = flat_id(wid, nwg, lid, WG);
  let t = i / units;
  let u = i % units;
  if (t >= p.tokens) { return; }
  let id = ids[p.ids_offset + t];
  if (id < p.row_base) { return; }
  let r = id - p.row_base;
  if (r >= p.rows && p.zero_past == 0u) { return; }
  var v = Vec8();
  if (r < p.rows) { v = dequant8(&w, Tensor(p.q, p.scales, p.mins), p.cols, r, u); }
  let yi = p.y_offset + t * p.y_tok + 8u * u;
  for (var j = 0u; j < 8u; j++) {
    if (8u * u + j < p.cols) { y[yi + j] = at8(v, j); }
  }
}
