// Multi-head Latent Attention in the absorbed form (docs/architecture-v3.md#mla), against the latent cache
// written by rope.wgsl's kv_store. For token t (at position start + t) and head h, over cached positions s ≤ start + t:
//   score = (q̃[t,h] · c[s] + q_pe[t,h] · k_pe[s]) × scale,  p = softmax_s(score),  o_lat[t,h] = Σ_s p c[s]
// Cache row s: [c (R) | k_pe (ROPE)]. q̃ (the absorbed query, R per head) and the roped q_pe come from
// the matmul and rope kernels. Decode is T = 1; a prefill chunk of T tokens is causal within itself
// and attends to the `start` positions cached before it. `start` = positions[pos_index] (a GPU buffer).
//
// mla_attend_wg : a workgroup per (head, token, split). The split's positions are taken in tiles of WG:
//                 each invocation scores one position, the tile's max rescales the running sum
//                 (online softmax), then each invocation accumulates its own latent dims over the
//                 tile. With splits = 1 it writes o_lat; with more (flash-decoding, for long contexts
//                 with few heads × tokens) it writes partial records [acc (R) | max | sum] for
// mla_combine_wg: a workgroup per (head, token) that merges the splits' records into o_lat.
// mla_attend_heads: decode (and prefill) for GPUs, FlashMLA's point: the heads of a token share the
//                 latent, so a workgroup serves a group of HG heads (all of V2-Lite's 16, an eighth of
//                 V3's 128) for one split of positions. It loads each tile of TP cache rows into
//                 workgroup memory once (dequantized once) and every head scores against it; LANES
//                 invocations per head each own the dims lane, lane + LANES, … of the head's query and
//                 accumulator (registers). Head groups are the grid's x, so the groups of one split
//                 run side by side and meet the same rows in the GPU's cache. Writes o_lat (one split)
//                 or the same partial records as mla_attend_wg for mla_combine_wg.
// mla_latent_scores, mla_latent_values: decode past 16 heads, as two products of all heads' queries with
//                 the cache rows (every row read twice whatever the heads; the section at the end).
// mla_attend_row: an invocation per (token, head, chunk of latent dims) for software adapters, its
//                 output row doubling as the accumulator.
// mla_attend_tile: prefill chunks. The latent cache row is the same for every head (MLA's point), so a
//                 workgroup of WG invocations, each owning one token × 4 heads, loads each tile of
//                 TILE_POS cache rows (a power of two from 4 to 64: the most that fit the workgroup
//                 memory, chosen by the launcher) into workgroup memory once, and every invocation
//                 scores its 4 heads against it in softmax blocks of 8 positions (4 when the tile holds
//                 only 4): per cache value read, 4 multiply-adds, and per query or output value read,
//                 8 (4). The output row is the accumulator, rescaled once per block.

override R: u32;       // kv_lora_rank
override ROPE: u32;    // qk_rope_head_dim
override WG: u32 = 64;
// The latent cache's format (kernels/mla.ts LatentCacheLayout, docs/architecture-v3.md#latent-cache):
// 0 f32; 1 f16, value pairs packed in a u32 (pack2x16float, so no shader-f16 is needed); 2 FP8 E4M3, four
// codes per u32 (value d in byte d % 4), then the row's f32 scale as the row's last word.
override FORMAT: u32 = 0u;

// A finite stand-in for -inf: exp(NEG - m) is 0 and NEG - NEG is not NaN.
const NEG: f32 = -3.0e38;

struct Params {
  tokens: u32,
  heads: u32,
  qpe_token_stride: u32, // q_pe[t,h,j] at t·qpe_token_stride + h·qpe_head_stride + qpe_offset + j
  qpe_head_stride: u32,
  qpe_offset: u32,
  max_context: u32,      // cache rows
  pos_index: u32,
  splits: u32,           // mla_attend_wg, mla_attend_heads: position splits; 1 writes o_lat directly
  latent_chunk: u32,     // mla_attend_row: latent dims per invocation
  scale: f32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read> qt: array<f32>;        // q̃ [tokens, heads, R]
@group(0) @binding(1) var<storage, read> qpe: array<f32>;
@group(0) @binding(2) var<storage, read> cache: array<u32>;     // [max_context, row_words()] in FORMAT
@group(0) @binding(3) var<storage, read> positions: array<u32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>; // o_lat [tokens, heads, R] or partial records
@group(0) @binding(5) var<uniform> p: Params;

// Positions token t may see: 0 … start + t (never beyond the cache).
fn visible(t: u32) -> u32 {
  return min(positions[p.pos_index] + t + 1u, p.max_context);
}

/** Split `split` of p.splits of the positions token t sees: [begin, end). */
fn split_range(t: u32, split: u32) -> vec2<u32> {
  let n = visible(t);
  let chunk = (n + p.splits - 1u) / p.splits;
  let begin = min(split * chunk, n);
  return vec2<u32>(begin, min(begin + chunk, n));
}

/** u32 words per cache row. */
fn row_words() -> u32 {
  switch (FORMAT) {
    case 1u: { return (R + ROPE + 1u) / 2u; }
    case 2u: { return (R + ROPE + 3u) / 4u + 1u; }
    default: { return R + ROPE; }
  }
}

/** The E4M3 byte b as f32: exponent bias 7, subnormals m · 2^-9 (the NaN codes never get written). */
fn e4m3(b: u32) -> f32 {
  let e = (b >> 3u) & 0xfu;
  let m = b & 7u;
  let v = select(ldexp(f32(m + 8u), i32(e) - 10), ldexp(f32(m), -9), e == 0u);
  return select(v, -v, (b & 0x80u) != 0u);
}

/** Dimension d of cache row s, as f32 whatever the FORMAT. */
fn cache_value(s: u32, d: u32) -> f32 {
  let b = s * row_words();
  switch (FORMAT) {
    case 1u: { return unpack2x16float(cache[b + d / 2u])[d % 2u]; }
    case 2u: { return e4m3((cache[b + d / 4u] >> (8u * (d % 4u))) & 0xffu) * bitcast<f32>(cache[b + row_words() - 1u]); }
    default: { return bitcast<f32>(cache[b + d]); }
  }
}

var<workgroup> q_w: array<f32, R + ROPE>;
var<workgroup> acc: array<f32, R>;
var<workgroup> scores: array<f32, WG>;
var<workgroup> probs: array<f32, WG>;

@compute @workgroup_size(WG)
fn mla_attend_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let h = wid.x;
  let t = wid.y;
  let split = wid.z;
  let range = split_range(t, split);
  let s_begin = range.x;
  let s_end = range.y;

  let qb = (t * p.heads + h) * R;
  let pb = t * p.qpe_token_stride + h * p.qpe_head_stride + p.qpe_offset;
  for (var d = lid; d < R; d += WG) {
    q_w[d] = qt[qb + d];
    acc[d] = 0.0;
  }
  for (var j = lid; j < ROPE; j += WG) { q_w[R + j] = qpe[pb + j]; }
  workgroupBarrier();

  let row = R + ROPE;
  var m = NEG;  // running max, the same in every invocation
  var l = 0.0;  // this invocation's share of the running sum of exp(score - m)
  // The loop bounds are the same for the whole workgroup, so the barriers inside are uniform.
  for (var base = s_begin; base < s_end; base += WG) {
    let s = base + lid;
    var score = NEG;
    if (s < s_end) {
      var dot = 0.0;
      for (var d = 0u; d < row; d++) { dot += q_w[d] * cache_value(s, d); }
      score = dot * p.scale;
    }
    scores[lid] = score;
    workgroupBarrier();
    let count = min(WG, s_end - base);
    var tile_max = NEG;
    for (var j = 0u; j < count; j++) { tile_max = max(tile_max, scores[j]); }
    let m_new = max(m, tile_max);
    let alpha = exp(m - m_new);
    let pr = select(0.0, exp(score - m_new), s < s_end);
    l = l * alpha + pr;
    probs[lid] = pr;
    workgroupBarrier();
    // Each invocation owns dims lid, lid+WG, …: reads of a cache row are contiguous across the workgroup.
    for (var d = lid; d < R; d += WG) {
      var a = acc[d] * alpha;
      for (var j = 0u; j < count; j++) { a += probs[j] * cache_value(base + j, d); }
      acc[d] = a;
    }
    m = m_new;
    // No third barrier: the next tile writes `scores` and `probs` only after everyone passed the ones above
    // and reads them only after the next barrier.
  }

  // The invocations' shares of l.
  let total = workgroup_sum(lid, l);

  if (p.splits == 1u) {
    let ob = (t * p.heads + h) * R;
    for (var d = lid; d < R; d += WG) { out[ob + d] = acc[d] / total; }
  } else {
    let rb = ((t * p.heads + h) * p.splits + split) * (R + 2u);
    for (var d = lid; d < R; d += WG) { out[rb + d] = acc[d]; }
    if (lid == 0u) {
      out[rb + R] = m;
      out[rb + R + 1u] = total;
    }
  }
}

// ---- combine: bindings 0 partial records, 1 o_lat, 2 params ----

@group(0) @binding(0) var<storage, read> partials: array<f32>;
@group(0) @binding(1) var<storage, read_write> o_lat: array<f32>;
@group(0) @binding(2) var<uniform> cp: Params;

@compute @workgroup_size(WG)
fn mla_combine_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let th = wid.y * cp.heads + wid.x;
  let first = th * cp.splits;
  // Splits are few: every invocation derives the global max and sum itself instead of sharing them.
  var gmax = NEG;
  for (var k = 0u; k < cp.splits; k++) { gmax = max(gmax, partials[(first + k) * (R + 2u) + R]); }
  var total = 0.0;
  for (var k = 0u; k < cp.splits; k++) {
    let rb = (first + k) * (R + 2u);
    total += exp(partials[rb + R] - gmax) * partials[rb + R + 1u];
  }
  for (var d = lid; d < R; d += WG) {
    var o = 0.0;
    for (var k = 0u; k < cp.splits; k++) {
      let rb = (first + k) * (R + 2u);
      o += exp(partials[rb + R] - gmax) * partials[rb + d];
    }
    o_lat[th * R + d] = o / total;
  }
}

// ---- row: one invocation per (token, head, latent chunk) ----

@compute @workgroup_size(WG)
fn mla_attend_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let chunks = (R + p.latent_chunk - 1u) / p.latent_chunk;
  let idx = flat_id(wid, nwg, lid, WG);
  if (idx >= p.tokens * p.heads * chunks) { return; }
  let chunk = idx % chunks;
  let th = idx / chunks;
  let h = th % p.heads;
  let t = th / p.heads;
  let d0 = chunk * p.latent_chunk;
  let d1 = min(d0 + p.latent_chunk, R);
  let n = visible(t);
  let qb = th * R;
  let pb = t * p.qpe_token_stride + h * p.qpe_head_stride + p.qpe_offset;
  let ob = th * R;
  let row = R + ROPE;

  for (var d = d0; d < d1; d++) { out[ob + d] = 0.0; }
  var m = NEG;
  var l = 0.0;
  for (var s = 0u; s < n; s++) {
    var dot = 0.0;
    for (var d = 0u; d < R; d++) { dot += qt[qb + d] * cache_value(s, d); }
    for (var j = 0u; j < ROPE; j++) { dot += qpe[pb + j] * cache_value(s, R + j); }
    let score = dot * p.scale;
    // Rescale only when the max grows; otherwise the weight is exp(score - m) ≤ 1.
    if (score > m) {
      let alpha = exp(m - score);
      for (var d = d0; d < d1; d++) { out[ob + d] *= alpha; }
      l *= alpha;
      m = score;
    }
    let pr = exp(score - m);
    l += pr;
    for (var d = d0; d < d1; d++) { out[ob + d] += pr * cache_value(s, d); }
  }
  let inv = 1.0 / l;
  for (var d = d0; d < d1; d++) { out[ob + d] *= inv; }
}

// ---- tile: one invocation per (token, 4 heads), cache tiles of 4 or 8 positions shared by the workgroup ----
// Four heads × four positions is a vec4 per head (two with 8 positions): every loop below runs over
// named vectors, which software adapters keep in registers (an array indexed by a loop counter becomes
// memory there).

// Positions per tile, a power of two from 4 to 64: the most whose rows fit the workgroup memory.
override TILE_POS: u32 = 8u;
// Positions per softmax block: 8 (two vec4s per head), or 4 when the tile holds only 4.
override SUB: u32 = min(TILE_POS, 8u);
// The tile transposed: tile4[h·(R + ROPE) + d] holds dimension d of positions 4h … 4h+3.
var<workgroup> tile4: array<vec4<f32>, (TILE_POS / 4u) * (R + ROPE)>;

struct Softmax {
  lo: vec4<f32>,  // weights of the tile's positions 0…3
  hi: vec4<f32>,  // and 4…7
  m: f32,         // new running max
  alpha: f32,     // rescale of what was accumulated before
}

/** One online-softmax step over a tile's scores (positions ≥ valid weigh 0). */
fn softmax_step(lo: vec4<f32>, hi: vec4<f32>, valid: u32, m: f32) -> Softmax {
  let i = vec4<u32>(0u, 1u, 2u, 3u);
  let vlo = i < vec4<u32>(valid);
  let vhi = i + vec4<u32>(4u) < vec4<u32>(valid);
  let a = select(vec4<f32>(NEG), lo * p.scale, vlo);
  let b = select(vec4<f32>(NEG), hi * p.scale, vhi);
  let c = max(a, b);
  let mx = max(m, max(max(c.x, c.y), max(c.z, c.w)));
  let elo = select(vec4<f32>(0.0), exp(a - vec4<f32>(mx)), vlo);
  let ehi = select(vec4<f32>(0.0), exp(b - vec4<f32>(mx)), vhi);
  return Softmax(elo, ehi, mx, exp(m - mx));
}

fn total(s: Softmax) -> f32 {
  return dot(s.lo + s.hi, vec4<f32>(1.0));
}

fn accumulate(i: u32, s: Softmax, lo: vec4<f32>, hi: vec4<f32>) {
  out[i] = out[i] * s.alpha + dot(s.lo, lo) + dot(s.hi, hi);
}

@compute @workgroup_size(WG)
fn mla_attend_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let groups = (p.heads + 3u) / 4u;
  let items = p.tokens * groups;
  let first = flat_group(wid, nwg) * WG;
  // Uniform exit and loop bound: the workgroup's last token sees the most positions.
  if (first >= items) { return; }
  let n_max = visible((min(first + WG, items) - 1u) / groups);
  let item = first + lid;
  let live = item < items;
  let t = select(0u, item / groups, live);
  let h0 = (item % groups) * 4u;
  // Heads of this group that exist; the short last group reads its last head again and writes nothing for it.
  let hn = select(0u, min(4u, p.heads - h0), live);
  let heads = min(vec4<u32>(h0) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.heads - 1u));
  let qrow = (vec4<u32>(t * p.heads) + heads) * R;
  let pe = vec4<u32>(t * p.qpe_token_stride + p.qpe_offset) + heads * p.qpe_head_stride;
  let n = select(0u, visible(t), live);
  let row = R + ROPE;

  for (var d = 0u; d < R; d++) {
    if (hn > 0u) { out[qrow.x + d] = 0.0; }
    if (hn > 1u) { out[qrow.y + d] = 0.0; }
    if (hn > 2u) { out[qrow.z + d] = 0.0; }
    if (hn > 3u) { out[qrow.w + d] = 0.0; }
  }
  var m = vec4<f32>(NEG);
  var l = vec4<f32>(0.0);
  for (var base = 0u; base < n_max; base += TILE_POS) {
    let count = min(TILE_POS, n_max - base);
    for (var i = lid; i < (TILE_POS / 4u) * row; i += WG) {
      let d = i % row;
      let k0 = 4u * (i / row);
      let s = base + k0;
      var v = vec4<f32>(0.0);
      if (k0 < count) { v.x = cache_value(s, d); }
      if (k0 + 1u < count) { v.y = cache_value(s + 1u, d); }
      if (k0 + 2u < count) { v.z = cache_value(s + 2u, d); }
      if (k0 + 3u < count) { v.w = cache_value(s + 3u, d); }
      tile4[i] = v;
    }
    workgroupBarrier();
    // The tile in blocks of 8 positions (4 when TILE_POS is 4), one online-softmax step each: a big tile
    // only spares barriers.
    for (var blk = 0u; blk < TILE_POS; blk += SUB) {
      let sbase = base + blk;
      if (sbase >= n) { break; }
      let o = (blk / 4u) * row;
      // Head g's scores against positions 0…3 (a) and 4…7 (b) of the block.
      var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
      var b0 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
      for (var d = 0u; d < row; d++) {
        var q: vec4<f32>;
        if (d < R) {
          q = vec4<f32>(qt[qrow.x + d], qt[qrow.y + d], qt[qrow.z + d], qt[qrow.w + d]);
        } else {
          let j = d - R;
          q = vec4<f32>(qpe[pe.x + j], qpe[pe.y + j], qpe[pe.z + j], qpe[pe.w + j]);
        }
        let lo = tile4[o + d];
        a0 += lo * q.x; a1 += lo * q.y; a2 += lo * q.z; a3 += lo * q.w;
        if (SUB == 8u) {
          let hi = tile4[o + row + d];
          b0 += hi * q.x; b1 += hi * q.y; b2 += hi * q.z; b3 += hi * q.w;
        }
      }
      let valid = min(count - blk, n - sbase);
      let s0 = softmax_step(a0, b0, valid, m.x);
      let s1 = softmax_step(a1, b1, valid, m.y);
      let s2 = softmax_step(a2, b2, valid, m.z);
      let s3 = softmax_step(a3, b3, valid, m.w);
      m = vec4<f32>(s0.m, s1.m, s2.m, s3.m);
      l = l * vec4<f32>(s0.alpha, s1.alpha, s2.alpha, s3.alpha) + vec4<f32>(total(s0), total(s1), total(s2), total(s3));
      for (var d = 0u; d < R; d++) {
        let lo = tile4[o + d];
        var hi = vec4<f32>(0.0);
        if (SUB == 8u) { hi = tile4[o + row + d]; }
        if (hn > 0u) { accumulate(qrow.x + d, s0, lo, hi); }
        if (hn > 1u) { accumulate(qrow.y + d, s1, lo, hi); }
        if (hn > 2u) { accumulate(qrow.z + d, s2, lo, hi); }
        if (hn > 3u) { accumulate(qrow.w + d, s3, lo, hi); }
      }
    }
    // The next tile overwrites `tile4`.
    workgroupBarrier();
  }
  let inv = 1.0 / l;
  for (var d = 0u; d < R; d++) {
    if (hn > 0u) { out[qrow.x + d] *= inv.x; }
    if (hn > 1u) { out[qrow.y + d] *= inv.y; }
    if (hn > 2u) { out[qrow.z + d] *= inv.z; }
    if (hn > 3u) { out[qrow.w + d] *= inv.w; }
  }
}

// ---- heads: a workgroup per (group of HG heads, split, token); each cache row it loads serves every head ----

override LANES: u32 = 16u;  // invocations per head (WG = HG × LANES)
override HG: u32 = 4u;      // heads per workgroup
override TP: u32 = 4u;      // positions per tile
// Query and accumulator dims per invocation. Private arrays need a constant size: the launcher keeps
// KD ≤ DMAX and TP ≤ TP_MAX.
override KD: u32 = (R + ROPE + LANES - 1u) / LANES;
const DMAX: u32 = 40u;
const TP_MAX: u32 = 16u;

var<workgroup> tile_h: array<f32, TP * (R + ROPE)>;
// Each invocation's share of its head's score against each tile position: [head slot, position, lane].
var<workgroup> part_h: array<f32, HG * TP * LANES>;

@compute @workgroup_size(WG)
fn mla_attend_heads(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let slot = lid / LANES;
  let lane = lid % LANES;
  let h = wid.x * HG + slot;
  // A short last group computes its missing heads on the last real one and writes nothing for them.
  let hq = min(h, p.heads - 1u);
  let split = wid.y;
  let t = wid.z;
  let range = split_range(t, split);
  let s_begin = range.x;
  let s_end = range.y;
  let row = R + ROPE;

  var q: array<f32, DMAX>;
  var acc: array<f32, DMAX>;
  let qb = (t * p.heads + hq) * R;
  let pb = t * p.qpe_token_stride + hq * p.qpe_head_stride + p.qpe_offset;
  for (var k = 0u; k < KD; k++) {
    let d = lane + k * LANES;
    var v = 0.0;
    if (d < R) { v = qt[qb + d]; } else if (d < row) { v = qpe[pb + d - R]; }
    q[k] = v;
    acc[k] = 0.0;
  }

  var m = NEG;  // running max and sum: every lane of a head forms the same ones, in the same order
  var l = 0.0;
  var w: array<f32, TP_MAX>;
  // The loop bounds are the same for the whole workgroup, so the barriers inside are uniform.
  for (var base = s_begin; base < s_end; base += TP) {
    let count = min(TP, s_end - base);
    for (var i = lid; i < TP * row; i += WG) {
      let j = i / row;
      var v = 0.0;
      if (j < count) { v = cache_value(base + j, i % row); }
      tile_h[i] = v;
    }
    workgroupBarrier();
    for (var j = 0u; j < count; j++) {
      var part = 0.0;
      for (var k = 0u; k < KD; k++) {
        let d = lane + k * LANES;
        if (d < row) { part += q[k] * tile_h[j * row + d]; }
      }
      part_h[(slot * TP + j) * LANES + lane] = part;
    }
    workgroupBarrier();
    var tile_max = NEG;
    for (var j = 0u; j < count; j++) {
      var score = 0.0;
      for (var i = 0u; i < LANES; i++) { score += part_h[(slot * TP + j) * LANES + i]; }
      w[j] = score * p.scale;
      tile_max = max(tile_max, w[j]);
    }
    let m_new = max(m, tile_max);
    let alpha = exp(m - m_new);
    l *= alpha;
    for (var j = 0u; j < count; j++) {
      w[j] = exp(w[j] - m_new);
      l += w[j];
    }
    for (var k = 0u; k < KD; k++) {
      let d = lane + k * LANES;
      if (d < R) {
        var a = acc[k] * alpha;
        for (var j = 0u; j < count; j++) { a += w[j] * tile_h[j * row + d]; }
        acc[k] = a;
      }
    }
    m = m_new;
    // The next tile overwrites `tile_h` (and, after its first barrier, `part_h`).
    workgroupBarrier();
  }

  if (h >= p.heads) { return; }
  if (p.splits == 1u) {
    let ob = (t * p.heads + h) * R;
    for (var k = 0u; k < KD; k++) {
      let d = lane + k * LANES;
      if (d < R) { out[ob + d] = acc[k] / l; }
    }
  } else {
    let rb = ((t * p.heads + h) * p.splits + split) * (R + 2u);
    for (var k = 0u; k < KD; k++) {
      let d = lane + k * LANES;
      if (d < R) { out[rb + d] = acc[k]; }
    }
    if (lane == 0u) {
      out[rb + R] = m;
      out[rb + R + 1u] = l;
    }
  }
}

// ---- latent GEMM: decode for many heads in two passes that each read a cache row once for every head ----
// mla_attend_heads keeps a head's query and accumulator in registers, so one workgroup serves at most 16
// heads and V3's 128 re-read the cache in 8 groups. Here the query rows m = t·heads + h (all heads, every
// token of the call) are the rows of two products with the cache (docs/kernels.md#latent-gemm):
// mla_latent_scores: S[m, s] = scale·(q̃_m·c_s + q_pe_m·k_pe_s), a workgroup per tile of 8·LG_P positions
//                 (× a block of 4·LG_M rows); the tile's rows and the rows' queries pass through workgroup
//                 memory in chunks of LG_K dims; each invocation holds 4 rows × 8 positions (vec4s), so
//                 every query value loaded serves 8 positions.
// mla_latent_values: per (slice of 4·LG_C·LG_V latent columns, position split, row block): each row's max
//                 and sum over the split (from S), then acc[m, r] = Σ_s exp(S[m,s] − max)·c_s[r] in tiles of
//                 LG_T positions; each invocation holds 4 rows × 4·LG_V columns. Writes o_lat (one split) or
//                 mla_attend_wg's partial records for mla_combine_wg.
// S rows have max_context entries. Positions a row may not see (causal within the call) weigh 0.

override LG_M: u32 = 4u;   // row blocks (4 rows each) per workgroup
override LG_P: u32 = 4u;   // mla_latent_scores: position blocks (8 positions each); WG = LG_M × LG_P
override LG_K: u32 = 16u;  // mla_latent_scores: dims per chunk
override LG_C: u32 = 4u;   // mla_latent_values: column groups; WG = LG_M × LG_C
override LG_V: u32 = 1u;   // mla_latent_values: vec4 columns per invocation, at most LG_VMAX
override LG_T: u32 = 8u;   // mla_latent_values: positions per tile
const LG_VMAX: u32 = 4u;

// [block, dim]: blocks b < LG_M hold query rows 4b … 4b+3, the next 2·LG_P cache positions 4(b−LG_M) … +3.
var<workgroup> lg_qc: array<vec4<f32>, (LG_M + 2u * LG_P) * LG_K>;
var<workgroup> lg_w: array<vec4<f32>, LG_M * LG_T>;         // [row block, position]: weights of rows 4b … 4b+3
var<workgroup> lg_v: array<vec4<f32>, LG_C * LG_V * LG_T>;  // [column block, position]: columns 4b … 4b+3
var<workgroup> lg_max: array<f32, LG_M * 4u>;
var<workgroup> lg_sum: array<f32, LG_M * 4u>;

/** Dim d of query row m = t·heads + h: q̃ for d < R, then q_pe. */
fn query_value(m: u32, d: u32) -> f32 {
  if (d < R) { return qt[m * R + d]; }
  let t = m / p.heads;
  return qpe[t * p.qpe_token_stride + (m % p.heads) * p.qpe_head_stride + p.qpe_offset + d - R];
}

fn store_scores(m: u32, s: u32, n: u32, v: vec4<f32>) {
  if (m >= p.tokens * p.heads) { return; }
  for (var c = 0u; c < 4u; c++) {
    if (s + c < n) { out[m * p.max_context + s + c] = v[c] * p.scale; }
  }
}

@compute @workgroup_size(WG)
fn mla_latent_scores(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = p.tokens * p.heads;
  // The call's last token sees the most positions; rows that see fewer are masked in mla_latent_values.
  let n = visible(p.tokens - 1u);
  let s0 = wid.x * LG_P * 8u;
  if (s0 >= n) { return; }  // uniform: the grid covers max_context
  let m0 = wid.y * LG_M * 4u;
  let mb = lid % LG_M;
  let pb = lid / LG_M;
  let row = R + ROPE;
  // Row i of the block against positions 0…3 (ai) and 4…7 (bi) of the invocation's 8.
  var a0 = vec4<f32>(0.0); var a1 = vec4<f32>(0.0); var a2 = vec4<f32>(0.0); var a3 = vec4<f32>(0.0);
  var b0 = vec4<f32>(0.0); var b1 = vec4<f32>(0.0); var b2 = vec4<f32>(0.0); var b3 = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < row; k0 += LG_K) {
    // Consecutive invocations take consecutive dims of one row: coalesced loads.
    for (var i = lid; i < (LG_M + 2u * LG_P) * LG_K; i += WG) {
      let d = k0 + i % LG_K;
      let b = i / LG_K;
      var v = vec4<f32>(0.0);
      for (var c = 0u; c < 4u; c++) {
        if (b < LG_M) {
          let m = m0 + 4u * b + c;
          if (d < row && m < rows) { v[c] = query_value(m, d); }
        } else {
          let s = s0 + 4u * (b - LG_M) + c;
          if (d < row && s < n) { v[c] = cache_value(s, d); }
        }
      }
      lg_qc[i] = v;
    }
    workgroupBarrier();
    for (var k = 0u; k < LG_K; k++) {
      let q = lg_qc[mb * LG_K + k];
      let c = lg_qc[(LG_M + 2u * pb) * LG_K + k];
      let e = lg_qc[(LG_M + 2u * pb + 1u) * LG_K + k];
      a0 += c * q.x; a1 += c * q.y; a2 += c * q.z; a3 += c * q.w;
      b0 += e * q.x; b1 += e * q.y; b2 += e * q.z; b3 += e * q.w;
    }
    // The next chunk overwrites lg_qc.
    workgroupBarrier();
  }
  let s = s0 + 8u * pb;
  let m = m0 + 4u * mb;
  store_scores(m, s, n, a0);
  store_scores(m + 1u, s, n, a1);
  store_scores(m + 2u, s, n, a2);
  store_scores(m + 3u, s, n, a3);
  store_scores(m, s + 4u, n, b0);
  store_scores(m + 1u, s + 4u, n, b1);
  store_scores(m + 2u, s + 4u, n, b2);
  store_scores(m + 3u, s + 4u, n, b3);
}

// mla_latent_values' bindings: 0 scores, 1 positions, 2 cache (the same `cache` as above), 3 out, 4 params.
@group(0) @binding(0) var<storage, read> lg_scores: array<f32>;
@group(0) @binding(1) var<storage, read> lg_positions: array<u32>;
@group(0) @binding(3) var<storage, read_write> lg_out: array<f32>;
@group(0) @binding(4) var<uniform> lp: Params;

/** Positions query row m sees (visible() for this entry's bindings). */
fn lg_visible(m: u32) -> u32 {
  return min(lg_positions[lp.pos_index] + m / lp.heads + 1u, lp.max_context);
}

@compute @workgroup_size(WG)
fn mla_latent_values(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let rows = lp.tokens * lp.heads;
  let n = min(lg_positions[lp.pos_index] + lp.tokens, lp.max_context);
  let chunk = (n + lp.splits - 1u) / lp.splits;
  let split = wid.y;
  let begin = min(split * chunk, n);
  let end = min(begin + chunk, n);
  let r0 = wid.x * LG_C * LG_V * 4u;
  let m0 = wid.z * LG_M * 4u;
  let cb = lid % LG_C;
  let mb = lid / LG_C;

  // Each row's max and sum over the split, by one invocation per row.
  for (var i = lid; i < LG_M * 4u; i += WG) {
    let m = m0 + i;
    var mx = NEG;
    var l = 0.0;
    if (m < rows) {
      let e = min(end, lg_visible(m));
      for (var s = begin; s < e; s++) {
        let x = lg_scores[m * lp.max_context + s];
        if (x > mx) { l *= exp(mx - x); mx = x; }
        l += exp(x - mx);
      }
    }
    lg_max[i] = mx;
    lg_sum[i] = l;
  }
  workgroupBarrier();

  var lacc: array<vec4<f32>, 4u * LG_VMAX>;  // [row of the block · LG_VMAX + vec4 column]
  for (var i = 0u; i < 4u * LG_VMAX; i++) { lacc[i] = vec4<f32>(0.0); }
  for (var base = begin; base < end; base += LG_T) {
    for (var i = lid; i < LG_M * LG_T; i += WG) {
      let b = i / LG_T;
      let s = base + i % LG_T;
      var w = vec4<f32>(0.0);
      for (var c = 0u; c < 4u; c++) {
        let m = m0 + 4u * b + c;
        if (m < rows && s < end && s < lg_visible(m)) { w[c] = exp(lg_scores[m * lp.max_context + s] - lg_max[4u * b + c]); }
      }
      lg_w[i] = w;
    }
    // Consecutive invocations take consecutive columns of one cache row.
    for (var i = lid; i < LG_C * LG_V * LG_T; i += WG) {
      let cbv = i % (LG_C * LG_V);
      let j = i / (LG_C * LG_V);
      let s = base + j;
      var v = vec4<f32>(0.0);
      for (var c = 0u; c < 4u; c++) {
        let r = r0 + 4u * cbv + c;
        if (s < end && r < R) { v[c] = cache_value(s, r); }
      }
      lg_v[cbv * LG_T + j] = v;
    }
    workgroupBarrier();
    let count = min(LG_T, end - base);
    for (var j = 0u; j < count; j++) {
      let w = lg_w[mb * LG_T + j];
      for (var v = 0u; v < LG_V; v++) {
        // Invocation cb owns column blocks cb, cb + LG_C, …: a column block's reads stay contiguous.
        let c = lg_v[(cb + v * LG_C) * LG_T + j];
        lacc[v] += c * w.x;
        lacc[LG_VMAX + v] += c * w.y;
        lacc[2u * LG_VMAX + v] += c * w.z;
        lacc[3u * LG_VMAX + v] += c * w.w;
      }
    }
    // The next tile overwrites lg_w and lg_v.
    workgroupBarrier();
  }

  for (var i = 0u; i < 4u; i++) {
    let m = m0 + 4u * mb + i;
    if (m >= rows) { break; }
    let slot = 4u * mb + i;
    for (var v = 0u; v < LG_V; v++) {
      let r = r0 + 4u * (cb + v * LG_C);
      for (var c = 0u; c < 4u; c++) {
        if (r + c >= R) { break; }
        let a = lacc[i * LG_VMAX + v][c];
        if (lp.splits == 1u) {
          lg_out[m * R + r + c] = a / lg_sum[slot];
        } else {
          lg_out[(m * lp.splits + split) * (R + 2u) + r + c] = a;
        }
      }
    }
    if (lp.splits > 1u && wid.x == 0u && cb == 0u) {
      let rb = (m * lp.splits + split) * (R + 2u);
      lg_out[rb + R] = lg_max[slot];
      lg_out[rb + R + 1u] = lg_sum[slot];
    }
  }
}
