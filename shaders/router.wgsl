// The DeepSeekMoE router's selection (docs/architecture-v3.md#routing, docs/architecture-v4.md#moe): per
// token, from the logits over E routed experts (the matmul family computes them: one GEMM reads the gate
// weight once for all tokens), the scores, the choice of K experts and their routing weights, in one
// dispatch with no CPU round trip.
//
//   router_select_*: logits [T, E], bias [E], table [V, K], token_ids -> ids [T, K], weights [T, K], usage [E].
//
//   scores   s = softmax(logits), sigmoid(logits) or sqrt(softplus(logits)), in f32
//   biased   b = s + bias (when has_bias; selection only)
//   groups   (method != greedy and n_group > 1) E/n_group consecutive experts per group; group score =
//            max b in the group (group_limited_greedy) or the sum of its 2 largest b (noaux_tc); the
//            topk_group best groups stay eligible. Experts in dropped groups are never chosen (DeepSeek
//            masks them with -inf; Hugging Face with 0, which differs only when fewer than K eligible b
//            are positive).
//   top-k    the K eligible experts with the largest b, written in descending order of b.
//   hashed   (V4's first layers) instead of top-k: ids = table[token_ids[token_offset + t]], in the
//            table's order; scores, bias and groups play no part in the choice.
//   weights  s of the chosen (unbiased), / their sum when norm_topk, then * scale. (Hugging Face's
//            code normalizes only when K > 1, and its V2 code skips the scale when it normalizes; no
//            released config reaches either difference: K > 1 everywhere and V2 never normalizes.)
//   usage    when count_usage: usage[e] += 1 (atomic) for every chosen expert, for a per-layer heatmap.
//            Integer counts are exact whatever the order of the atomics.
//
// Ties (equal b, or equal group scores): the lower index wins, in both shapes, so results are
// deterministic. Each token's K top-k ids are distinct. A table entry >= E (the loader refuses such
// tables) gets weight 0 and no usage count.
//
// Two shapes:
//   router_select_wg : one workgroup of WG invocations per token; invocation i handles experts i, i + WG,
//                      … (E <= MAX_E). Softmax by workgroup_max and workgroup_sum (lib/reduce.wgsl),
//                      selection by ranks: each expert counts the eligible experts that beat it, and
//                      rank < K places it.
//   router_select_row: one invocation per token, plain loops (software adapters run invocations as CPU
//                      threads), no per-expert storage: scores are recomputed from the logits where
//                      needed. Selection by K passes, each taking the best expert not chosen yet.
// Bindings: 0 logits, 1 bias, 2 table, 3 token_ids (absent ones bound to a placeholder) | 4 ids,
// 5 weights, 6 usage (a placeholder without counting) | 7 params.

override WG: u32 = 256;
override ROW_WG: u32 = 64;

const MAX_E: u32 = 512u;
const MAX_K: u32 = 8u;
const MAX_G: u32 = 8u;
// Below every score; not -inf, which WGSL constant expressions cannot hold.
const LOWEST: f32 = -3.4028234e38;

const SOFTMAX: u32 = 0u;
const SIGMOID: u32 = 1u;
const SQRTSOFTPLUS: u32 = 2u;
const GREEDY: u32 = 0u;
const GROUP_LIMITED_GREEDY: u32 = 1u;
const NOAUX_TC: u32 = 2u;

struct Params {
  tokens: u32,
  experts: u32,
  top_k: u32,
  n_group: u32,
  topk_group: u32,
  scoring: u32,
  method: u32,
  norm_topk: u32,
  has_bias: u32,
  count_usage: u32,
  hashed: u32,
  token_offset: u32,
  scale: f32,
}

@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> table: array<u32>;
@group(0) @binding(3) var<storage, read> token_ids: array<u32>;
@group(0) @binding(4) var<storage, read_write> ids: array<u32>;
@group(0) @binding(5) var<storage, read_write> weights: array<f32>;
@group(0) @binding(6) var<storage, read_write> usage: array<atomic<u32>>;
@group(0) @binding(7) var<uniform> p: Params;

fn is_grouped(q: Params) -> bool {
  return q.method != GREEDY && q.n_group > 1u;
}

// log(1 + u) for u in [0, 1] to a few ulps, as 2·atanh(z), z = u / (2 + u) <= 1/3: the series has only
// positive terms. WGSL's log is only absolutely accurate (2^-21) near 1, which would lose all of
// softplus(x) ≈ e^x for negative x.
fn log1p_unit(u: f32) -> f32 {
  let z = u / (2.0 + u);
  let z2 = z * z;
  var acc = 1.0 / 15.0;
  acc = acc * z2 + 1.0 / 13.0;
  acc = acc * z2 + 1.0 / 11.0;
  acc = acc * z2 + 1.0 / 9.0;
  acc = acc * z2 + 1.0 / 7.0;
  acc = acc * z2 + 1.0 / 5.0;
  acc = acc * z2 + 1.0 / 3.0;
  acc = acc * z2 + 1.0;
  return 2.0 * z * acc;
}

// PyTorch's softplus in f32: x itself above 20, else log(1 + e^x) formed without overflow.
fn softplus(x: f32) -> f32 {
  return select(max(x, 0.0) + log1p_unit(exp(-abs(x))), x, x > 20.0);
}

// The score of one logit; softmax needs the row's max m and sum of exp(l - m) (1 and 0 otherwise).
fn score_of(q: Params, logit: f32, m: f32, total: f32) -> f32 {
  if (q.scoring == SOFTMAX) { return exp(logit - m) / total; }
  if (q.scoring == SIGMOID) { return 1.0 / (1.0 + exp(-logit)); }
  return sqrt(softplus(logit));
}

fn bias_of(q: Params, e: u32) -> f32 {
  return select(0.0, bias[e], q.has_bias != 0u);
}

// The table row of token t (a hashed route).
fn table_row(q: Params, t: u32) -> u32 {
  return token_ids[q.token_offset + t] * q.top_k;
}

fn count(q: Params, e: u32) {
  if (q.count_usage != 0u && e < q.experts) { atomicAdd(&usage[e], 1u); }
}

// ---------------------------------------------------------------- workgroup shape

// Scores s and biased scores b.
var<workgroup> sc: array<f32, MAX_E>;
var<workgroup> bs: array<f32, MAX_E>;
var<workgroup> group_score: array<f32, MAX_G>;
var<workgroup> group_keep: array<u32, MAX_G>;
var<workgroup> sel_id: array<u32, MAX_K>;
var<workgroup> sel_s: array<f32, MAX_K>;

fn kept(grouped: bool, e: u32, gsize: u32) -> bool {
  return !grouped || group_keep[e / gsize] != 0u;
}

// Leaves the chosen ids of token t in sel_id and returns the final weight of choice `lid` for lid < K
// (meaningless for other lids).
fn route_wg(lid: u32, q: Params, t: u32) -> f32 {
  let E = q.experts;
  let K = q.top_k;
  let row = t * E;
  if (lid < K) {
    sel_id[lid] = 0u;
    sel_s[lid] = 0.0;
  }
  var m = 0.0;
  var total = 1.0;
  if (q.scoring == SOFTMAX) {
    var lm = LOWEST;
    for (var e = lid; e < E; e += WG) { lm = max(lm, logits[row + e]); }
    m = workgroup_max(lid, lm);
    var ls = 0.0;
    for (var e = lid; e < E; e += WG) { ls += exp(logits[row + e] - m); }
    total = workgroup_sum(lid, ls);
  }
  for (var e = lid; e < E; e += WG) {
    let s = score_of(q, logits[row + e], m, total);
    sc[e] = s;
    bs[e] = s + bias_of(q, e);
  }
  workgroupBarrier();

  if (q.hashed != 0u) {
    if (lid < K) {
      let id = table[table_row(q, t) + lid];
      sel_id[lid] = id;
      sel_s[lid] = select(0.0, sc[min(id, E - 1u)], id < E);
    }
  } else {
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
      // Experts of dropped groups leave the ranking as the lowest value, so that the rank loop below reads
      // one value per expert and divides nothing (kept experts' biased scores are finite, above LOWEST).
      for (var e = lid; e < E; e += WG) {
        if (group_keep[e / gsize] == 0u) { bs[e] = LOWEST; }
      }
      workgroupBarrier();
    }
    for (var x = lid; x < E; x += WG) {
      if (!kept(grouped, x, gsize)) { continue; }
      let v = bs[x];
      var rank = 0u;
      for (var e = 0u; e < E; e++) {
        let o = bs[e];
        rank += select(0u, 1u, o > v || (o == v && e < x));
      }
      if (rank < K) {
        sel_id[rank] = x;
        sel_s[rank] = sc[x];
      }
    }
  }
  workgroupBarrier();

  if (lid >= K) { return 0.0; }
  var chosen = 0.0;
  for (var k = 0u; k < K; k++) { chosen += sel_s[k]; }
  let w = select(sel_s[lid], sel_s[lid] / (chosen + 1e-20), q.norm_topk != 0u);
  return w * q.scale;
}

@compute @workgroup_size(WG)
fn router_select_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
                    @builtin(local_invocation_index) lid: u32) {
  let t = flat_group(wid, nwg);
  if (t >= p.tokens) { return; }
  let w = route_wg(lid, p, t);
  if (lid < p.top_k) {
    let id = sel_id[lid];
    ids[t * p.top_k + lid] = id;
    weights[t * p.top_k + lid] = w;
    count(p, id);
  }
}

// ---------------------------------------------------------------- row shape

struct Choice {
  ids: array<u32, MAX_K>,
  weights: array<f32, MAX_K>,
}

// b of expert e of the row starting at `row`.
fn biased_row(q: Params, row: u32, e: u32, m: f32, total: f32) -> f32 {
  return score_of(q, logits[row + e], m, total) + bias_of(q, e);
}

fn route_row(q: Params, t: u32) -> Choice {
  let E = q.experts;
  let K = q.top_k;
  let row = t * E;
  var m = 0.0;
  var total = 1.0;
  if (q.scoring == SOFTMAX) {
    m = LOWEST;
    for (var e = 0u; e < E; e++) { m = max(m, logits[row + e]); }
    total = 0.0;
    for (var e = 0u; e < E; e++) { total += exp(logits[row + e] - m); }
  }

  var res: Choice;
  if (q.hashed != 0u) {
    let r = table_row(q, t);
    for (var k = 0u; k < K; k++) {
      let id = table[r + k];
      res.ids[k] = id;
      res.weights[k] = select(0.0, score_of(q, logits[row + min(id, E - 1u)], m, total), id < E);
    }
  } else {
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
          let v = biased_row(q, row, e, m, total);
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
    for (var k = 0u; k < K; k++) {
      var best_e = 0u;
      var best_v = LOWEST;
      var found = false;
      for (var e = 0u; e < E; e++) {
        if (grouped && (keep & (1u << (e / gsize))) == 0u) { continue; }
        // Membership rather than "after the previous choice in (b desc, index asc) order": b is
        // recomputed each pass, and a compiler may round two copies of it differently.
        var taken = false;
        for (var j = 0u; j < k; j++) { taken = taken || res.ids[j] == e; }
        if (taken) { continue; }
        let v = biased_row(q, row, e, m, total);
        if (!found || v > best_v) { best_e = e; best_v = v; found = true; }
      }
      res.ids[k] = best_e;
      res.weights[k] = score_of(q, logits[row + best_e], m, total);
    }
  }
  var chosen = 0.0;
  for (var k = 0u; k < K; k++) { chosen += res.weights[k]; }
  for (var k = 0u; k < K; k++) {
    let w = select(res.weights[k], res.weights[k] / (chosen + 1e-20), q.norm_topk != 0u);
    res.weights[k] = w * q.scale;
  }
  return res;
}

@compute @workgroup_size(ROW_WG)
fn router_select_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_id(wid, nwg, lid, ROW_WG);
  if (t >= p.tokens) { return; }
  let r = route_row(p, t);
  for (var k = 0u; k < p.top_k; k++) {
    ids[t * p.top_k + k] = r.ids[k];
    weights[t * p.top_k + k] = r.weights[k];
    count(p, r.ids[k]);
  }
}
