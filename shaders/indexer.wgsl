// DeepSeek-V4's lightning indexer (docs/kernels.md#lightning-indexer): which compressed blocks a CSA layer's
// queries attend to. Token t of a call is at position pos_t = positions[pos_index] + t and sees blocks
// b < visible_t = min(⌊(pos_t + 1)/ratio⌋, max_blocks).
//
// indexer_scores: q [T, Hi, Di] (roped, Hadamard-transformed, FP4-rounded), w [T, Hi], keys [max_blocks, Di],
//                 positions (u32) -> scores [T, max_blocks]:
//                   scores[t, b] = Σ_h (w[t,h]·scale)·relu(q[t,h]·keys[b])   for b < visible_t,
//                   params.masked (−∞) beyond.
//                 An invocation per score on every adapter (nothing is reduced across invocations); grid
//                 [⌈max_blocks/WG⌉, T].
// topk_select   : scores, positions -> ids [T, k]: the min(k, visible_t) visible blocks of highest score, in
//                 ascending block order, then 0xFFFFFFFF. Ties at the k-th place go to the lower block ids;
//                 −0 and +0 are equal. Scores must not be NaN. A workgroup per token: the k-th largest key by
//                 radix select (lib/radix-select.wgsl), then an exclusive scan of per-invocation counts
//                 (workgroup_prefix4) places each selected id. The 'row' shape is the same entry, smaller WG.
//
// Bindings: indexer_scores 0 q, 1 w, 2 keys, 3 positions | 4 scores | 5 params
//           topk_select    0 scores, 1 positions | 2 ids | 3 params

override WG: u32 = 64u;
const NONE: u32 = 0xffffffffu;

struct ScoreParams {
  tokens: u32,
  heads: u32,
  dim: u32,
  ratio: u32,
  max_blocks: u32,
  pos_index: u32,
  scale: f32,
  masked: f32, // −∞, from the launcher: a WGSL constant may not be infinite
}

struct SelectParams {
  tokens: u32,
  k: u32,
  ratio: u32,
  max_blocks: u32,
  pos_index: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(0) var<storage, read> q: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> keys: array<f32>;
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read_write> scores: array<f32>;
@group(0) @binding(5) var<uniform> sp: ScoreParams;

@group(0) @binding(0) var<storage, read> sel_scores: array<f32>;
@group(0) @binding(1) var<storage, read> sel_positions: array<u32>;
@group(0) @binding(2) var<storage, read_write> ids: array<u32>;
@group(0) @binding(3) var<uniform> tp: SelectParams;

var<workgroup> visible_wg: u32;
/** Where radix_item reads the token's scores. */
var<private> select_row: u32;

fn visible_blocks(pos: u32, ratio: u32, max_blocks: u32) -> u32 {
  return min((pos + 1u) / ratio, max_blocks);
}

@compute @workgroup_size(WG)
fn indexer_scores(@builtin(global_invocation_id) gid: vec3<u32>) {
  let b = gid.x;
  let t = gid.y;
  if (b >= sp.max_blocks || t >= sp.tokens) { return; }
  var s = sp.masked;
  if (b < visible_blocks(positions[sp.pos_index] + t, sp.ratio, sp.max_blocks)) {
    s = 0.0;
    let kb = b * sp.dim;
    for (var h = 0u; h < sp.heads; h++) {
      let qb = (t * sp.heads + h) * sp.dim;
      var d = 0.0;
      for (var c = 0u; c < sp.dim; c++) { d += q[qb + c] * keys[kb + c]; }
      s += w[t * sp.heads + h] * sp.scale * max(d, 0.0);
    }
  }
  scores[t * sp.max_blocks + b] = s;
}

/** Unsigned keys in the order of the scores (larger score, larger key), with −0 and +0 one key. */
fn score_key(v: f32) -> u32 {
  let bits = select(bitcast<u32>(v), 0u, v == 0.0);
  return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
}

/** radix_select's items: the token's scores, each weighing 1. */
fn radix_item(i: u32) -> vec2<u32> {
  return vec2<u32>(score_key(sel_scores[select_row + i]), 1u);
}

@compute @workgroup_size(WG)
fn topk_select(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = flat_group(wid, nwg);
  if (t >= tp.tokens) { return; }
  if (lid == 0u) { visible_wg = visible_blocks(sel_positions[tp.pos_index] + t, tp.ratio, tp.max_blocks); }
  let n = workgroupUniformLoad(&visible_wg);
  let ib = t * tp.k;
  if (n <= tp.k) {
    for (var i = lid; i < tp.k; i += WG) { ids[ib + i] = select(NONE, i, i < n); }
    return;
  }
  let sb = t * tp.max_blocks;
  select_row = sb;
  // The k-th largest key, and how many of the keys equal to it the k take (the rest are above it).
  let kth = radix_select(lid, n, tp.k);
  // Invocation lid takes the contiguous chunk [i0, i1), so that chunks and ids run in block order; the
  // scan of (above, equal) counts over invocations gives each chunk its first slot.
  let per = (n + WG - 1u) / WG;
  let i0 = min(lid * per, n);
  let i1 = min(i0 + per, n);
  var above = 0u;
  var equal = 0u;
  for (var i = i0; i < i1; i++) {
    let key = score_key(sel_scores[sb + i]);
    above += select(0u, 1u, key > kth.x);
    equal += select(0u, 1u, key == kth.x);
  }
  // Counts up to 2^24 are exact in f32.
  _ = workgroup_sum4(lid, vec4<f32>(f32(above), f32(equal), 0.0, 0.0));
  let before = workgroup_prefix4(lid);
  var taken_equal = u32(before.y);
  var slot = u32(before.x) + min(taken_equal, kth.y);
  for (var i = i0; i < i1; i++) {
    let key = score_key(sel_scores[sb + i]);
    var take = key > kth.x;
    if (key == kth.x) {
      take = taken_equal < kth.y;
      taken_equal++;
    }
    if (take) {
      ids[ib + slot] = i;
      slot++;
    }
  }
}
