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
// top reaches the target: a count for top-k, probability in units of 2^-31 for top-p.
// u comes from a counter-based hash of (seed, step), so a run reproduces and needs no RNG state; the
// step is read from a GPU buffer, so a recorded decode step can be replayed as is.
// Logits must not be NaN (-inf is fine).

const WG: u32 = 256u;  // also the histogram's bins: invocation j owns bin j
const P_ONE: f32 = 2147483648.0; // probability 1 in top-p's fixed point

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
var<workgroup> hist: array<atomic<u32>, WG>;
var<workgroup> suffix: array<u32, WG>;
var<workgroup> sel_prefix: u32;
var<workgroup> sel_target: u32;

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

// The largest key θ ≥ key_min with weight(keys ≥ θ) ≥ target, weights taken over keys ≥ key_min:
// 1 each, or e_i · w_scale rounded when `weighted`. A target above the total weight gives the lowest key.
fn radix_select(lid: u32, base: u32, key_min: u32, weighted: bool, target_in: u32, lmax: f32, inv_t: f32, w_scale: f32) -> u32 {
  var prefix = 0u;
  var target = target_in;
  for (var b = 0u; b < 4u; b++) {
    let shift = 24u - 8u * b;
    let high = ~(0xFFFFFFFFu >> (8u * b)); // the bytes already chosen
    atomicStore(&hist[lid], 0u);
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
    // suffix[j] = weight of bins j … 255 (Hillis-Steele scan from the top).
    let own = atomicLoad(&hist[lid]);
    suffix[lid] = own;
    workgroupBarrier();
    for (var off = 1u; off < WG; off <<= 1u) {
      var s = suffix[lid];
      if (lid + off < WG) { s += suffix[lid + off]; }
      workgroupBarrier();
      suffix[lid] = s;
      workgroupBarrier();
    }
    let t = min(target, suffix[0]);
    let above = suffix[lid] - own;
    // Exactly one bin has weight above it below t and including it at least t.
    if (above < t && suffix[lid] >= t) {
      sel_prefix = prefix | (lid << shift);
      sel_target = t - above;
    }
    prefix = workgroupUniformLoad(&sel_prefix);
    target = workgroupUniformLoad(&sel_target);
  }
  return prefix;
}

fn workgroup_sum(lid: u32, v: f32) -> f32 {
  workgroupBarrier();
  red_v[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { red_v[lid] += red_v[lid + s]; }
    workgroupBarrier();
  }
  let total = red_v[0];
  workgroupBarrier();
  return total;
}

@compute @workgroup_size(WG)
fn sample(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= p.rows) { return; }
  let base = row * p.logits_stride;

  // Max and argmax; the first element a thread sees is always taken so that all -inf still yields an id.
  var bv = 0.0;
  var bi = 0xFFFFFFFFu;
  for (var i = lid; i < p.vocab; i += WG) {
    let v = logits[base + i];
    if (bi == 0xFFFFFFFFu || v > bv) {
      bv = v;
      bi = i;
    }
  }
  red_v[lid] = bv;
  red_i[lid] = bi;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) {
      let ov = red_v[lid + s];
      let oi = red_i[lid + s];
      let mi = red_i[lid];
      // Empty threads (index 0xFFFFFFFF) lose to any element; equal values go to the lower index.
      if (oi != 0xFFFFFFFFu && (mi == 0xFFFFFFFFu || ov > red_v[lid] || (ov == red_v[lid] && oi < mi))) {
        red_v[lid] = ov;
        red_i[lid] = oi;
      }
    }
    workgroupBarrier();
  }
  let lmax = red_v[0];
  let amax = red_i[0];
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
    let target = max(1u, u32(p.top_p * P_ONE));
    theta = radix_select(lid, base, theta, true, target, lmax, inv_t, P_ONE / zk);
  }

  // The draw, in index order: invocation j takes the j-th contiguous chunk, an inclusive scan of the
  // chunk sums gives each its interval [excl, incl) of the total, and the one holding u × total walks it.
  let per = (p.vocab + WG - 1u) / WG;
  let i0 = min(lid * per, p.vocab);
  let i1 = min(i0 + per, p.vocab);
  var sum = 0.0;
  for (var i = i0; i < i1; i++) {
    let v = logits[base + i];
    if (order_key(v) >= theta) { sum += exp((v - lmax) * inv_t); }
  }
  workgroupBarrier();
  red_v[lid] = sum;
  workgroupBarrier();
  for (var off = 1u; off < WG; off <<= 1u) {
    var s = red_v[lid];
    if (lid >= off) { s += red_v[lid - off]; }
    workgroupBarrier();
    red_v[lid] = s;
    workgroupBarrier();
  }
  let incl = red_v[lid];
  // The previous invocation's end exactly, so that the intervals tile [0, total) without gaps.
  let excl = select(0.0, red_v[max(lid, 1u) - 1u], lid > 0u);
  let total = red_v[WG - 1u];
  let target = uniform01(p.seed, state[p.step_index] + p.step_offset + row) * total;
  // u × total can round up to total: then the chunk that reaches the total takes it.
  let hit = (target >= excl && target < incl) || (target >= total && excl < total && incl >= total);
  if (hit) {
    var run = excl;
    var pick = 0xFFFFFFFFu;
    var last = i0;
    for (var i = i0; i < i1; i++) {
      let v = logits[base + i];
      if (order_key(v) >= theta) {
        run += exp((v - lmax) * inv_t);
        last = i;
        if (run > target) {
          pick = i;
          break;
        }
      }
    }
    // Rounding in the walk can fall short of the scan's sum: the chunk's last kept token then.
    ids[row] = select(last, pick, pick != 0xFFFFFFFFu);
  }
}
