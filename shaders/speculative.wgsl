// Speculative decoding's two kernels (docs/speculative.md), one workgroup each, for greedy decoding and
// plain temperature sampling (no top-k, top-p, min-p or penalties), with k = p.drafts chained drafts (1 … 3).
//
// verify: the main model was fed [t, d_1 … d_k], d_j = ids[j]; main row j holds its logits after the
// row's token (row j − 1 judges d_j, row k gives the bonus token). Draft d_j's own logits q_j are row
// result[QROW + j − 1] of draft_logits (written by the draft kernels that drew it).
//   greedy (temperature ≤ 0): a_j = argmax of row j − 1 (lowest id on ties); d_j is accepted while every
//   earlier one was and a_j = d_j; the first a_j ≠ d_j ends the step with a_j, or when all k are accepted
//   the bonus argmax of row k does. That is the token plain greedy decoding picks at each position.
//   sampling: for j = 1 … k, p = softmax(row j − 1 / T), q = softmax(q_j / T): accept d_j when
//   u_a · q(d_j) < p(d_j) (probability min(1, p/q)); at the first rejection draw the step's last token from
//   max(0, p − q) normalized with u_r (from p when that has no mass, which only rounding allows); when all k
//   are accepted, draw the bonus from softmax(row k / T) with u_b. Each token is then distributed as plain
//   sampling's (Leviathan et al., 2023; Chen et al., 2023).
//   A draw with u over weights w takes the first index at which the running sum of w exceeds u · Σ w.
//   Writes result[0] = n (tokens kept, accepted drafts + 1), result[TOK …] = the n tokens, and ids[1 … k+1]
//   = the tokens, padded with the last: the MTP rows that follow in the pass read them as next tokens.
//   When a main row 0 … k holds a NaN or +inf (lib/usable-logit.wgsl), nothing is drawn: n = 1, tok0 = NONE,
//   and ids 0 for the rows that follow, so that the engine can name the problem.
// draft (p.chain = c, the draft d_{c+1}): from draft_logits row r, its argmax or a draw from softmax(row / T)
//   with u_d. c = 0: r = n − 1 (n = result[0]), the module row of the last kept token, whose hidden row in
//   the module's activations is n − 1 + state[2]; c ≥ 1: r = k + c, the chained row's. Writes
//   result[DRAFT + c] = the draft, result[QROW + c] = r, and chain = [position, hidden row, draft]: where
//   the next chained row runs (one past the row drafted from: state[1] + hidden row + 1 for c = 0, chain[0]
//   + 1 after), which hidden row it reads (0 after a chained row, which ran alone) and its token.
// Uniforms (lib/uniform.wgsl), s = state[0] the step of the first token: the decision on d_j at step
// s + j − 1: u_a = u(seed ^ SALT_ACCEPT, ·), u_r = u(seed ^ SALT_RESIDUAL, ·); the bonus u_b = u(seed, s + k)
// (plain sampling's draw for that step); draft d_{c+1} u_d = u(seed ^ SALT_DRAFT, s + n + c).
//
// Each invocation owns a contiguous chunk of the vocabulary, so that a draw's winner scans its own chunk
// from the fixed-order prefix sum of the chunks before it (lib/reduce.wgsl).

override WG: u32 = 256;
const NONE: u32 = 0xFFFFFFFFu;
const SALT_ACCEPT: u32 = 0x5bd1e995u;
const SALT_RESIDUAL: u32 = 0x27d4eb2fu;
const SALT_DRAFT: u32 = 0x165667b1u;
// result words (kernels/speculative.ts SPECULATIVE_RESULT).
const TOK: u32 = 1u;
const DRAFT_AT: u32 = 5u;
const QROW: u32 = 8u;
// Which weights a reduction or draw runs over.
const MAIN: u32 = 0u;
const DRAFT: u32 = 1u;
const RESIDUAL: u32 = 2u;

struct Params {
  mode: u32,        // 0: verify, 1: draft (one entry point, so that both bind the same buffers)
  vocab: u32,
  temperature: f32, // ≤ 0: greedy
  seed: u32,
  q_rows: u32,      // rows of draft_logits
  drafts: u32,      // k
  chain: u32,       // draft: c
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> main_logits: array<f32>;
@group(0) @binding(1) var<storage, read> draft_logits: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;
@group(0) @binding(4) var<storage, read_write> result: array<u32>;
@group(0) @binding(5) var<storage, read_write> chain: array<u32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> shared_u32: u32;
var<private> mbase: u32;
var<private> qbase: u32;
var<private> inv_t: f32;
// Maxima and sums of exp((l − max) · inv_t) of the current main row and the draft row.
var<private> mx: vec2<f32>;
var<private> sm: vec2<f32>;

fn logit(kind: u32, i: u32) -> f32 {
  if (kind == MAIN) { return main_logits[mbase + i]; }
  return draft_logits[qbase + i];
}

fn soft(kind: u32, i: u32) -> f32 {
  return exp((logit(kind, i) - mx[kind]) * inv_t);
}

fn weight(kind: u32, i: u32) -> f32 {
  if (kind == RESIDUAL) { return max(0.0, soft(MAIN, i) / sm[0] - soft(DRAFT, i) / sm[1]); }
  return soft(kind, i);
}

fn chunk(lid: u32) -> vec2<u32> {
  let span = (p.vocab + WG - 1u) / WG;
  let lo = min(lid * span, p.vocab);
  return vec2<u32>(lo, min(lo + span, p.vocab));
}

/** A value every invocation computed alike, made uniform for control flow. */
fn uniform_u32(lid: u32, v: u32) -> u32 {
  workgroupBarrier();
  if (lid == 0u) { shared_u32 = v; }
  return workgroupUniformLoad(&shared_u32);
}

fn row_max(lid: u32, kind: u32) -> f32 {
  let c = chunk(lid);
  var m = logit(kind, 0u);
  for (var i = c.x; i < c.y; i++) { m = max(m, logit(kind, i)); }
  return workgroup_max(lid, m);
}

fn row_sum(lid: u32, kind: u32) -> f32 {
  let c = chunk(lid);
  var s = 0.0;
  for (var i = c.x; i < c.y; i++) { s += soft(kind, i); }
  return workgroup_sum(lid, s);
}

/** The lowest index of the row's maximum. */
fn argmax(lid: u32, kind: u32) -> u32 {
  let m = row_max(lid, kind);
  let c = chunk(lid);
  var first = -3.0e38;
  for (var i = c.x; i < c.y; i++) {
    if (logit(kind, i) == m) {
      first = -f32(i);
      break;
    }
  }
  return uniform_u32(lid, u32(-workgroup_max(lid, first)));
}

/** A draw with `u` over `kind`'s weights; NONE when they have no mass. */
fn draw(lid: u32, kind: u32, u: f32) -> u32 {
  let c = chunk(lid);
  var s = 0.0;
  for (var i = c.x; i < c.y; i++) { s += weight(kind, i); }
  let total = workgroup_sum(lid, s);
  let before = workgroup_prefix4(lid).x;
  let goal = u * total;
  // The last chunk with mass that starts at or below the goal holds it (the prefixes never decrease);
  // rounding can leave the goal past its end, and then its last token with mass is taken.
  let winner = i32(workgroup_max(lid, select(-1.0, f32(lid), s > 0.0 && before <= goal)));
  var pick = NONE;
  if (i32(lid) == winner) {
    var run = before;
    for (var i = c.x; i < c.y; i++) {
      let w = weight(kind, i);
      if (w > 0.0) {
        pick = i;
        run += w;
        if (run > goal) { break; }
      }
    }
  }
  workgroupBarrier();
  if (lid == 0u) { shared_u32 = NONE; }
  workgroupBarrier();
  if (pick != NONE) { shared_u32 = pick; }
  return workgroupUniformLoad(&shared_u32);
}

fn set_main_row(row: u32) {
  mbase = row * p.vocab;
}

fn set_draft_row(row: u32) {
  qbase = min(row, p.q_rows - 1u) * p.vocab;
}

/** The softmax statistics of the current main and draft rows, for soft() and weight(). */
fn softmax_stats(lid: u32) {
  mx = vec2<f32>(row_max(lid, MAIN), row_max(lid, DRAFT));
  sm = vec2<f32>(row_sum(lid, MAIN), row_sum(lid, DRAFT));
}

/** 1 when a logit of main rows 0 … k is NaN or +inf, alike in every invocation. */
fn unusable_rows(lid: u32) -> u32 {
  let c = chunk(lid);
  var bad = 0.0;
  for (var r = 0u; r <= p.drafts; r++) {
    for (var i = c.x; i < c.y; i++) {
      if (!is_usable(main_logits[r * p.vocab + i])) { bad = 1.0; }
    }
  }
  return uniform_u32(lid, u32(workgroup_max(lid, bad)));
}

fn verify(lid: u32) {
  let k = p.drafts;
  if (unusable_rows(lid) != 0u) {
    if (lid == 0u) {
      result[0] = 1u;
      result[TOK] = NONE;
      for (var j = 1u; j <= k + 1u; j++) { ids[j] = 0u; }
    }
    return;
  }
  let s = state[0];
  inv_t = 1.0 / max(p.temperature, 1e-30);
  var accepted = 0u;
  var last = NONE;
  for (var j = 0u; j < k; j++) {
    let d = uniform_u32(lid, ids[j + 1u]);
    set_main_row(j);
    if (p.temperature <= 0.0) {
      let a = argmax(lid, MAIN);
      if (a != d) {
        last = a;
        break;
      }
    } else {
      set_draft_row(result[QROW + j]);
      softmax_stats(lid);
      let pd = soft(MAIN, d) / sm[0];
      let qd = soft(DRAFT, d) / sm[1];
      let accept = uniform_u32(lid, u32(uniform01(p.seed ^ SALT_ACCEPT, s + j) * qd < pd)) != 0u;
      if (!accept) {
        let ur = uniform01(p.seed ^ SALT_RESIDUAL, s + j);
        last = draw(lid, RESIDUAL, ur);
        if (last == NONE) { last = draw(lid, MAIN, ur); }
        break;
      }
    }
    accepted++;
  }
  if (accepted == k) {
    set_main_row(k);
    if (p.temperature <= 0.0) {
      last = argmax(lid, MAIN);
    } else {
      mx[0] = row_max(lid, MAIN);
      last = draw(lid, MAIN, uniform01(p.seed, s + k));
    }
  }
  if (lid == 0u) {
    result[0] = accepted + 1u;
    for (var j = 0u; j <= k; j++) {
      let t = select(last, ids[j + 1u], j < accepted);
      result[TOK + j] = t;
      ids[j + 1u] = t;
    }
  }
}

fn draft(lid: u32) {
  let n = uniform_u32(lid, result[0]);
  let c = p.chain;
  let row = min(select(p.drafts + c, n - 1u, c == 0u), p.q_rows - 1u);
  set_draft_row(row);
  var d: u32;
  if (p.temperature <= 0.0) {
    d = argmax(lid, DRAFT);
  } else {
    inv_t = 1.0 / p.temperature;
    mx[1] = row_max(lid, DRAFT);
    d = draw(lid, DRAFT, uniform01(p.seed ^ SALT_DRAFT, state[0] + n + c));
  }
  if (lid == 0u) {
    result[DRAFT_AT + c] = d;
    result[QROW + c] = row;
    if (c == 0u) {
      let hidden = n - 1u + state[2];
      chain[0] = state[1] + hidden + 1u;
      chain[1] = hidden;
    } else {
      chain[0] += 1u;
      chain[1] = 0u;
    }
    chain[2] = d;
  }
}

@compute @workgroup_size(WG)
fn speculative(@builtin(local_invocation_index) lid: u32) {
  if (p.mode == 0u) { verify(lid); } else { draft(lid); }
}
