// MoE data flow around prefill's grouped expert GEMM (matmul-grouped.wgsl): the T·K (token, choice)
// pairs are grouped by expert so that one launch serves every selected expert (docs/architecture-v3.md#routing).
// Decode needs none of these: its products read the K experts' weights by id and the down projection sums
// the experts with their weights itself (matmul-experts.wgsl).
//
// moe_plan    : ids [T, K] -> offsets [E+1 (+ E+1)], slot [T, K]
//               offsets: exclusive prefix sum of the per-expert pair counts (offsets[E] = T·K).
//               With tile_tokens S > 0, then the tile starts: offsets[E+1+e] = Σ_{e'<e} ⌈n_e'/S⌉, the
//               grouped GEMM's list of the (expert, tile of S rows) pairs that exist
//               (matmul-grouped.wgsl finds its pair in it; docs/kernels.md#expert-tiles).
//               slot[t, k] = offsets[ids[t, k]] + rank, rank = how many earlier pairs (in (t, k) order)
//               chose the same expert. Ranks are computed, not taken from atomic counters, so the
//               grouped layout is the same on every run and every GPU: grouped rows of one expert are
//               in token order.
// moe_gather  : x [T, d], slot -> x_grouped [T·K, d]: x_grouped[slot[t, k]] = x[t].
// moe_scatter : y_grouped [T·K, d], slot, weights [T, K] -> out [T, d]:
//               out[t] = Σ_k weights[t, k] · y_grouped[slot[t, k]]   (plus the old out[t] when accumulate)
//
// Sums run k = 0 … K-1 in order and are added to out[t] last: no float atomics, so results are
// bit-identical between runs. Ids must be < E and distinct within a token (the router's are); a pair
// with an id >= E gets slot 0xffffffff and is skipped by gather and scatter.
//
// moe_plan is one workgroup: the work is O(T·K) integer steps, tiny next to the GEMMs it feeds, and a
// single workgroup avoids a multi-pass scan. Tokens go in blocks of PLAN_WG; within a block, a bitmask
// per expert (bit j: token base+j chose it) gives each pair its rank by counting the bits below it.
// The element-wise kernels have one shape: one invocation per output element suits GPUs and
// software adapters alike.

override EW_WG: u32 = 256;

const MAX_E: u32 = 256u;
// One invocation per expert in the scan and per token of a block; 256 is the engine's minimum limit.
const PLAN_WG: u32 = 256u;
// Mask words per expert: one bit per token of a block.
const WORDS: u32 = PLAN_WG / 32u;
const NO_SLOT: u32 = 0xffffffffu;

struct Params {
  tokens: u32,
  top_k: u32,
  experts: u32,
  dim: u32,
  accumulate: u32,
  tile_tokens: u32, // moe_plan: rows per tile of the tile starts (0: none written)
  _pad1: u32,
  _pad2: u32,
}

// moe_plan bindings
@group(0) @binding(0) var<storage, read> plan_ids: array<u32>;
@group(0) @binding(1) var<storage, read_write> offsets: array<u32>;
@group(0) @binding(2) var<storage, read_write> slot: array<u32>;
@group(0) @binding(3) var<uniform> pp: Params;

// moe_gather bindings
@group(0) @binding(0) var<storage, read> g_x: array<f32>;
@group(0) @binding(1) var<storage, read> g_slot: array<u32>;
@group(0) @binding(2) var<storage, read_write> g_xg: array<f32>;
@group(0) @binding(3) var<uniform> gp: Params;

// moe_scatter bindings
@group(0) @binding(0) var<storage, read> s_yg: array<f32>;
@group(0) @binding(1) var<storage, read> s_slot: array<u32>;
@group(0) @binding(2) var<storage, read> s_w: array<f32>;
@group(0) @binding(3) var<storage, read_write> s_out: array<f32>;
@group(0) @binding(4) var<uniform> sp: Params;

var<workgroup> masks: array<atomic<u32>, MAX_E * WORDS>;
// Pairs per expert so far (blocks already done), then the exclusive prefix sums.
var<workgroup> running: array<u32, PLAN_WG>;
var<workgroup> scan: array<u32, PLAN_WG>;
var<workgroup> tile_scan: array<u32, PLAN_WG>;

@compute @workgroup_size(PLAN_WG)
fn moe_plan(@builtin(local_invocation_index) lid: u32) {
  let T = pp.tokens;
  let K = pp.top_k;
  let E = pp.experts;
  let word = lid / 32u;
  let bit = 1u << (lid % 32u);
  if (lid < E) { running[lid] = 0u; }

  for (var base = 0u; base < T; base += PLAN_WG) {
    for (var i = lid; i < E * WORDS; i += PLAN_WG) { atomicStore(&masks[i], 0u); }
    workgroupBarrier();
    let t = base + lid;
    if (t < T) {
      for (var k = 0u; k < K; k++) {
        let e = plan_ids[t * K + k];
        if (e < E) { atomicOr(&masks[e * WORDS + word], bit); }
      }
    }
    workgroupBarrier();
    if (t < T) {
      for (var k = 0u; k < K; k++) {
        let e = plan_ids[t * K + k];
        var r = NO_SLOT;
        if (e < E) {
          r = running[e];
          for (var w = 0u; w < word; w++) { r += countOneBits(atomicLoad(&masks[e * WORDS + w])); }
          r += countOneBits(atomicLoad(&masks[e * WORDS + word]) & (bit - 1u));
        }
        // The rank for now; the final pass below (same invocation, same pair) adds the offset.
        slot[t * K + k] = r;
      }
    }
    workgroupBarrier();
    if (lid < E) {
      var n = 0u;
      for (var w = 0u; w < WORDS; w++) { n += countOneBits(atomicLoad(&masks[lid * WORDS + w])); }
      running[lid] += n;
    }
    workgroupBarrier();
  }

  // Inclusive Hillis-Steele scans over the counts and the tile counts, then exclusive = inclusive - count.
  let count = select(0u, running[lid], lid < E);
  let S = max(pp.tile_tokens, 1u);
  let tiles = (count + S - 1u) / S;
  scan[lid] = count;
  tile_scan[lid] = tiles;
  workgroupBarrier();
  for (var off = 1u; off < PLAN_WG; off <<= 1u) {
    var add = 0u;
    var add_tiles = 0u;
    if (lid >= off) {
      add = scan[lid - off];
      add_tiles = tile_scan[lid - off];
    }
    workgroupBarrier();
    scan[lid] += add;
    tile_scan[lid] += add_tiles;
    workgroupBarrier();
  }
  if (lid < E) {
    offsets[lid] = scan[lid] - count;
    if (lid == E - 1u) { offsets[E] = scan[lid]; }
    if (pp.tile_tokens > 0u) {
      offsets[E + 1u + lid] = tile_scan[lid] - tiles;
      if (lid == E - 1u) { offsets[2u * E + 1u] = tile_scan[lid]; }
    }
  }
  // running now holds the exclusive offsets, read by other invocations below.
  if (lid < E) { running[lid] = scan[lid] - count; }
  workgroupBarrier();

  for (var base = 0u; base < T; base += PLAN_WG) {
    let t = base + lid;
    if (t < T) {
      for (var k = 0u; k < K; k++) {
        let e = plan_ids[t * K + k];
        if (e < E) {
          slot[t * K + k] = running[e] + slot[t * K + k];
        }
      }
    }
  }
}

@compute @workgroup_size(EW_WG)
fn moe_gather(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_id(wid, nwg, lid, EW_WG);
  let d = gp.dim;
  let pairs = gp.tokens * gp.top_k;
  if (i >= pairs * d) { return; }
  let pair = i / d;
  let c = i - pair * d;
  let r = g_slot[pair];
  if (r >= pairs) { return; }
  g_xg[r * d + c] = g_x[(pair / gp.top_k) * d + c];
}

@compute @workgroup_size(EW_WG)
fn moe_scatter(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let i = flat_id(wid, nwg, lid, EW_WG);
  let d = sp.dim;
  let K = sp.top_k;
  let pairs = sp.tokens * K;
  if (i >= sp.tokens * d) { return; }
  let t = i / d;
  let c = i - t * d;
  var acc = 0.0;
  for (var k = 0u; k < K; k++) {
    let r = s_slot[t * K + k];
    if (r < pairs) { acc += s_w[t * K + k] * s_yg[r * d + c]; }
  }
  if (sp.accumulate != 0u) { acc = s_out[i] + acc; }
  s_out[i] = acc;
}
