// Token sampling on the GPU: one workgroup per row of logits writes one u32 token id, so a decode step
// reads back 4 bytes.
//
// greedy (temperature ≤ 0 or top_k = 1): argmax, the lowest index among equal maxima.
// otherwise, with e_i = exp((logit_i - max) / temperature):
//   top-k : keep logits ≥ the k-th largest (ties at the threshold are all kept),
//   top-p : of those, keep the highest ones down to the first whose cumulative probability reaches
//           top_p (again with its ties), as Hugging Face's TopP warper applied after top-k does,
//   draw  : u = uniform(seed, step) and return the first index, in index order, at which the running
//           sum of the kept e_i exceeds u × their total.
// Thresholds are found by radix select over order-preserving keys of the logits: four passes of a
// 256-bin histogram (one byte per pass, highest first) pick the exact key at which the weight from the
// top reaches the goal: a count for top-k, probability in units of 2^-31 for top-p.
// u comes from a counter-based hash of (seed, step), so a run reproduces and needs no RNG state; the
// step is read from a GPU buffer, so a recorded decode step can be replayed as is.
// Logits must not be NaN (-inf is fine).
//
// Scans and reductions are two-level (16 leaders, each over a 16th) so that a row costs ~45 barriers:
// software adapters pay per barrier and per invocation, and run this with a smaller WG.

override WG: u32 = 256;         // invocations; a multiple of GROUPS
const GROUPS: u32 = 16u;          // leaders in the two-level scans
const BINS: u32 = 256u;           // one byte of the key per radix pass
const BIN_SPAN: u32 = BINS / GROUPS;
const P_ONE: f32 = 2147483648.0;  // probability 1 in top-p's fixed point
const NONE: u32 = 0xFFFFFFFFu;

struct Params {
  rows: u32,
  vocab: u32,
  logits_stride: u32, // elements between rows; 0 draws every row from the same logits
  top_k: u32,         // 0: off
  top_p: f32,         // ≥ 1: off
  temperature: f32,   // ≤ 0: greedy
  seed: u32,
  step_index: u32,    // row r draws with step = state[step_index] + step_offset + r
  step_offset: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<uniform> p: Params;

var<workgroup> red_v: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> bound: array<f32, WG>;
var<workgroup> lead_v: array<f32, GROUPS>;
var<workgroup> lead_i: array<u32, GROUPS>;
var<workgroup> hist: array<atomic<u32>, BINS>;
var<workgroup> lead_u: array<u32, GROUPS>;
var<workgroup> sel_prefix: u32;
var<workgroup> sel_goal: u32;

// Mirrored by sampleUniform() in kernels/sample.ts.
fn mix32(x: u32) -> u32 {
  var v = x;
  v ^= v >> 16u;
  v *= 0x7feb352du;
  v ^= v >> 15u;
  v *= 0x846ca68bu;
  v ^= v >> 16u;
  return v;
}

fn uniform01(seed: u32, step: u32) -> f32 {
  return f32(mix32(mix32(seed ^ 0x9e3779b9u) + step) >> 8u) * (1.0 / 16777216.0);
}

// Unsigned keys in the order of the floats: larger logit, larger key.
fn order_key(x: f32) -> u32 {
  let b = bitcast<u32>(x);
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// (value, index) pairs: the larger value wins, equal values go to the lower index, NONE loses to all.
fn better(v: f32, i: u32, w: f32, j: u32) -> bool {
  return j != NONE && (i == NONE || w > v || (w == v && j < i));
}

// The largest key θ ≥ key_min with weight(keys ≥ θ) ≥ goal, weights taken over keys ≥ key_min:
// 1 each, or e_i · w_scale rounded when `weighted`. A goal above the total weight gives the lowest key.
fn radix_select(lid: u32, base: u32, key_min: u32, weighted: bool, goal_in: u32, lmax: f32, inv_t: f32, w_scale: f32) -> u32 {
  var prefix = 0u;
  var goal = goal_in;
  for (var b = 0u; b < 4u; b++) {
    let shift = 24u - 8u * b;
    let high = ~(0xFFFFFFFFu >> (8u * b)); // the bytes already chosen
    for (var j = lid; j < BINS; j += WG) { atomicStore(&hist[j], 0u); }
    workgroupBarrier();
    for (var i = lid; i < p.vocab; i += WG) {
      let v = logits[base + i];
      let k = order_key(v);
      if (k >= key_min && (k & high) == prefix) {
        var w = 1u;
        if (weighted) { w = u32(exp((v - lmax) * inv_t) * w_scale + 0.5); }
        atomicAdd(&hist[(k >> shift) & 0xFFu], w);
      }
    }
    workgroupBarrier();
    // Leader g sums bins [g·BIN_SPAN, (g+1)·BIN_SPAN).
    if (lid < GROUPS) {
      var s = 0u;
      for (var j = 0u; j < BIN_SPAN; j++) { s += atomicLoad(&hist[lid * BIN_SPAN + j]); }
      lead_u[lid] = s;
    }
    workgroupBarrier();
    // The leader whose span holds the crossing walks its bins from the top: exactly one bin has less
    // than the goal above it and at least the goal including it.
    if (lid < GROUPS) {
      var total = 0u;
      var above = 0u;
      for (var g = 0u; g < GROUPS; g++) {
        total += lead_u[g];
        if (g > lid) { above += lead_u[g]; }
      }
      let t = min(goal, total);
      if (above < t && above + lead_u[lid] >= t) {
        var acc = above;
        for (var j = BIN_SPAN; j > 0u; j--) {
          let bin = lid * BIN_SPAN + j - 1u;
          let h = atomicLoad(&hist[bin]);
          if (acc + h >= t) {
            sel_prefix = prefix | (bin << shift);
            sel_goal = t - acc;
            break;
          }
          acc += h;
        }
      }
    }
    prefix = workgroupUniformLoad(&sel_prefix);
    goal = workgroupUniformLoad(&sel_goal);
  }
  return prefix;
}

fn workgroup_sum(lid: u32, v: f32) -> f32 {
  let span = WG / GROUPS;
  workgroupBarrier();
  red_v[lid] = v;
  workgroupBarrier();
  if (lid < GROUPS) {
    var s = 0.0;
    for (var j = 0u; j < span; j++) { s += red_v[lid * span + j]; }
    lead_v[lid] = s;
  }
  workgroupBarrier();
  var total = 0.0;
  for (var g = 0u; g < GROUPS; g++) { total += lead_v[g]; }
  return total;
}

@compute @workgroup_size(WG)
fn sample(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.logits_stride;
  let span = WG / GROUPS;

  // Max and argmax; a thread takes its first element whatever it is, so that all -inf still yields an id.
  var bv = 0.0;
  var bi = NONE;
  for (var i = lid; i < p.vocab; i += WG) {
    let v = logits[base + i];
    if (better(bv, bi, v, i)) {
      bv = v;
      bi = i;
    }
  }
  red_v[lid] = bv;
  red_i[lid] = bi;
  workgroupBarrier();
  if (lid < GROUPS) {
    var gv = 0.0;
    var gi = NONE;
    for (var j = lid * span; j < (lid + 1u) * span; j++) {
      if (better(gv, gi, red_v[j], red_i[j])) {
        gv = red_v[j];
        gi = red_i[j];
      }
    }
    lead_v[lid] = gv;
    lead_i[lid] = gi;
  }
  workgroupBarrier();
  var lmax = 0.0;
  var amax = NONE;
  for (var g = 0u; g < GROUPS; g++) {
    if (better(lmax, amax, lead_v[g], lead_i[g])) {
      lmax = lead_v[g];
      amax = lead_i[g];
    }
  }
  if (p.temperature <= 0.0 || p.top_k == 1u) {
    if (lid == 0u) { ids[row] = amax; }
    return;
  }
  // A tiny temperature must not make (0 × inf) at the max.
  let inv_t = min(1.0 / p.temperature, 1e30);

  var theta = 0u;
  if (p.top_k > 0u && p.top_k < p.vocab) {
    theta = radix_select(lid, base, 0u, false, p.top_k, lmax, inv_t, 1.0);
  }
  if (p.top_p < 1.0) {
    var z = 0.0;
    for (var i = lid; i < p.vocab; i += WG) {
      let v = logits[base + i];
      if (order_key(v) >= theta) { z += exp((v - lmax) * inv_t); }
    }
    let zk = workgroup_sum(lid, z);
    let goal = max(1u, u32(p.top_p * P_ONE));
    theta = radix_select(lid, base, theta, true, goal, lmax, inv_t, P_ONE / zk);
  }

  // The draw, in index order: invocation j takes the j-th contiguous chunk and the interval
  // [bound[j], bound[j+1]) of the total; the one holding u × total walks its chunk.
  let per = (p.vocab + WG - 1u) / WG;
  let i0 = min(lid * per, p.vocab);
  let i1 = min(i0 + per, p.vocab);
  var sum = 0.0;
  for (var i = i0; i < i1; i++) {
    let v = logits[base + i];
    if (order_key(v) >= theta) { sum += exp((v - lmax) * inv_t); }
  }
  // workgroup_sum leaves every invocation's sum in red_v and every group's in lead_v. Every partial sum
  // below is formed in the same fixed order as its total (groups, then within the group), so the bounds
  // are nondecreasing, each is computed once, and the intervals tile [0, total) exactly.
  let total = workgroup_sum(lid, sum);
  let g = lid / span;
  var before = 0.0;
  for (var k = 0u; k < g; k++) { before += lead_v[k]; }
  var inner = 0.0;
  for (var j = g * span; j < lid; j++) { inner += red_v[j]; }
  bound[lid] = before + inner;
  workgroupBarrier();
  let lo = bound[lid];
  let hi = select(bound[min(lid + 1u, WG - 1u)], total, lid + 1u == WG);
  let goal = uniform01(p.seed, state[p.step_index] + p.step_offset + row) * total;
  // u × total can round up to total: then the chunk that reaches the total takes it.
  let hit = (goal >= lo && goal < hi) || (goal >= total && lo < total && hi >= total);
  if (hit) {
    var run = lo;
    var pick = NONE;
    var last = i0;
    for (var i = i0; i < i1; i++) {
      let v = logits[base + i];
      if (order_key(v) >= theta) {
        run += exp((v - lmax) * inv_t);
        last = i;
        if (run > goal) {
          pick = i;
          break;
        }
      }
    }
    // Rounding in the walk can fall short of the bound: the chunk's last kept token then.
    ids[row] = select(last, pick, pick != NONE);
  }
}
