// DeepSeek-V4's attention (docs/kernels.md#sparse-attention): every head of a query attends to one shared
// key/value vector per candidate, the candidates being the query's sliding window (ring entries) and, by
// layer kind, no compressed entries (SWA, ratio 0), every complete block (HCA) or the indexer's selection
// (CSA, `topk` ids per token, 0xFFFFFFFF unused). For token t at position s = start + t and head h:
//   o_h = Σ_i e^{score_i} kv_i / (Σ_i e^{score_i} + e^{sink_h}),  score_i = q_h · kv_i × scale,
// then o_h's last ROPE dims rotated back by −s (the inverse RoPE). Entries in lib/kv-entry.wgsl's layout.
// Online softmax in f32; the sink starts it as a candidate of logit sink_h and value 0.
//
// attend_wg     : a workgroup per (group of HG heads, token, split of the candidates). The candidates
//                 come in tiles of TILE entries decoded once into workgroup memory for all HG heads (the
//                 KV is shared by the heads); one invocation scores each (head, entry) pair, one per head
//                 steps its softmax, and every invocation accumulates its (head, 4 dims) pairs. With
//                 splits = 1 it writes o; with more (flash-decoding) it writes records [acc (D) | m, l, 0, 0]
//                 of the split's unnormalized sums (already de-rotated: the rotation is linear) for
// attend_combine: an invocation per (token, head, 4 dims) that merges the splits' records into o.
// attend_row    : an invocation per (token, head) for software adapters, o's row as its accumulator.
//
// Bindings (attend_*): 0 q [T, H, D] f32 (q rms-normed per head, roped), 1 ring, 2 compressed (u32 entries;
// the ring again on SWA layers), 3 selected [T, topk] u32 (the ring when unused), 4 sink [H], 5 table (the
// layer's RoPE table), 6 positions, 7 out (o [T, H, D], or the records), 8 params.
// attend_combine: 0 records, 1 o, 2 params. `start` = positions[pos_index] (a GPU buffer).

override D: u32;
override ROPE: u32;
override FP8: bool;
override WG: u32 = 128u;
// attend_wg: heads per workgroup, entries per tile, and (head, 4 dims) pairs per invocation (≤ MAX_PAIRS).
override HG: u32 = 8u;
override TILE: u32 = 4u;
override PAIRS: u32 = (HG * D / 4u + WG - 1u) / WG;
const MAX_PAIRS: u32 = 8u;

// A finite stand-in for -inf: exp(NEG - m) is 0 and NEG - NEG is not NaN.
const NEG: f32 = -3.0e38;
const NO_ENTRY: u32 = 0xffffffffu;
// Bit 31 of a candidate's word offset: the entry is in `compressed`, not in `ring`.
const COMPRESSED: u32 = 0x80000000u;

struct Params {
  tokens: u32,
  heads: u32,
  window: u32,
  slots: u32,      // ring entries; position s is in slot s mod slots
  ratio: u32,      // tokens per compressed block; 0: window only
  max_blocks: u32, // compressed entries
  topk: u32,       // selected ids per token (CSA); 0: every complete block (HCA)
  pos_index: u32,
  splits: u32,
  scale: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> ring: array<u32>;
@group(0) @binding(2) var<storage, read> compressed: array<u32>;
@group(0) @binding(3) var<storage, read> selected: array<u32>;
@group(0) @binding(4) var<storage, read> sink: array<f32>;
@group(0) @binding(5) var<storage, read> table: array<f32>;
@group(0) @binding(6) var<storage, read> positions: array<u32>;
@group(0) @binding(7) var<storage, read_write> out: array<vec4<f32>>;
@group(0) @binding(8) var<uniform> p: Params;

fn window_count(s: u32) -> u32 {
  return min(p.window, s + 1u);
}

/** Complete blocks at position s: entries j < ⌊(s+1)/ratio⌋ (never past the cache). */
fn visible_blocks(s: u32) -> u32 {
  if (p.ratio == 0u) { return 0u; }
  return min((s + 1u) / p.ratio, p.max_blocks);
}

fn candidate_count(s: u32) -> u32 {
  if (p.topk > 0u && p.ratio > 0u) { return window_count(s) + p.topk; }
  return window_count(s) + visible_blocks(s);
}

/** Word offset of candidate i of token t (position s), COMPRESSED-flagged, or NO_ENTRY for an unused id. */
fn candidate(t: u32, s: u32, i: u32) -> u32 {
  let nw = window_count(s);
  if (i < nw) { return ((s + 1u - nw + i) % p.slots) * kv_entry_words(); }
  var j = i - nw;
  if (p.topk > 0u) {
    j = selected[t * p.topk + j];
    if (j >= visible_blocks(s)) { return NO_ENTRY; }
  }
  return COMPRESSED | (j * kv_entry_words());
}

fn entry_word(c: u32, w: u32) -> u32 {
  let at = (c & ~COMPRESSED) + w;
  if ((c & COMPRESSED) != 0u) { return compressed[at]; }
  return ring[at];
}

/** Dims 4v … 4v+3 of candidate c's entry. */
fn kv_vec4(c: u32, v: u32) -> vec4<f32> {
  if (FP8 && v < kv_nope() / 4u) {
    return kv_fp8_vec4(entry_word(c, v), entry_word(c, kv_exp_word() + v / 64u), v);
  }
  let w = select(4u * v, kv_rope_word() + 4u * v - kv_nope(), FP8);
  return bitcast<vec4<f32>>(vec4<u32>(entry_word(c, w), entry_word(c, w + 1u), entry_word(c, w + 2u), entry_word(c, w + 3u)));
}

/** o's dims 4v … 4v+3 at position s with the inverse RoPE where they are rope dims (n and ROPE are multiples of 4). */
fn derotate(o: vec4<f32>, v: u32, s: u32) -> vec4<f32> {
  if (4u * v < kv_nope()) { return o; }
  let i = (4u * v - kv_nope()) / 2u;
  let a = rotation(s, i);
  let b = rotation(s, i + 1u);
  let x = rotate(o.x, o.y, vec2<f32>(a.x, -a.y));
  let y = rotate(o.z, o.w, vec2<f32>(b.x, -b.y));
  return vec4<f32>(x, y);
}

// ---- attend_wg ----

var<workgroup> tile: array<vec4<f32>, TILE * D / 4u>;
var<workgroup> cand: array<u32, TILE>;
var<workgroup> scores: array<f32, HG * TILE>;
var<workgroup> m_run: array<f32, HG>;
var<workgroup> l_run: array<f32, HG>;
var<workgroup> alpha: array<f32, HG>;

@compute @workgroup_size(WG)
fn attend_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h0 = wid.x * HG;
  let t = wid.y;
  let split = wid.z;
  let s = positions[p.pos_index] + t;
  let count = candidate_count(s);
  let chunk = (count + p.splits - 1u) / p.splits;
  let i0 = min(split * chunk, count);
  let i1 = min(i0 + chunk, count);
  let dv = D / 4u;

  if (lid < HG) {
    let sinked = split == 0u && h0 + lid < p.heads;
    m_run[lid] = select(NEG, sink[min(h0 + lid, p.heads - 1u)], sinked);
    l_run[lid] = select(0.0, 1.0, sinked);
  }
  var acc: array<vec4<f32>, MAX_PAIRS>;
  for (var k = 0u; k < PAIRS; k++) { acc[k] = vec4<f32>(0.0); }

  // i0 and i1 are the same for the whole workgroup, so the barriers inside are uniform.
  for (var base = i0; base < i1; base += TILE) {
    if (lid < TILE) { cand[lid] = select(NO_ENTRY, candidate(t, s, base + lid), base + lid < i1); }
    workgroupBarrier();
    for (var idx = lid; idx < TILE * dv; idx += WG) {
      let c = cand[idx / dv];
      // Not select(): it would evaluate kv_vec4 at NO_ENTRY's offset, out of bounds.
      var v = vec4<f32>(0.0);
      if (c != NO_ENTRY) { v = kv_vec4(c, idx % dv); }
      tile[idx] = v;
    }
    workgroupBarrier();
    if (lid < HG * TILE) {
      let h = h0 + lid / TILE;
      let e = lid % TILE;
      var score = NEG;
      if (h < p.heads && cand[e] != NO_ENTRY) {
        let qb = (t * p.heads + h) * dv;
        var d4 = vec4<f32>(0.0);
        for (var v = 0u; v < dv; v++) { d4 += q[qb + v] * tile[e * dv + v]; }
        score = dot(d4, vec4<f32>(1.0)) * p.scale;
      }
      scores[lid] = score;
    }
    workgroupBarrier();
    if (lid < HG) {
      let m_old = m_run[lid];
      var m_new = m_old;
      for (var e = 0u; e < TILE; e++) { m_new = max(m_new, scores[lid * TILE + e]); }
      var sum = 0.0;
      for (var e = 0u; e < TILE; e++) {
        let sc = scores[lid * TILE + e];
        let pr = select(0.0, exp(sc - m_new), sc > NEG);
        scores[lid * TILE + e] = pr;
        sum += pr;
      }
      let a = exp(m_old - m_new);
      alpha[lid] = a;
      l_run[lid] = l_run[lid] * a + sum;
      m_run[lid] = m_new;
    }
    workgroupBarrier();
    for (var k = 0u; k < PAIRS; k++) {
      let idx = lid + k * WG;
      if (idx < HG * dv) {
        let hh = idx / dv;
        let v = idx % dv;
        var a = acc[k] * alpha[hh];
        for (var e = 0u; e < TILE; e++) { a += scores[hh * TILE + e] * tile[e * dv + v]; }
        acc[k] = a;
      }
    }
    // The next tile overwrites cand, tile and scores.
    workgroupBarrier();
  }
  // An empty split never entered the loop: its m_run and l_run need a barrier of their own.
  workgroupBarrier();

  for (var k = 0u; k < PAIRS; k++) {
    let idx = lid + k * WG;
    let hh = idx / dv;
    let h = h0 + hh;
    if (idx < HG * dv && h < p.heads) {
      let v = idx % dv;
      if (p.splits == 1u) {
        out[(t * p.heads + h) * dv + v] = derotate(acc[k] / l_run[hh], v, s);
      } else {
        let rb = ((t * p.heads + h) * p.splits + split) * (dv + 1u);
        out[rb + v] = derotate(acc[k], v, s);
        if (v == 0u) { out[rb + dv] = vec4<f32>(m_run[hh], l_run[hh], 0.0, 0.0); }
      }
    }
  }
}

// ---- attend_combine: 0 records, 1 o, 2 params ----

@group(0) @binding(0) var<storage, read> records: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read_write> o: array<vec4<f32>>;
@group(0) @binding(2) var<uniform> cp: Params;

@compute @workgroup_size(WG)
fn attend_combine(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let dv = D / 4u;
  let idx = flat_id(wid, nwg, lid, WG);
  if (idx >= cp.tokens * cp.heads * dv) { return; }
  let v = idx % dv;
  let first = (idx / dv) * cp.splits;
  // Splits are few: every invocation derives the global max and sum itself.
  var gmax = NEG;
  for (var k = 0u; k < cp.splits; k++) { gmax = max(gmax, records[(first + k) * (dv + 1u) + dv].x); }
  var total = 0.0;
  var acc = vec4<f32>(0.0);
  for (var k = 0u; k < cp.splits; k++) {
    let rb = (first + k) * (dv + 1u);
    let ml = records[rb + dv];
    let w = exp(ml.x - gmax);
    total += w * ml.y;
    acc += w * records[rb + v];
  }
  o[idx] = acc / total;
}

// ---- attend_row: an invocation per (token, head) ----

@compute @workgroup_size(WG)
fn attend_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = flat_id(wid, nwg, lid, WG);
  if (idx >= p.tokens * p.heads) { return; }
  let h = idx % p.heads;
  let t = idx / p.heads;
  let s = positions[p.pos_index] + t;
  let dv = D / 4u;
  let ob = idx * dv;
  for (var v = 0u; v < dv; v++) { out[ob + v] = vec4<f32>(0.0); }
  var m = sink[h];
  var l = 1.0;
  let count = candidate_count(s);
  for (var i = 0u; i < count; i++) {
    let c = candidate(t, s, i);
    if (c == NO_ENTRY) { continue; }
    var d4 = vec4<f32>(0.0);
    for (var v = 0u; v < dv; v++) { d4 += q[ob + v] * kv_vec4(c, v); }
    let score = dot(d4, vec4<f32>(1.0)) * p.scale;
    // Rescale only when the max grows; otherwise the weight is exp(score - m) ≤ 1.
    if (score > m) {
      let a = exp(m - score);
      for (var v = 0u; v < dv; v++) { out[ob + v] *= a; }
      l *= a;
      m = score;
    }
    let pr = exp(score - m);
    l += pr;
    for (var v = 0u; v < dv; v++) { out[ob + v] += pr * kv_vec4(c, v); }
  }
  for (var v = 0u; v < dv; v++) { out[ob + v] = derotate(out[ob + v] / l, v, s); }
}
