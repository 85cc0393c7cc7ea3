// Speculative decoding's two kernels (docs/speculative.md), one workgroup each, for greedy decoding and
// plain temperature sampling (no top-k, top-p, min-p or penalties).
//
// verify: the main model was fed [t, d], d = ids[1] the draft; main rows 0 and 1 are its logits after t
// (for d's position) and after d. q is the draft's logits: row result[4] of draft_logits.
//   greedy (temperature ≤ 0): a = argmax of row 0 (lowest id on ties); a = d → tokens [d, argmax of row 1],
//   else [a]. That is the token plain greedy decoding picks at each position.
//   sampling: p = softmax(row 0 / T), q = softmax(q / T). Accept d when u_a · q_d < p_d (probability
//   min(1, p_d / q_d)); then the second token is drawn from softmax(row 1 / T) with u_b. Else the token is
//   drawn from max(0, p − q) normalized, with u_r (from p when that has no mass, which only rounding
//   allows). So each token is distributed as plain sampling's (Leviathan et al., 2023).
//   A draw with u over weights w takes the first index at which the running sum of w exceeds u · Σ w.
//   Writes result[0 … 2] = [n, tok0, tok1] (n = 2 when d was accepted, tok1 = tok0 when not) and
//   ids[1] = tok0, ids[2] = tok1: the MTP rows that follow in the pass read them as next tokens.
//   When main rows 0 or 1 hold a NaN or +inf (lib/usable-logit.wgsl), nothing is drawn: [1, NONE, NONE],
//   and ids 0 for the rows that follow, so that the engine can name the problem.
// draft: row n − 1 of draft_logits (n = result[0]): its argmax, or a draw from softmax(row / T) with u_d;
//   writes result[3] = the draft, result[4] = its row (the next verify's q).
// Uniforms (lib/uniform.wgsl), s = state[0] the step of tok0: u_a = u(seed ^ SALT_ACCEPT, s),
// u_r = u(seed ^ SALT_RESIDUAL, s), u_b = u(seed, s + 1) (plain sampling's draw for that step),
// u_d = u(seed ^ SALT_DRAFT, s + n).
//
// Each invocation owns a contiguous chunk of the vocabulary, so that a draw's winner scans its own chunk
// from the fixed-order prefix sum of the chunks before it (lib/reduce.wgsl).

override WG: u32 = 256;
const NONE: u32 = 0xFFFFFFFFu;
const SALT_ACCEPT: u32 = 0x5bd1e995u;
const SALT_RESIDUAL: u32 = 0x27d4eb2fu;
const SALT_DRAFT: u32 = 0x165667b1u;
// Which weights a reduction or draw runs over.
const MAIN0: u32 = 0u;
const MAIN1: u32 = 1u;
const DRAFT: u32 = 2u;
const RESIDUAL: u32 = 3u;

struct Params {
  mode: u32,        // 0: verify, 1: draft (one entry point, so that both bind the same buffers)
  vocab: u32,
  temperature: f32, // ≤ 0: greedy
  seed: u32,
  q_rows: u32,      // rows of draft_logits
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> main_logits: array<f32>;
@group(0) @binding(1) var<storage, read> draft_logits: array<f32>;
@group(0) @binding(2) var<storage, read> state: array<u32>;
@group(0) @binding(3) var<storage, read_write> ids: array<u32>;
@group(0) @binding(4) var<storage, read_write> result: array<u32>;
@group(0) @binding(5) var<uniform> p: Params;

var<workgroup> shared_u32: u32;
var<private> qbase: u32;
var<private> inv_t: f32;
// Maxima and sums of exp((l − max) · inv_t) of main rows 0, 1 and the draft row.
var<private> mx: vec3<f32>;
var<private> sm: vec3<f32>;

fn logit(kind: u32, i: u32) -> f32 {
  switch kind {
    case 0u: { return main_logits[i]; }
    case 1u: { return main_logits[p.vocab + i]; }
    default: { return draft_logits[qbase + i]; }
  }
}

fn soft(kind: u32, i: u32) -> f32 {
  return exp((logit(kind, i) - mx[kind]) * inv_t);
}

fn weight(kind: u32, i: u32) -> f32 {
  if (kind == RESIDUAL) { return max(0.0, soft(MAIN0, i) / sm[0] - soft(DRAFT, i) / sm[2]); }
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

fn set_draft_row(row: u32) {
  qbase = min(row, p.q_rows - 1u) * p.vocab;
}

/** 1 when a logit of main row 0 or 1 is NaN or +inf, alike in every invocation. */
fn unusable_rows(lid: u32) -> u32 {
  let c = chunk(lid);
  var bad = 0.0;
  for (var i = c.x; i < c.y; i++) {
    if (!is_usable(logit(MAIN0, i)) || !is_usable(logit(MAIN1, i))) { bad = 1.0; }
  }
  return uniform_u32(lid, u32(workgroup_max(lid, bad)));
}

fn verify(lid: u32) {
  if (unusable_rows(lid) != 0u) {
    if (lid == 0u) {
      result[0] = 1u;
      result[1] = NONE;
      result[2] = NONE;
      ids[1] = 0u;
      ids[2] = 0u;
    }
    return;
  }
  let d = uniform_u32(lid, ids[1]);
  set_draft_row(result[4]);
  let s = state[0];
  var tok0: u32;
  var tok1: u32;
  var accept: bool;
  if (p.temperature <= 0.0) {
    tok0 = argmax(lid, MAIN0);
    tok1 = argmax(lid, MAIN1);
    accept = tok0 == d;
  } else {
    inv_t = 1.0 / p.temperature;
    mx = vec3<f32>(row_max(lid, MAIN0), row_max(lid, MAIN1), row_max(lid, DRAFT));
    sm = vec3<f32>(row_sum(lid, MAIN0), row_sum(lid, MAIN1), row_sum(lid, DRAFT));
    let pd = soft(MAIN0, d) / sm[0];
    let qd = soft(DRAFT, d) / sm[2];
    accept = uniform_u32(lid, u32(uniform01(p.seed ^ SALT_ACCEPT, s) * qd < pd)) != 0u;
    if (accept) {
      tok0 = d;
      tok1 = draw(lid, MAIN1, uniform01(p.seed, s + 1u));
    } else {
      let ur = uniform01(p.seed ^ SALT_RESIDUAL, s);
      tok0 = draw(lid, RESIDUAL, ur);
      if (tok0 == NONE) { tok0 = draw(lid, MAIN0, ur); }
      tok1 = tok0;
    }
  }
  if (!accept) { tok1 = tok0; }
  if (lid == 0u) {
    result[0] = select(1u, 2u, accept);
    result[1] = tok0;
    result[2] = tok1;
    ids[1] = tok0;
    ids[2] = tok1;
  }
}

fn draft(lid: u32) {
  let n = uniform_u32(lid, result[0]);
  let row = n - 1u;
  set_draft_row(row);
  var d: u32;
  if (p.temperature <= 0.0) {
    d = argmax(lid, DRAFT);
  } else {
    inv_t = 1.0 / p.temperature;
    mx[2] = row_max(lid, DRAFT);
    d = draw(lid, DRAFT, uniform01(p.seed ^ SALT_DRAFT, state[0] + n));
  }
  if (lid == 0u) {
    result[3] = d;
    result[4] = min(row, p.q_rows - 1u);
  }
}

@compute @workgroup_size(WG)
fn speculative(@builtin(local_invocation_index) lid: u32) {
  if (p.mode == 0u) { verify(lid); } else { draft(lid); }
}
