// DeepSeek-V4's QAT round trips applied in place (docs/kernels.md#quant-sim), over rows × heads vectors:
// element j < count of head h of row r is x[r·row_stride + h·head_stride + offset + j]; nothing else is
// touched. The rounding itself is lib/quant-sim.wgsl's.
//
// quant_fp8         : fp8_roundtrip per block of 64 consecutive values (the last block of a vector may be
//                     shorter). An invocation per block on every adapter: no reduction spans invocations.
// hadamard_fp4      : the Hadamard transform over the vector's count values (a power of two ≤ HADAMARD_MAX)
//                     in workgroup memory, a workgroup per vector, then fp4_roundtrip per block of 32 (an
//                     invocation per block). The 'row' shape is the same entry with a smaller WG: software
//                     adapters pay per invocation at each of its log2(count) + 2 barriers.
//
// Bindings: 0 x (f32, read-write) | 1 params.

override WG: u32 = 64u;

struct Params {
  rows: u32,
  heads: u32,
  row_stride: u32,
  head_stride: u32,
  offset: u32,
  count: u32,
  _pad0: u32,
  _pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

/** Where vector v (= r·heads + h) starts. */
fn vector_base(v: u32) -> u32 {
  return (v / p.heads) * p.row_stride + (v % p.heads) * p.head_stride + p.offset;
}

/** Rounds block `blk` (of `size` values, FP4 or FP8) of the vector at `vb` in place. */
fn round_block(vb: u32, blk: u32, size: u32, fp4: bool) {
  let b0 = vb + blk * size;
  let len = min(size, p.count - blk * size);
  var amax = 0.0;
  for (var i = 0u; i < len; i++) { amax = max(amax, abs(x[b0 + i])); }
  let k = select(fp8_scale_exp(amax), fp4_scale_exp(amax), fp4);
  for (var i = 0u; i < len; i++) {
    let v = x[b0 + i];
    x[b0 + i] = select(fp8_roundtrip(v, k), fp4_roundtrip(v, k), fp4);
  }
}

@compute @workgroup_size(WG)
fn quant_fp8(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let blocks = (p.count + FP8_BLOCK - 1u) / FP8_BLOCK;
  let i = flat_id(wid, nwg, lid, WG);
  if (i >= p.rows * p.heads * blocks) { return; }
  round_block(vector_base(i / blocks), i % blocks, FP8_BLOCK, false);
}

// FP4 false: the transform alone (the indexer with its FP4 simulation switched off, a test setting).
override FP4: bool = true;

@compute @workgroup_size(WG)
fn hadamard_fp4(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let v = flat_group(wid, nwg);
  if (v >= p.rows * p.heads) { return; }
  let vb = vector_base(v);
  let n = p.count;
  for (var i = lid; i < n; i += WG) { hadamard_values[i] = x[vb + i]; }
  hadamard_shared(lid, WG, n);
  for (var i = lid; i < n; i += WG) { x[vb + i] = hadamard_values[i]; }
  // The blocks below read values other invocations just wrote.
  storageBarrier();
  if (FP4) {
    for (var blk = lid; blk * FP4_BLOCK < n; blk += WG) { round_block(vb, blk, FP4_BLOCK, true); }
  }
}
