// Radix select over a workgroup: the largest key θ such that the items with keys ≥ θ weigh at least
// `goal` together, found one byte at a time from the top: each of four passes histograms (256 bins) the
// next byte of the items whose higher bytes match the ones already chosen, and walks the bins down from
// the top to where the weight reaches the goal. Four reads of the items and four barriers a pass,
// whatever their number. Keys order the items (larger key, higher rank); weights are counts (top-k) or
// fixed-point masses (top-p). A goal above the total weight gives the lowest key that has weight.
//
// The main source declares `override WG: u32` (≥ RADIX_GROUPS) and defines
// `fn radix_item(i: u32) -> vec2<u32>`: item i's key and weight (0 leaves it out). Call from uniform
// control flow with the same n and goal in every invocation. Returns θ and the weight still wanted at θ:
// min(goal, total) minus the weight of the keys above θ (for a top-k, how many items equal to θ it takes).

const RADIX_BINS: u32 = 256u;
const RADIX_GROUPS: u32 = 16u;
const RADIX_SPAN: u32 = RADIX_BINS / RADIX_GROUPS;

var<workgroup> radix_hist: array<atomic<u32>, RADIX_BINS>;
var<workgroup> radix_groups: array<u32, RADIX_GROUPS>;

fn radix_select(lid: u32, n: u32, goal: u32) -> vec2<u32> {
  var prefix = 0u;
  var want = goal;
  for (var r = 0u; r < 4u; r++) {
    let shift = 24u - 8u * r;
    let chosen = ~(0xffffffffu >> (8u * r));
    // The previous pass's walk reads the histogram until every invocation is past this barrier.
    workgroupBarrier();
    for (var j = lid; j < RADIX_BINS; j += WG) { atomicStore(&radix_hist[j], 0u); }
    workgroupBarrier();
    for (var i = lid; i < n; i += WG) {
      let item = radix_item(i);
      if (item.y > 0u && (item.x & chosen) == prefix) { atomicAdd(&radix_hist[(item.x >> shift) & 0xffu], item.y); }
    }
    workgroupBarrier();
    if (lid < RADIX_GROUPS) {
      var s = 0u;
      for (var j = 0u; j < RADIX_SPAN; j++) { s += atomicLoad(&radix_hist[lid * RADIX_SPAN + j]); }
      radix_groups[lid] = s;
    }
    workgroupBarrier();
    // Every invocation walks the same sums: exactly one bin has less than the goal above it and at
    // least the goal with it.
    var total = 0u;
    for (var g = 0u; g < RADIX_GROUPS; g++) { total += radix_groups[g]; }
    want = min(want, total);
    var above = 0u;
    var g = RADIX_GROUPS - 1u;
    while (g > 0u && above + radix_groups[g] < want) {
      above += radix_groups[g];
      g--;
    }
    var bin = g * RADIX_SPAN + RADIX_SPAN - 1u;
    while (bin > g * RADIX_SPAN && above + atomicLoad(&radix_hist[bin]) < want) {
      above += atomicLoad(&radix_hist[bin]);
      bin--;
    }
    prefix |= bin << shift;
    want -= above;
  }
  return vec2<u32>(prefix, want);
}
