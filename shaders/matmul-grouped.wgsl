// The grouped expert GEMM of MoE prefill: the rows of x are the (token, choice) pairs sorted by expert
// (moe.wgsl's moe_plan and moe_gather), and batch entry e is expert e, owning rows
// [offsets[offsets_offset + e], offsets[offsets_offset + e + 1]) of x and y. One launch serves every
// expert of a layer; each expert's weights are read once per workgroup for all of its rows.
//   y[i, r] = Σ_c W_e[r, c] · x[i, c]   for the rows i of expert e   (gate/up with SwiGLU, or down)
//
// Entry points, by the rows an expert may own and x's alignment:
//   grouped_wg  : a workgroup per output row (product-rows.wgsl): segments of a few rows on GPUs;
//   grouped_tile: 4 rows × 16 tokens per invocation (product-tile.wgsl), x rows 4-float aligned;
//   grouped_row : an invocation per output row (product-rows.wgsl), otherwise.
//   product_gemm: workgroup tiles with the weights dequantized once into workgroup memory
//                 (product-gemm.wgsl, composed only for it): segments of 64 rows or more on GPUs.
// The grid's batch entries are either the experts (each with p.m.spans spans; a span past its expert's
// segment exits at once) or, with tile_experts > 0, the (expert, tile) pairs that exist: moe_plan's tile
// starts ts(e) = offsets[tiles_offset + e] (tiles of p.m.span rows) list them in expert order, so entry b
// is tile ts(0) + b, found by binary search; entries past ts(tile_experts) exit (the launcher sizes the
// grid by a bound; docs/kernels.md#expert-tiles).
// Bindings: 0 x (f32, viewed as vec4s), 1 w, 2 w_up (the gate's buffer again without SwiGLU), 3 offsets
// | 4 y | 5 params.

override WG: u32 = 64u;

struct Params {
  m: Product,
  offsets_offset: u32,
  tile_experts: u32, // experts listed in the tile starts; 0: batch entry b is expert b
  tiles_offset: u32, // of the first expert's tile start in offsets
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> w_up: array<u32>;
@group(0) @binding(3) var<storage, read> offsets: array<u32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<uniform> p: Params;

/**
 * Grid entry b's expert and span; the expert is p.tile_experts when b lists no tile. entries and tokens
 * each search (a few cached reads at a workgroup's start): a private memo would make entries' result
 * non-uniform, and product_gemm's barriers are in loops bounded by it.
 */
fn place(b: u32, span: u32) -> vec2<u32> {
  let n = p.tile_experts;
  if (n == 0u) { return vec2<u32>(b, span); }
  let q = offsets[p.tiles_offset] + b;
  if (q >= offsets[p.tiles_offset + n]) { return vec2<u32>(n, 0u); }
  // The last expert whose tiles start at or before q: ts(lo) ≤ q < ts(hi) throughout.
  var lo = 0u;
  var hi = n;
  while (hi - lo > 1u) {
    let mid = (lo + hi) / 2u;
    if (offsets[p.tiles_offset + mid] <= q) { lo = mid; } else { hi = mid; }
  }
  return vec2<u32>(lo, q - offsets[p.tiles_offset + lo]);
}

fn slot(e: u32) -> Slot { return slot_at(e, e, 1.0); }
fn entries(b: u32) -> vec2<u32> { return vec2<u32>(place(b, 0u).x, 1u); }

fn tokens(b: u32, span: u32) -> vec2<u32> {
  let at = place(b, span);
  if (p.tile_experts > 0u && at.x >= p.tile_experts) { return vec2<u32>(0u, 0u); }
  return span_range(offsets[p.offsets_offset + at.x], offsets[p.offsets_offset + at.x + 1u], at.y);
}

@compute @workgroup_size(WG)
fn grouped_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_wg(wid, nwg, lid);
}

@compute @workgroup_size(WG)
fn grouped_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_row(wid, nwg, lid);
}

@compute @workgroup_size(WG)
fn grouped_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_tile(wid, nwg, lid);
}
