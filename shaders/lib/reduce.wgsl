// Sums and maxima over a workgroup in one fixed order: REDUCE_GROUPS leaders each combine WG / REDUCE_GROUPS
// consecutive values, then every invocation combines the leaders' results in order. Every invocation gets
// the same value, runs repeat bit for bit, and a call costs three barriers whatever WG (a binary tree
// takes log2(WG) + 1; software adapters pay per barrier).
//
// Needs `override WG: u32` (the workgroup size, a multiple of REDUCE_GROUPS) in the main source. Call from
// uniform control flow. Until the next call, reduce_values[i] holds invocation i's input and
// reduce_groups[g] group g's result, from which workgroup_prefix4 forms exclusive prefix sums.

const REDUCE_GROUPS: u32 = 16u;

var<workgroup> reduce_values: array<vec4<f32>, WG>;
var<workgroup> reduce_groups: array<vec4<f32>, REDUCE_GROUPS>;

fn reduce_step(a: vec4<f32>, b: vec4<f32>, is_max: bool) -> vec4<f32> {
  return select(a + b, max(a, b), is_max);
}

/** Four sums (or maxima) at once. */
fn workgroup_reduce4(lid: u32, v: vec4<f32>, is_max: bool) -> vec4<f32> {
  // The previous call's readers are past this barrier before anything is overwritten.
  workgroupBarrier();
  reduce_values[lid] = v;
  workgroupBarrier();
  let span = WG / REDUCE_GROUPS;
  if (lid < REDUCE_GROUPS) {
    var a = reduce_values[lid * span];
    for (var j = 1u; j < span; j++) { a = reduce_step(a, reduce_values[lid * span + j], is_max); }
    reduce_groups[lid] = a;
  }
  workgroupBarrier();
  var total = reduce_groups[0];
  for (var g = 1u; g < REDUCE_GROUPS; g++) { total = reduce_step(total, reduce_groups[g], is_max); }
  return total;
}

/** Four sums at once: the matrix products' token tiles reduce their accumulators together. */
fn workgroup_sum4(lid: u32, v: vec4<f32>) -> vec4<f32> {
  return workgroup_reduce4(lid, v, false);
}

fn workgroup_sum(lid: u32, v: f32) -> f32 {
  return workgroup_reduce4(lid, vec4<f32>(v, 0.0, 0.0, 0.0), false).x;
}

fn workgroup_max(lid: u32, v: f32) -> f32 {
  return workgroup_reduce4(lid, vec4<f32>(v), true).x;
}

/**
 * After a workgroup_reduce4 sum: the sum of the inputs of invocations 0 … lid − 1, formed in one fixed
 * order (the whole groups before lid's, then lid's group up to lid) like the total, so that for
 * nonnegative inputs the prefixes never decrease and none exceeds the total. Needs no barrier.
 */
fn workgroup_prefix4(lid: u32) -> vec4<f32> {
  let span = WG / REDUCE_GROUPS;
  let g = lid / span;
  var before = vec4<f32>(0.0);
  for (var k = 0u; k < g; k++) { before += reduce_groups[k]; }
  var inner = vec4<f32>(0.0);
  for (var j = g * span; j < lid; j++) { inner += reduce_values[j]; }
  return before + inner;
}
