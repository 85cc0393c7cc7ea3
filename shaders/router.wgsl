// The DeepSeekMoE router: per token, scores over E routed experts, group-limited top-k selection,
// and the routing weights, in one dispatch with no CPU round trip (math: shared/deepseek.md, Routing).
//
// router_*        : x [T, d], W [E, d], bias [E] -> ids [T, K], weights [T, K], usage [E].
//                   Computes the logits itself (W · x); what decode and short prompts use.
// router_select_* : logits [T, E], bias [E]     -> ids, weights, usage (the same selection), for long
//                   prompts where the logits come from the matmul family's GEMM instead, which reads
//                   W once for many tokens rather than once per token.
//
//   scores   s = softmax(logits) or sigmoid(logits), in f32
//   biased   b = s + bias (when has_bias; selection only)
//   groups   (method != greedy and n_group > 1) E/n_group consecutive experts per group; group score =
//            max b in the group (group_limited_greedy) or the sum of its 2 largest b (noaux_tc); the
//            topk_group best groups stay eligible. Experts in dropped groups are never chosen (DeepSeek
//            masks them with -inf; Hugging Face with 0, which differs only when fewer than K eligible b
//            are positive).
//   top-k    the K eligible experts with the largest b, written in descending order of b.
//   weights  s of the chosen (unbiased), / their sum when norm_topk, then * scale. (Hugging Face's
//            code normalizes only when K > 1, and its V2 code skips the scale when it normalizes; no
//            released config reaches either difference: K > 1 everywhere and V2 never normalizes.)
//   usage    when count_usage: usage[e] += 1 (atomic) for every chosen expert, for a per-layer heatmap.
//            Integer counts are exact whatever the order of the atomics.
//
// Ties (equal b, or equal group scores): the lower index wins, in both shapes, so results are
// deterministic. Each token's K ids are distinct.
//
// Two shapes:
//   *_wg  : one workgroup of WG (>= E) invocations per token. Logits by 8-lane teams per expert row
//           (each warp reads 32-byte runs of 4 rows), softmax by two 16-way reductions, selection by ranks:
//           invocation e counts the eligible experts that beat it, and rank < K places it.
//   *_row : one invocation per token, plain loops (software adapters run invocations as CPU threads).
//           Selection by K passes, each taking the best expert below the previous one in the
//           (b desc, index asc) order.

override WG: u32 = 256;
override ROW_WG: u32 = 64;

const MAX_E: u32 = 256u;
const MAX_K: u32 = 8u;
const MAX_G: u32 = 8u;
// Invocations sharing one expert's dot product in router_wg.
const LANES: u32 = 8u;
// Below every score; not -inf, which WGSL constant expressions cannot hold.
const LOWEST: f32 = -3.4028234e38;

const SOFTMAX: u32 = 0u;
const SIGMOID: u32 = 1u;
const GREEDY: u32 = 0u;
const GROUP_LIMITED_GREEDY: u32 = 1u;
const NOAUX_TC: u32 = 2u;

struct Params {
  tokens: u32,
  dim: u32,
  experts: u32,
  top_k: u32,
  n_group: u32,
  topk_group: u32,
  scoring: u32,
  method: u32,
  norm_topk: u32,
  has_bias: u32,
  count_usage: u32,
  scale: f32,
}

// router_* bindings
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w_router: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;
@group(0) @binding(5) var<storage, read_write> usage: array<atomic<u32>>;
@group(0) @binding(6) var<uniform> p: Params;

// router_select_* bindings (an entry point uses one set only)
@group(0) @binding(0) var<storage, read> s_logits: array<f32>;
@group(0) @binding(1) var<storage, read> s_bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> s_ids: array<u32>;
@group(0) @binding(3) var<storage, read_write> s_weights: array<f32>;
@group(0) @binding(4) var<storage, read_write> s_usage: array<atomic<u32>>;
@group(0) @binding(5) var<uniform> s_p: Params;

fn is_grouped(q: Params) -> bool {
  return q.method != GREEDY && q.n_group > 1u;
}

fn score_of(q: Params, logit: f32) -> f32 {
  // Softmax is finished by the caller (it needs the row's max and sum).
  return select(logit, 1.0 / (1.0 + exp(-logit)), q.scoring == SIGMOID);
}

// ---------------------------------------------------------------- workgroup shape

// Dot-product partials [E][LANES].
var<workgroup> red: array<f32, MAX_E * LANES>;
// Reduction inputs (one per invocation) and the partials of 16 inputs each.
var<workgroup> rin: array<f32, MAX_E>;
var<workgroup> rpart: array<f32, 16>;
var<workgroup> rout: f32;
// Scores s and biased scores b.
var<workgroup> sc: array<f32, MAX_E>;
var<workgroup> bs: array<f32, MAX_E>;
var<workgroup> group_score: array<f32, MAX_G>;
var<workgroup> group_keep: array<u32, MAX_G>;
var<workgroup> sel_id: array<u32, MAX_K>;
var<workgroup> sel_s: array<f32, MAX_K>;

// Max (is_max) or sum over the workgroup in a fixed order: 16 inputs per partial, then the partials.
// Three barriers rather than a binary tree's log2(WG) + 2; software adapters pay per barrier.
// Needs WG a multiple of 16 and at most 256.
fn wg_reduce(lid: u32, v: f32, is_max: bool) -> f32 {
  rin[lid] = v;
  workgroupBarrier();
  let parts = WG / 16u;
  if (lid < parts) {
    var a = rin[lid * 16u];
    for (var j = 1u; j < 16u; j++) {
      let o = rin[lid * 16u + j];
      a = select(a + o, max(a, o), is_max);
    }
    rpart[lid] = a;
  }
  workgroupBarrier();
  if (lid == 0u) {
    var a = rpart[0];
    for (var j = 1u; j < parts; j++) { a = select(a + rpart[j], max(a, rpart[j]), is_max); }
    rout = a;
  }
  workgroupBarrier();
  // The next reduction writes rout only after two more barriers, when every invocation has read it.
  return rout;
}

fn wg_token(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.y * nwg.x + wid.x;
}

// Invocation lid < E brings its expert's logit and bias (0 without one). Leaves the chosen ids in
// sel_id and returns the final weight of choice `lid` for lid < K (meaningless for other lids).
fn route_wg(lid: u32, q: Params, logit: f32, bias_e: f32) -> f32 {
  let E = q.experts;
  let K = q.top_k;
  let live = lid < E;
  if (lid < K) {
    sel_id[lid] = 0u;
    sel_s[lid] = 0.0;
  }
  var s = 0.0;
  if (q.scoring == SOFTMAX) {
    let l = select(LOWEST, logit, live);
    let m = wg_reduce(lid, l, true);
    let e = select(0.0, exp(l - m), live);
    s = e / wg_reduce(lid, e, false);
  } else {
    s = score_of(q, logit);
  }
  if (live) {
    sc[lid] = s;
    bs[lid] = s + bias_e;
  }
  workgroupBarrier();

  let grouped = is_grouped(q);
  let gsize = E / max(q.n_group, 1u);
  if (grouped) {
    if (lid < q.n_group) {
      let g0 = lid * gsize;
      var best = LOWEST;
      var second = LOWEST;
      for (var e = g0; e < g0 + gsize; e++) {
        let v = bs[e];
        if (v > best) { second = best; best = v; } else if (v > second) { second = v; }
      }
      group_score[lid] = select(best, best + second, q.method == NOAUX_TC);
    }
    workgroupBarrier();
    if (lid < q.n_group) {
      let v = group_score[lid];
      var rank = 0u;
      for (var g = 0u; g < q.n_group; g++) {
        let o = group_score[g];
        rank += select(0u, 1u, o > v || (o == v && g < lid));
      }
      group_keep[lid] = select(0u, 1u, rank < q.topk_group);
    }
    workgroupBarrier();
  }

  if (live && (!grouped || group_keep[lid / gsize] != 0u)) {
    let v = bs[lid];
    var rank = 0u;
    for (var e = 0u; e < E; e++) {
      let o = bs[e];
      let eligible = !grouped || group_keep[e / gsize] != 0u;
      rank += select(0u, 1u, eligible && (o > v || (o == v && e < lid)));
    }
    if (rank < K) {
      sel_id[rank] = lid;
      sel_s[rank] = sc[lid];
    }
  }
  workgroupBarrier();

  if (lid >= K) { return 0.0; }
  var total = 0.0;
  for (var k = 0u; k < K; k++) { total += sel_s[k]; }
  let w = select(sel_s[lid], sel_s[lid] / (total + 1e-20), q.norm_topk != 0u);
  return w * q.scale;
}

@compute @workgroup_size(WG)
fn router_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  // Uniform per workgroup, so returning here keeps every barrier below in uniform control flow.
  let t = wg_token(wid, nwg);
  if (t >= p.tokens) { return; }
  let E = p.experts;
  let d = p.dim;
  let lane = lid % LANES;
  let xb = t * d;
  for (var e = lid / LANES; e < E; e += WG / LANES) {
    let wb = e * d;
    var acc = 0.0;
    for (var c = lane; c < d; c += LANES) { acc += w_router[wb + c] * x[xb + c]; }
    red[e * LANES + lane] = acc;
  }
  workgroupBarrier();
  var logit = 0.0;
  var b = 0.0;
  if (lid < E) {
    for (var j = 0u; j < LANES; j++) { logit += red[lid * LANES + j]; }
    if (p.has_bias != 0u) { b = bias[lid]; }
  }
  let w = route_wg(lid, p, logit, b);
  if (lid < p.top_k) {
    let id = sel_id[lid];
    ids[t * p.top_k + lid] = id;
    weights[t * p.top_k + lid] = w;
    if (p.count_usage != 0u) { atomicAdd(&usage[id], 1u); }
  }
}

@compute @workgroup_size(WG)
fn router_select_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let t = wg_token(wid, nwg);
  if (t >= s_p.tokens) { return; }
  var logit = 0.0;
  var b = 0.0;
  if (lid < s_p.experts) {
    logit = s_logits[t * s_p.experts + lid];
    if (s_p.has_bias != 0u) { b = s_bias[lid]; }
  }
  let w = route_wg(lid, s_p, logit, b);
  if (lid < s_p.top_k) {
    let id = sel_id[lid];
    s_ids[t * s_p.top_k + lid] = id;
    s_weights[t * s_p.top_k + lid] = w;
    if (s_p.count_usage != 0u) { atomicAdd(&s_usage[id], 1u); }
  }
}

// ---------------------------------------------------------------- row shape

struct Choice {
  ids: array<u32, MAX_K>,
  weights: array<f32, MAX_K>,
}

// sc: logits in, scores out; bs: bias (or 0) in, biased scores out.
fn route_row(q: Params, sc: ptr<function, array<f32, MAX_E>>, bs: ptr<function, array<f32, MAX_E>>) -> Choice {
  let E = q.experts;
  let K = q.top_k;
  if (q.scoring == SOFTMAX) {
    var m = LOWEST;
    for (var e = 0u; e < E; e++) { m = max(m, (*sc)[e]); }
    var total = 0.0;
    for (var e = 0u; e < E; e++) {
      let v = exp((*sc)[e] - m);
      (*sc)[e] = v;
      total += v;
    }
    for (var e = 0u; e < E; e++) { (*sc)[e] /= total; }
  } else {
    for (var e = 0u; e < E; e++) { (*sc)[e] = score_of(q, (*sc)[e]); }
  }
  for (var e = 0u; e < E; e++) { (*bs)[e] += (*sc)[e]; }

  // Bit g set: group g is eligible.
  var keep = 0xffffffffu;
  let grouped = is_grouped(q);
  let gsize = E / max(q.n_group, 1u);
  if (grouped) {
    var gs = array<f32, MAX_G>();
    for (var g = 0u; g < q.n_group; g++) {
      var best = LOWEST;
      var second = LOWEST;
      for (var e = g * gsize; e < (g + 1u) * gsize; e++) {
        let v = (*bs)[e];
        if (v > best) { second = best; best = v; } else if (v > second) { second = v; }
      }
      gs[g] = select(best, best + second, q.method == NOAUX_TC);
    }
    keep = 0u;
    for (var j = 0u; j < q.topk_group; j++) {
      var bg = 0u;
      var bv = LOWEST;
      var found = false;
      for (var g = 0u; g < q.n_group; g++) {
        if ((keep & (1u << g)) == 0u && (!found || gs[g] > bv)) { bg = g; bv = gs[g]; found = true; }
      }
      keep |= 1u << bg;
    }
  }

  var res: Choice;
  var total = 0.0;
  var prev_v = 0.0;
  var prev_e = 0u;
  for (var k = 0u; k < K; k++) {
    var best_e = 0u;
    var best_v = LOWEST;
    var found = false;
    for (var e = 0u; e < E; e++) {
      if (grouped && (keep & (1u << (e / gsize))) == 0u) { continue; }
      let v = (*bs)[e];
      // Strictly after the previous choice in (b desc, index asc) order.
      let after = k == 0u || v < prev_v || (v == prev_v && e > prev_e);
      if (after && (!found || v > best_v)) { best_e = e; best_v = v; found = true; }
    }
    res.ids[k] = best_e;
    res.weights[k] = (*sc)[best_e];
    total += res.weights[k];
    prev_v = best_v;
    prev_e = best_e;
  }
  for (var k = 0u; k < K; k++) {
    let w = select(res.weights[k], res.weights[k] / (total + 1e-20), q.norm_topk != 0u);
    res.weights[k] = w * q.scale;
  }
  return res;
}

fn row_token(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.y * nwg.x * ROW_WG + gid.x;
}

@compute @workgroup_size(ROW_WG)
fn router_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = row_token(gid, nwg);
  if (t >= p.tokens) { return; }
  let E = p.experts;
  let d = p.dim;
  var sc = array<f32, MAX_E>();
  var bs = array<f32, MAX_E>();
  for (var e = 0u; e < E; e++) {
    var acc = 0.0;
    for (var c = 0u; c < d; c++) { acc += w_router[e * d + c] * x[t * d + c]; }
    sc[e] = acc;
    bs[e] = 0.0;
    if (p.has_bias != 0u) { bs[e] = bias[e]; }
  }
  let r = route_row(p, &sc, &bs);
  for (var k = 0u; k < p.top_k; k++) {
    ids[t * p.top_k + k] = r.ids[k];
    weights[t * p.top_k + k] = r.weights[k];
    if (p.count_usage != 0u) { atomicAdd(&usage[r.ids[k]], 1u); }
  }
}

@compute @workgroup_size(ROW_WG)
fn router_select_row(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let t = row_token(gid, nwg);
  if (t >= s_p.tokens) { return; }
  let E = s_p.experts;
  var sc = array<f32, MAX_E>();
  var bs = array<f32, MAX_E>();
  for (var e = 0u; e < E; e++) {
    sc[e] = s_logits[t * E + e];
    bs[e] = 0.0;
    if (s_p.has_bias != 0u) { bs[e] = s_bias[e]; }
  }
  let r = route_row(s_p, &sc, &bs);
  for (var k = 0u; k < s_p.top_k; k++) {
    s_ids[t * s_p.top_k + k] = r.ids[k];
    s_weights[t * s_p.top_k + k] = r.weights[k];
    if (s_p.count_usage != 0u) { atomicAdd(&s_usage[r.ids[k]], 1u); }
  }
}
