// DeepSeek-V4's KV side (docs/kernels.md#v4-kv): the sliding-window store and the KV
// compressor, writing entries in the layout of lib/kv-entry.wgsl.
//
// kv_window_store  : kv, positions -> ring. A workgroup per token t (position p = start + t): the row
//                    kv[t] (rms(kv_norm)-ed, RoPE already on its last ROPE dims) through the FP8 round
//                    trip of its first n dims per 64 (QUANT 1) or as f32 (QUANT 0), into ring slot p mod slots.
// compressor_store : kv, positions, gate, ape -> state. An invocation per (token, feature f < W): state row
//                    p mod slots ← [kv[t] | gate[t] + ape[p mod ratio]], each W wide (W = c·D, c = 2 when
//                    the blocks overlap).
// compressor_emit  : state, positions, norm, table -> out. A workgroup per block b whose last token is in
//                    this call (b = ⌊start/ratio⌋ + z, z = workgroup; workgroups past the call's last
//                    complete block exit): per feature, the softmax over the block's slots of the gate
//                    logits weighs the values (overlapping: the previous block's first halves, then this
//                    block's second halves; block 0 has no previous block); RMSNorm with `norm`; RoPE of
//                    the last ROPE dims at position b·ratio; then QUANT: 0 f32 entry, 1 FP8 entry,
//                    2 Hadamard + FP4 round trip per 32 (the indexer's keys, f32 values). Writes entry b.
//
// `start` is positions[pos_index] (a GPU buffer), so a recorded decode step serves every position.
// An entry is staged in quant-sim's `hadamard_values` (D ≤ HADAMARD_MAX), which the FP4 path transforms
// in place.

override D: u32;          // entry width: head_dim (attention) or index_head_dim (indexer)
override ROPE: u32;       // rotated dims at the end of an entry
override QUANT: u32 = 0u; // 0 none, 1 FP8 entry, 2 Hadamard + FP4, 3 Hadamard alone (FP4 simulation off)
override FP8: bool = QUANT == 1u;
override WG: u32 = 64u;

// A finite stand-in for -inf: exp(NEG - m) is 0 and NEG - NEG is not NaN.
const NEG: f32 = -3.0e38;

@group(0) @binding(1) var<storage, read> positions: array<u32>;

// Scale exponents of the entry's quantization blocks (64 values for FP8, 32 for FP4).
var<workgroup> block_exp: array<i32, D / FP4_BLOCK>;

/**
 * The entry staged in hadamard_values[0, D): the quantization's scales (and for FP4 the Hadamard
 * transform). Uniform control flow; its barriers make everything visible on return.
 */
fn prepare_entry(lid: u32) {
  if (QUANT >= 2u) {
    hadamard_shared(lid, WG, D);
    for (var k = lid; k < D / FP4_BLOCK; k += WG) { block_exp[k] = fp4_scale_exp(block_amax(k * FP4_BLOCK, FP4_BLOCK)); }
  } else if (QUANT == 1u) {
    workgroupBarrier();
    for (var k = lid; k < kv_nope() / FP8_BLOCK; k += WG) { block_exp[k] = fp8_scale_exp(block_amax(k * FP8_BLOCK, FP8_BLOCK)); }
  }
  workgroupBarrier();
}

fn block_amax(first: u32, len: u32) -> f32 {
  var a = 0.0;
  for (var i = first; i < first + len; i++) { a = max(a, abs(hadamard_values[i])); }
  return a;
}

/** Word w of the staged entry (after prepare_entry). */
fn entry_word(w: u32) -> u32 {
  if (QUANT == 2u) { return bitcast<u32>(fp4_roundtrip(hadamard_values[w], block_exp[w / FP4_BLOCK])); }
  if (QUANT == 0u || QUANT == 3u) { return bitcast<u32>(hadamard_values[w]); }
  let n = kv_nope();
  if (w < kv_exp_word()) {
    let k = block_exp[(4u * w) / FP8_BLOCK];
    var word = 0u;
    for (var j = 0u; j < 4u; j++) {
      // The round trip's value over its scale is an E4M3 value: its code is exact.
      word |= e4m3_code(ldexp(fp8_roundtrip(hadamard_values[4u * w + j], k), -k)) << (8u * j);
    }
    return word;
  }
  if (w < kv_rope_word()) {
    var word = 0u;
    for (var j = 0u; j < 4u; j++) {
      let b = 4u * (w - kv_exp_word()) + j;
      if (b < n / FP8_BLOCK) { word |= u32(block_exp[b] + 127) << (8u * j); }
    }
    return word;
  }
  return bitcast<u32>(hadamard_values[n + w - kv_rope_word()]);
}

// ---- kv_window_store: 0 kv, 1 positions, 2 ring, 3 params ----

struct WindowParams {
  tokens: u32,
  slots: u32,
  pos_index: u32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> kv: array<f32>;
@group(0) @binding(2) var<storage, read_write> ring: array<u32>;
@group(0) @binding(3) var<uniform> wp: WindowParams;

@compute @workgroup_size(WG)
fn kv_window_store(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let t = wid.x;
  for (var d = lid; d < D; d += WG) { hadamard_values[d] = kv[t * D + d]; }
  prepare_entry(lid);
  let base = ((positions[wp.pos_index] + t) % wp.slots) * kv_entry_words();
  for (var w = lid; w < kv_entry_words(); w += WG) { ring[base + w] = entry_word(w); }
}

// ---- compressor_store: 0 kv, 1 positions, 2 gate, 3 ape, 4 state, 5 params ----

struct StoreParams {
  tokens: u32,
  width: u32, // W
  ratio: u32,
  slots: u32,
  pos_index: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

@group(0) @binding(2) var<storage, read> gate: array<f32>;
@group(0) @binding(3) var<storage, read> ape: array<f32>;
@group(0) @binding(4) var<storage, read_write> state: array<f32>;
@group(0) @binding(5) var<uniform> sp: StoreParams;

@compute @workgroup_size(WG)
fn compressor_store(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let idx = flat_id(wid, nwg, lid, WG);
  if (idx >= sp.tokens * sp.width) { return; }
  let f = idx % sp.width;
  let t = idx / sp.width;
  let p = positions[sp.pos_index] + t;
  let row = (p % sp.slots) * 2u * sp.width;
  state[row + f] = kv[idx];
  state[row + sp.width + f] = gate[idx] + ape[(p % sp.ratio) * sp.width + f];
}

// ---- compressor_emit: 0 state, 1 positions, 2 norm, 3 table, 4 out, 5 params ----

struct EmitParams {
  tokens: u32,
  ratio: u32,
  overlap: u32,
  slots: u32,
  max_blocks: u32, // entries of `out`; blocks at or past it are not written
  pos_index: u32,
  eps: f32,
  _pad: u32,
}

@group(0) @binding(0) var<storage, read> pooled_state: array<f32>;
@group(0) @binding(2) var<storage, read> norm: array<f32>;
@group(0) @binding(3) var<storage, read> table: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<u32>;
@group(0) @binding(5) var<uniform> ep: EmitParams;

/** Online softmax of one feature: running max, sum of weights, weighted sum of values. */
struct Pool {
  m: f32,
  l: f32,
  acc: f32,
}

/** Adds the m slots of block `blk` (values at column `col` of the state rows, logits W further on). */
fn pool_block(pool: Pool, blk: u32, col: u32, w2: u32) -> Pool {
  var s = pool;
  for (var j = 0u; j < ep.ratio; j++) {
    let row = ((blk * ep.ratio + j) % ep.slots) * w2;
    let z = pooled_state[row + w2 / 2u + col];
    let m = max(s.m, z);
    let a = exp(s.m - m);
    let e = exp(z - m);
    s = Pool(m, s.l * a + e, s.acc * a + e * pooled_state[row + col]);
  }
  return s;
}

@compute @workgroup_size(WG)
fn compressor_emit(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let start = positions[ep.pos_index];
  let b = start / ep.ratio + wid.x;
  // Uniform exit: the block ends after this call's last token, or has no place in `out`.
  if ((b + 1u) * ep.ratio > start + ep.tokens || b >= ep.max_blocks) { return; }
  let w2 = 2u * D * select(1u, 2u, ep.overlap != 0u);
  var ss = 0.0;
  for (var f = lid; f < D; f += WG) {
    var pool = Pool(NEG, 0.0, 0.0);
    if (ep.overlap != 0u) {
      // Block b − 1's first halves (a_t, za_t), then block b's second halves (β_t, zβ_t).
      if (b > 0u) { pool = pool_block(pool, b - 1u, f, w2); }
      pool = pool_block(pool, b, D + f, w2);
    } else {
      pool = pool_block(pool, b, f, w2);
    }
    let v = pool.acc / pool.l;
    hadamard_values[f] = v;
    ss += v * v;
  }
  let r = inverseSqrt(workgroup_sum(lid, ss) / f32(D) + ep.eps);
  for (var f = lid; f < D; f += WG) { hadamard_values[f] *= r * norm[f]; }
  workgroupBarrier();
  let n = D - ROPE;
  for (var i = lid; i < ROPE / 2u; i += WG) {
    let rot = rotate(hadamard_values[n + 2u * i], hadamard_values[n + 2u * i + 1u], rotation(b * ep.ratio, i));
    hadamard_values[n + 2u * i] = rot.x;
    hadamard_values[n + 2u * i + 1u] = rot.y;
  }
  prepare_entry(lid);
  let base = b * kv_entry_words();
  for (var w = lid; w < kv_entry_words(); w += WG) { out[base + w] = entry_word(w); }
}
