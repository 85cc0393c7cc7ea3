// Interleaved rotary embedding (DeepSeek's layout: pair i is (x[2i], x[2i+1]), rotated by
// angle pos × inv_freq[i]) and the latent KV cache store, which applies it to k_pe.
//
// rope         : x (in place). The rope part of every head of T token rows, at positions start + t.
// kv_store_*   : kv, weight -> cache. From kv_a's output rows [c | k_pe]: c ← rms(c) × weight
//                (kv_a_layernorm), k_pe ← rope(k_pe), written to cache rows start … start+T-1.
//                The cache row is [c (RANK) | k_pe (2·half)]: all MLA keeps per token per layer.
//   kv_store_wg  : one workgroup per token, the norm's sum reduced in workgroup memory (GPUs).
//   kv_store_row : one invocation per token (software adapters).
//
// `start` is read from positions[pos_index] (a GPU buffer), so a recorded decode step can be replayed
// at the next position without encoding it again.
//
// table (from model/rope.ts ropeTable): per pair i, turns per position inv_freq[i]/2π as hi (2i) + lo (2i+1).
// Bindings 0 and 1 are the same in every entry point so that the helpers below can use them.

override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;

// The rotation of pair i at position pos, as (cos, sin).
//
// pos × turns is formed without rounding: pos = ph·4096 + pl and hi = hh + hm, each part with at most
// 12 significant bits, so the four partial products are exact f32 values and dropping their whole turns
// (fract) loses nothing. lo is ~2^-24 of hi, so its product's rounding is negligible. Valid for pos < 2^24.
fn rotation(pos: u32, i: u32) -> vec2<f32> {
  let hi = table[2u * i];
  let lo = table[2u * i + 1u];
  let hh = bitcast<f32>(bitcast<u32>(hi) & 0xFFFFF000u);
  let hm = hi - hh;
  let pl = f32(pos & 0xFFFu);
  let ph = f32(pos >> 12u) * 4096.0;
  let t = fract(fract(pl * hh) + fract(pl * hm)) + fract(fract(ph * hh) + fract(ph * hm)) + f32(pos) * lo;
  return cos_sin_turns(t - round(t));
}

// (cos, sin) of r turns, |r| ≤ 1/2, to f32 precision. WGSL only promises sin/cos within 2^-11 (and
// SwiftShader is that coarse), so: quadrant by rounding, then Taylor series on |x| ≤ π/4 (truncation < 3e-9).
fn cos_sin_turns(r: f32) -> vec2<f32> {
  let q = round(4.0 * r);
  let x = (r - 0.25 * q) * 6.283185307179586;
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-1.0 / 6.0 + x2 * (1.0 / 120.0 + x2 * (-1.0 / 5040.0 + x2 * (1.0 / 362880.0)))));
  let c = 1.0 + x2 * (-0.5 + x2 * (1.0 / 24.0 + x2 * (-1.0 / 720.0 + x2 * (1.0 / 40320.0 + x2 * (-1.0 / 3628800.0)))));
  // Rotate (c, s) by q quarter turns.
  switch ((i32(q) + 4) % 4) {
    case 1: { return vec2<f32>(-s, c); }
    case 2: { return vec2<f32>(-c, -s); }
    case 3: { return vec2<f32>(s, -c); }
    default: { return vec2<f32>(c, s); }
  }
}

fn rotate(x0: f32, x1: f32, cs: vec2<f32>) -> vec2<f32> {
  return vec2<f32>(x0 * cs.x - x1 * cs.y, x0 * cs.y + x1 * cs.x);
}

// ---- rope: one invocation per (token, head, pair) ----

struct RopeParams {
  tokens: u32,
  heads: u32,
  half: u32,        // pairs per head: rope dim / 2
  row_stride: u32,  // elements between token rows
  head_stride: u32, // elements between heads within a row
  offset: u32,      // of the rope part within a head (qk_nope_head_dim for q)
  pos_index: u32,
  _pad: u32,
}

@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<uniform> rp: RopeParams;

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  // The grid may be folded into two dimensions when it exceeds one dimension's limit.
  let idx = (wid.y * nwg.x + wid.x) * WG + lid;
  if (idx >= rp.tokens * rp.heads * rp.half) { return; }
  let i = idx % rp.half;
  let th = idx / rp.half;
  let h = th % rp.heads;
  let t = th / rp.heads;
  let b = t * rp.row_stride + h * rp.head_stride + rp.offset + 2u * i;
  let r = rotate(x[b], x[b + 1u], rotation(positions[rp.pos_index] + t, i));
  x[b] = r.x;
  x[b + 1u] = r.y;
}

// ---- kv_store ----

struct KvParams {
  tokens: u32,
  rank: u32,        // kv_lora_rank
  half: u32,        // qk_rope_head_dim / 2
  kv_stride: u32,   // elements between token rows of kv_a's output
  kv_offset: u32,   // of c within such a row; k_pe follows c
  max_context: u32, // cache rows; rows at or beyond it are not written
  pos_index: u32,
  eps: f32,
}

@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> norm_weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> cache: array<f32>;
@group(0) @binding(5) var<uniform> kp: KvParams;

var<workgroup> partial: array<f32, WG>;

// The same tree reduction as rmsnorm.wgsl's (WGSL has no includes).
fn workgroup_sum(lid: u32, v: f32) -> f32 {
  partial[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (lid < s) { partial[lid] += partial[lid + s]; }
    workgroupBarrier();
  }
  return partial[0];
}

@compute @workgroup_size(WG)
fn kv_store_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let pos = positions[kp.pos_index] + t;
  let src = t * kp.kv_stride + kp.kv_offset;
  var s = 0.0;
  for (var c = lid; c < kp.rank; c += WG) {
    let v = kv[src + c];
    s += v * v;
  }
  // Every invocation reaches the barriers in workgroup_sum; the bounds check comes after.
  let r = inverseSqrt(workgroup_sum(lid, s) / f32(kp.rank) + kp.eps);
  if (pos >= kp.max_context) { return; }
  let dst = pos * (kp.rank + 2u * kp.half);
  for (var c = lid; c < kp.rank; c += WG) {
    cache[dst + c] = kv[src + c] * r * norm_weight[c];
  }
  for (var i = lid; i < kp.half; i += WG) {
    let e = kv[src + kp.rank + 2u * i];
    let o = kv[src + kp.rank + 2u * i + 1u];
    let rot = rotate(e, o, rotation(pos, i));
    cache[dst + kp.rank + 2u * i] = rot.x;
    cache[dst + kp.rank + 2u * i + 1u] = rot.y;
  }
}

@compute @workgroup_size(WG)
fn kv_store_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= kp.tokens) { return; }
  let pos = positions[kp.pos_index] + t;
  if (pos >= kp.max_context) { return; }
  let src = t * kp.kv_stride + kp.kv_offset;
  var s = 0.0;
  for (var c = 0u; c < kp.rank; c++) {
    let v = kv[src + c];
    s += v * v;
  }
  let r = inverseSqrt(s / f32(kp.rank) + kp.eps);
  let dst = pos * (kp.rank + 2u * kp.half);
  for (var c = 0u; c < kp.rank; c++) {
    cache[dst + c] = kv[src + c] * r * norm_weight[c];
  }
  for (var i = 0u; i < kp.half; i++) {
    let rot = rotate(kv[src + kp.rank + 2u * i], kv[src + kp.rank + 2u * i + 1u], rotation(pos, i));
    cache[dst + kp.rank + 2u * i] = rot.x;
    cache[dst + kp.rank + 2u * i + 1u] = rot.y;
  }
}
