// The expert-indexed product of MoE decode: slot k of the batch runs expert ids[ids_offset + k], reading
// only that expert's bytes from a buffer holding all of a layer's experts (expert_stride words apart):
//   y[t, k, r]   = Σ_c W_{ids[k]}[r, c] · x[t, k, c]                 (gate/up, with SwiGLU)
//   y[t, r]     (+)= Σ_k w_k · Σ_c W_{ids[k]}[r, c] · x[t, k, c]     (down: `sum`, weights w_k = slot_weights[k])
// so the router's choice never leaves the GPU. docs/architecture-v3.md#routing has the math. Slots from
// `routed` on run expert `shared_expert` with weight 1: the shared expert, stored after the routed ones.
// A group split over buffers (docs/paging.md#binding-limit) runs one launch per part: this buffer holds
// experts [expert_base, expert_base + expert_count), and a slot whose expert lies outside is skipped (its
// rows untouched; in a sum, no term).
//
// Entry points: experts_wg (a workgroup per output row) and experts_row (an invocation per output row),
// from product-rows.wgsl; a summed launch loops over the slots inside each workgroup.
// Bindings: 0 x (f32, viewed as vec4s), 1 w, 2 w_up (the gate's buffer again without SwiGLU), 3 ids,
// 4 slot_weights (any buffer when unscaled) | 5 y | 6 params.

override WG: u32 = 64u;

struct Params {
  m: Product,
  ids_offset: u32,
  weights_offset: u32,
  slots: u32,   // K
  sum: u32,     // 1: one output, the weighted sum over the slots (the grid has one batch entry)
  scaled: u32,  // 1: slot k's product is scaled by slot_weights[weights_offset + k]
  routed: u32,  // slots below it read ids and weights; the rest run expert `shared_expert`, unweighted
  shared_expert: u32,
  expert_base: u32,  // the buffer holds experts [expert_base, expert_base + expert_count), expert e at e - expert_base
  expert_count: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> w_up: array<u32>;
@group(0) @binding(3) var<storage, read> ids: array<u32>;
@group(0) @binding(4) var<storage, read> slot_weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

/** Slot k's expert, relative to expert_base: past expert_count (wrapped below 0 too) when this buffer lacks it. */
fn slot_expert(k: u32) -> u32 {
  if (k >= p.routed) { return p.shared_expert - p.expert_base; }
  return ids[p.ids_offset + k] - p.expert_base;
}

fn slot(k: u32) -> Slot {
  let e = slot_expert(k);
  var scale = 1.0;
  if (k < p.routed && p.scaled != 0u) { scale = slot_weights[p.weights_offset + k]; }
  var s = slot_at(k, e, scale);
  // A summed launch skips the slot inside row_units (product-rows.wgsl); a per-slot one gets no tokens.
  s.live = e < p.expert_count;
  return s;
}

fn entries(b: u32) -> vec2<u32> {
  return select(vec2<u32>(b, 1u), vec2<u32>(0u, p.slots), p.sum != 0u);
}

fn tokens(b: u32, span: u32) -> vec2<u32> {
  if (p.sum == 0u && slot_expert(b) >= p.expert_count) { return vec2<u32>(0u, 0u); }
  return span_range(0u, p.m.tokens, span);
}

@compute @workgroup_size(WG)
fn experts_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_wg(wid, nwg, lid);
}

@compute @workgroup_size(WG)
fn experts_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_row(wid, nwg, lid);
}
