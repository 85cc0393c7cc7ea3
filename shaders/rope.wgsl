// Interleaved rotary embedding (DeepSeek's layout: pair i is (x[2i], x[2i+1]), rotated by
// angle pos × inv_freq[i]; docs/architecture-v3.md#rope) and the latent KV cache store, which applies it
// to k_pe (docs/architecture-v3.md#latent-cache).
//
// rope         : x (in place). The rope part of every head of T token rows, at positions start + t
//                (with `inverse`, rotated back: by −angle).
// kv_store_*   : kv, weight -> cache, q. From kv_a's output rows [c | k_pe]: c ← rms(c) × weight
//                (kv_a_layernorm), k_pe ← rope(k_pe), written to cache rows start … start+T-1.
//                The cache row is [c (RANK) | k_pe (2·half)]: all MLA keeps per token per layer.
//                With kp.q.heads > 0 the same dispatch also rotates the rope parts of the query rows
//                in q (lib/rope-heads.wgsl), which saves a `rope` dispatch per layer.
//   kv_store_wg  : one workgroup per token, the norm's sum by workgroup_sum (lib/reduce.wgsl) (GPUs).
//   kv_store_row : one invocation per token (software adapters).
//
// `start` is read from positions[pos_index] (a GPU buffer), so a recorded decode step can be replayed
// at the next position without encoding it again.
//
// table (from model/rope.ts ropeTable): per pair i, turns per position inv_freq[i]/2π as hi (2i) + lo (2i+1);
// rotation() and rotate() come from lib/rope-rotation.wgsl. Bindings 0 and 1 are the same in every entry
// point so that those helpers can use them.

override WG: u32 = 64;

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;

// ---- rope: one invocation per (token, head, pair) ----

struct RopeParams {
  tokens: u32,
  heads: u32,
  half: u32,        // pairs per head: rope dim / 2
  row_stride: u32,  // elements between token rows
  head_stride: u32, // elements between heads within a row
  offset: u32,      // of the rope part within a head (qk_nope_head_dim for q)
  pos_index: u32,
  inverse: u32,     // 1: rotate by −angle (conjugate (cos, sin))
}

@group(0) @binding(2) var<storage, read_write> x: array<f32>;
@group(0) @binding(3) var<uniform> rp: RopeParams;

@compute @workgroup_size(WG)
fn rope(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = flat_id(wid, nwg, lid, WG);
  if (idx >= rp.tokens * rp.heads * rp.half) { return; }
  let i = idx % rp.half;
  let th = idx / rp.half;
  let h = th % rp.heads;
  let t = th / rp.heads;
  let b = t * rp.row_stride + h * rp.head_stride + rp.offset + 2u * i;
  var cs = rotation(positions[rp.pos_index] + t, i);
  if (rp.inverse != 0u) { cs.y = -cs.y; }
  let r = rotate(x[b], x[b + 1u], cs);
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
  q: HeadsRope,     // the query rows rotated by the same dispatch (heads 0: none)
}

@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> norm_weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> cache: array<f32>;
@group(0) @binding(5) var<storage, read_write> q_rows: array<f32>;
@group(0) @binding(6) var<uniform> kp: KvParams;

/** k_pe of the kv row at src, roped at `pos`, into the cache row at dst: pairs first, first + step, …. */
fn store_k_pe(src: u32, dst: u32, pos: u32, first: u32, step: u32) {
  for (var i = first; i < kp.half; i += step) {
    let rot = rotate(kv[src + kp.rank + 2u * i], kv[src + kp.rank + 2u * i + 1u], rotation(pos, i));
    cache[dst + kp.rank + 2u * i] = rot.x;
    cache[dst + kp.rank + 2u * i + 1u] = rot.y;
  }
}

@compute @workgroup_size(WG)
fn kv_store_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let pos = positions[kp.pos_index] + t;
  let src = t * kp.kv_stride + kp.kv_offset;
  // Every invocation reaches the barriers in workgroup_sum; the bounds check comes after.
  let squares = workgroup_sum(lid, sum_squares(&kv, src, kp.rank, lid, WG));
  rotate_heads(&q_rows, kp.q, t, pos, lid, WG);
  if (pos >= kp.max_context) { return; }
  let dst = pos * (kp.rank + 2u * kp.half);
  write_normed(&cache, dst, &kv, src, &norm_weight, kp.rank, squares, kp.eps, lid, WG);
  store_k_pe(src, dst, pos, lid, WG);
}

@compute @workgroup_size(WG)
fn kv_store_row(@builtin(global_invocation_id) gid: vec3<u32>) {
  let t = gid.x;
  if (t >= kp.tokens) { return; }
  let pos = positions[kp.pos_index] + t;
  rotate_heads(&q_rows, kp.q, t, pos, 0u, 1u);
  if (pos >= kp.max_context) { return; }
  let src = t * kp.kv_stride + kp.kv_offset;
  let dst = pos * (kp.rank + 2u * kp.half);
  write_normed(&cache, dst, &kv, src, &norm_weight, kp.rank, sum_squares(&kv, src, kp.rank, 0u, 1u), kp.eps, 0u, 1u);
  store_k_pe(src, dst, pos, 0u, 1u);
}
