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
// Thresholds are found by radix select (lib/radix-select.wgsl) over order-preserving keys of the logits:
// four passes of a 256-bin histogram (one byte per pass, highest first) pick the exact key at which the
// weight from the top reaches the goal: a count for top-k, probability in units of 2^-31 for top-p.
// u comes from a counter-based hash of (seed, step) (lib/uniform.wgsl): with h the lowbias32 integer hash (xor-shift 16,
// × 0x7feb352d, xor-shift 15, × 0x846ca68b, xor-shift 16, all mod 2^32), u = (h(h(seed ^ 0x9e3779b9) + step)
// >> 8) / 2^24. A run reproduces and needs no RNG state; the
// step is read from a GPU buffer, so a recorded decode step can be replayed as is.
// min_p then also drops tokens with e_i < min_p (after top-k and top-p, as Hugging Face orders them).
// A row whose logits hold a NaN or +inf (a broken weight or an overflow upstream; -inf is fine, as from the
// mask, bias or penalties) gets the id NONE instead of a draw, so that the engine can name the problem
// rather than repeat whichever token a NaN comparison happened to leave.
//
// Every read of a logit goes through adjusted(), which first drops the tokens a token mask leaves out
// (constrained decoding: -inf; at least one token must stay), then applies the request's logit_bias and penalties
// (SamplingPenalties in executor/generator.ts): l += bias (≤ -100: -inf); for a token seen in the prompt
// or reply, l = l > 0 ? l / repetition : l · repetition; then l -= frequency · c + presence · [c > 0].
// counts[id] holds c in its low 31 bits and "in the prompt" in bit 31; with `penalize` the sampler adds
// its own draw to it, so a decode step stays one submission.
//
// Scans and reductions are two-level (16 leaders, each over a 16th) so that a row costs ~45 barriers:
// software adapters pay per barrier and per invocation, and run this with a smaller WG.

override WG: u32 = 256;         // invocations; a multiple of GROUPS
const GROUPS: u32 = REDUCE_GROUPS; // leaders in the two-level scans, as many as workgroup_sum's (lib/reduce.wgsl)
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
  min_p: f32,         // ≤ 0: off
  n_bias: u32,        // entries in bias
  penalize: u32,      // 1: read counts, and count the drawn id (rows must be 1)
  repetition: f32,
  presence: f32,
  frequency: f32,
  neg_inf: f32,       // -inf, from the launcher: a WGSL constant cannot hold it
  masked: u32,        // 1: only tokens whose bit is set in `allowed` may be drawn
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> state: array<u32>;
// [id, bitcast<u32>(bias)] pairs, ids ascending.
@group(0) @binding(2) var<storage, read> bias: array<u32>;
// Constrained decoding: bit i % 32 of word i / 32 set when token i may be drawn.
@group(0) @binding(3) var<storage, read> allowed: array<u32>;
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;
@group(0) @binding(5) var<storage, read_write> counts: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> red_v: array<f32, WG>;
var<workgroup> red_i: array<u32, WG>;
var<workgroup> bound: array<f32, WG>;
var<workgroup> lead_v: array<f32, GROUPS>;
var<workgroup> lead_i: array<u32, GROUPS>;
// Set when a raw logit of the row is NaN or +inf; workgroup memory starts at zero, one row per workgroup.
var<workgroup> nonfinite: atomic<u32>;

const PROMPT_BIT: u32 = 0x80000000u;

fn bias_of(id: u32) -> f32 {
  var lo = 0u;
  var hi = p.n_bias;
  while (lo < hi) {
    let mid = (lo + hi) / 2u;
    if (bias[2u * mid] < id) { lo = mid + 1u; } else { hi = mid; }
  }
  if (lo == p.n_bias || bias[2u * lo] != id) { return 0.0; }
  return bitcast<f32>(bias[2u * lo + 1u]);
}

// The logit of token i of the row at `base`, after the token mask, logit_bias and the penalties.
fn adjusted(base: u32, i: u32) -> f32 {
  if (p.masked != 0u && ((allowed[i >> 5u] >> (i & 31u)) & 1u) == 0u) { return p.neg_inf; }
  var v = logits[base + i];
  if (p.n_bias > 0u) {
    let b = bias_of(i);
    v = select(v + b, p.neg_inf, b <= -100.0);
  }
  if (p.penalize != 0u) {
    let c = counts[i];
    if (c != 0u) {
      let n = c & ~PROMPT_BIT;
      v = select(v * p.repetition, v / p.repetition, v > 0.0);
      if (n != 0u) { v -= f32(n) * p.frequency + p.presence; }
    }
  }
  return v;
}

// The id drawn for the row; with `penalize` it counts in the reply from here on.
fn emit(row: u32, id: u32) {
  ids[row] = id;
  if (p.penalize != 0u) { counts[id] += 1u; }
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

// What radix_select (lib/radix-select.wgsl) reads, set by threshold() before each call.
var<private> sel_base: u32;
var<private> sel_key_min: u32;
var<private> sel_weighted: bool;
var<private> sel_lmax: f32;
var<private> sel_inv_t: f32;
var<private> sel_w_scale: f32;

// Keys below key_min weigh nothing; the others 1 each, or e_i · w_scale rounded when `weighted`.
fn radix_item(i: u32) -> vec2<u32> {
  let v = adjusted(sel_base, i);
  let k = order_key(v);
  var w = select(0u, 1u, k >= sel_key_min);
  if (sel_weighted && w != 0u) { w = u32(exp((v - sel_lmax) * sel_inv_t) * sel_w_scale + 0.5); }
  return vec2<u32>(k, w);
}

// The largest key θ ≥ key_min with weight(keys ≥ θ) ≥ goal. A goal above the total weight gives the
// lowest key.
fn threshold(lid: u32, base: u32, key_min: u32, weighted: bool, goal: u32, lmax: f32, inv_t: f32, w_scale: f32) -> u32 {
  sel_base = base;
  sel_key_min = key_min;
  sel_weighted = weighted;
  sel_lmax = lmax;
  sel_inv_t = inv_t;
  sel_w_scale = w_scale;
  return radix_select(lid, p.vocab, goal).x;
}

// Whether the draw may give a token of adjusted logit v: at or above the top-k/top-p threshold, within
// min_p, and not -inf (masked or banned), so that the walk's fallback below is never such a token.
fn kept(v: f32, theta: u32, lmax: f32, inv_t: f32, log_min_p: f32) -> bool {
  return v != p.neg_inf && order_key(v) >= theta && (v - lmax) * inv_t >= log_min_p;
}

@compute @workgroup_size(WG)
fn sample(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let row = flat_group(wid, nwg);
  if (row >= p.rows) { return; }
  let base = row * p.logits_stride;
  let span = WG / GROUPS;

  // Max and argmax; a thread takes its first element whatever it is, so that all -inf still yields an id.
  var bv = 0.0;
  var bi = NONE;
  var usable = true;
  for (var i = lid; i < p.vocab; i += WG) {
    usable = usable && is_usable(logits[base + i]);
    let v = adjusted(base, i);
    if (better(bv, bi, v, i)) {
      bv = v;
      bi = i;
    }
  }
  if (!usable) { atomicOr(&nonfinite, 1u); }
  red_v[lid] = bv;
  red_i[lid] = bi;
  if (workgroupUniformLoad(&nonfinite) != 0u) {
    if (lid == 0u) { ids[row] = NONE; }
    return;
  }
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
    if (lid == 0u) { emit(row, amax); }
    return;
  }
  // A tiny temperature must not make (0 × inf) at the max.
  let inv_t = min(1.0 / p.temperature, 1e30);
  // min_p: e_i ≥ min_p, i.e. (l_i - max) / T ≥ ln(min_p).
  let log_min_p = select(p.neg_inf, log(p.min_p), p.min_p > 0.0);

  var theta = 0u;
  if (p.top_k > 0u && p.top_k < p.vocab) {
    theta = threshold(lid, base, 0u, false, p.top_k, lmax, inv_t, 1.0);
  }
  if (p.top_p < 1.0) {
    var z = 0.0;
    for (var i = lid; i < p.vocab; i += WG) {
      let v = adjusted(base, i);
      if (order_key(v) >= theta) { z += exp((v - lmax) * inv_t); }
    }
    let zk = workgroup_sum(lid, z);
    let goal = max(1u, u32(p.top_p * P_ONE));
    theta = threshold(lid, base, theta, true, goal, lmax, inv_t, P_ONE / zk);
  }

  // The draw, in index order: invocation j takes the j-th contiguous chunk and the interval
  // [bound[j], bound[j+1]) of the total; the one holding u × total walks its chunk.
  let per = (p.vocab + WG - 1u) / WG;
  let i0 = min(lid * per, p.vocab);
  let i1 = min(i0 + per, p.vocab);
  var sum = 0.0;
  for (var i = i0; i < i1; i++) {
    let v = adjusted(base, i);
    if (kept(v, theta, lmax, inv_t, log_min_p)) { sum += exp((v - lmax) * inv_t); }
  }
  // The bounds are the exclusive prefix sums of the same partial sums as the total, in its order: they
  // never decrease, each is computed once, and the intervals tile [0, total).
  let total = workgroup_sum(lid, sum);
  bound[lid] = workgroup_prefix4(lid).x;
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
      let v = adjusted(base, i);
      if (kept(v, theta, lmax, inv_t, log_min_p)) {
        run += exp((v - lmax) * inv_t);
        last = i;
        if (run > goal) {
          pick = i;
          break;
        }
      }
    }
    // Rounding in the walk can fall short of the bound: the chunk's last kept token then.
    emit(row, select(last, pick, pick != NONE));
  }
}
