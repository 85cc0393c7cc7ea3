// The latent KV cache store for the f16 and FP8 formats (docs/architecture-v3.md#latent-cache); the f32
// cache is written by rope.wgsl's kv_store. Same math: from kv_a's output rows [c | k_pe],
// c ← rms(c) × weight (kv_a_layernorm), k_pe ← rope(k_pe), into cache row start + t; then the row is
// packed in the cache's format (the layout mla.wgsl's cache_value reads):
//   FORMAT 1 (f16): value pairs by pack2x16float, value 2w in the low half of word w.
//   FORMAT 2 (fp8): E4M3 codes (RNE, the row scaled so that its largest |value| becomes 448), value 4w in
//                   the low byte of word w, then the f32 scale in the row's last word.
// kv_store_packed: one workgroup per token; the row is built in workgroup memory, then packed. With
// p.q.heads > 0 it also rotates the rope parts of the query rows in q (lib/rope-heads.wgsl), as
// rope.wgsl's kv_store does.
//
// Bindings 0 and 1 are table and positions, as in rope.wgsl, for lib/rope-rotation.wgsl.

override WG: u32 = 64;
override RANK: u32;  // kv_lora_rank
override ROPE: u32;  // qk_rope_head_dim
override FORMAT: u32 = 1u;

const E4M3_MAX: f32 = 448.0;

struct Params {
  tokens: u32,
  kv_stride: u32,   // elements between token rows of kv_a's output
  kv_offset: u32,   // of c within such a row; k_pe follows c
  max_context: u32, // cache rows; rows at or beyond it are not written
  pos_index: u32,
  eps: f32,
  _pad0: u32,
  _pad1: u32,
  q: HeadsRope,     // the query rows rotated by the same dispatch (heads 0: none)
}

@group(0) @binding(0) var<storage, read> table: array<f32>;
@group(0) @binding(1) var<storage, read> positions: array<u32>;
@group(0) @binding(2) var<storage, read> kv: array<f32>;
@group(0) @binding(3) var<storage, read> norm_weight: array<f32>;
@group(0) @binding(4) var<storage, read_write> cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> q_rows: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;

var<workgroup> row_w: array<f32, RANK + ROPE>;

fn row_words() -> u32 {
  if (FORMAT == 1u) { return (RANK + ROPE + 1u) / 2u; }
  return (RANK + ROPE + 3u) / 4u + 1u;
}

/** The E4M3 code of v (|v| ≤ 448 after clamping), rounded to nearest, ties to even. */
fn e4m3_rne(v: f32) -> u32 {
  let a = min(abs(v), E4M3_MAX);
  // The grid's spacing at a: 2^(e) with e = max(⌊log2 a⌋, -6) - 3 (3 mantissa bits; subnormals below 2^-6).
  let e = max(i32((bitcast<u32>(a) >> 23u) & 0xffu) - 127, -6) - 3;
  // a / 2^e rounds to 0 … 16; (e + 10) · 8 + that − 8 is the code, a mantissa of 16 carrying into the exponent.
  let code = u32((e + 10) * 8) + u32(round(ldexp(a, -e))) - 8u;
  return code | select(0u, 0x80u, v < 0.0);
}

@compute @workgroup_size(WG)
fn kv_store_packed(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  let pos = positions[p.pos_index] + t;
  let src = t * p.kv_stride + p.kv_offset;
  // Every invocation reaches the barriers of the reductions; the bounds check comes after.
  let squares = workgroup_sum(lid, sum_squares(&kv, src, RANK, lid, WG));
  let r = inverseSqrt(squares / f32(RANK) + p.eps);
  var amax = 0.0;
  for (var c = lid; c < RANK; c += WG) {
    row_w[c] = kv[src + c] * r * norm_weight[c];
    amax = max(amax, abs(row_w[c]));
  }
  for (var i = lid; i < ROPE / 2u; i += WG) {
    let rot = rotate(kv[src + RANK + 2u * i], kv[src + RANK + 2u * i + 1u], rotation(pos, i));
    row_w[RANK + 2u * i] = rot.x;
    row_w[RANK + 2u * i + 1u] = rot.y;
    amax = max(amax, max(abs(rot.x), abs(rot.y)));
  }
  amax = workgroup_max(lid, amax);
  workgroupBarrier();
  rotate_heads(&q_rows, p.q, t, pos, lid, WG);
  if (pos >= p.max_context) { return; }
  let n = RANK + ROPE;
  let words = row_words();
  let dst = pos * words;
  if (FORMAT == 1u) {
    for (var w = lid; w < words; w += WG) {
      let hi = select(0.0, row_w[min(2u * w + 1u, n - 1u)], 2u * w + 1u < n);
      cache[dst + w] = pack2x16float(vec2<f32>(row_w[2u * w], hi));
    }
    return;
  }
  // An all-zero row keeps scale 1 (its codes are 0 whatever the scale).
  let scale = select(amax / E4M3_MAX, 1.0, amax == 0.0);
  for (var w = lid; w < words - 1u; w += WG) {
    var word = 0u;
    for (var b = 0u; b < 4u; b++) {
      let d = 4u * w + b;
      if (d < n) { word |= e4m3_rne(row_w[d] / scale) << (8u * b); }
    }
    cache[dst + w] = word;
  }
  if (lid == 0u) { cache[dst + words - 1u] = bitcast<u32>(scale); }
}
