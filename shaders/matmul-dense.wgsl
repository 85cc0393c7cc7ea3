// Dense products: y[t, b, r] (+)= Σ_c W[row_base + b·row_stride + r, c] · x[t, b, c] for T tokens and a
// batch of row blocks (batch entry b: an attention head's rows of kv_b, or the one block of a plain
// matrix), and the fused SwiGLU pair y = silu(W x) · (W_up x). Weights stay in their format
// (docs/model-folder.md#formats), dequantized in registers by the composed dequant8.
//
// Entry points:
//   matmul_wg  : a workgroup per output row (product-rows.wgsl): decode on GPUs.
//   matmul_row : an invocation per output row (product-rows.wgsl): decode on software adapters, and
//                prefill in tiles of 8 tokens where x's rows are not 4-float aligned.
//   matmul_tile: 4 rows × 16 tokens per invocation (product-tile.wgsl): prefill on software adapters.
//   product_gemm: workgroup tiles with the weights dequantized once into workgroup memory
//                (product-gemm.wgsl, composed only for it): prefill chunks on GPUs.
// Bindings: 0 x (f32, viewed as vec4s), 1 w, 2 w_up (the gate's buffer again without SwiGLU) | 3 y | 4 params.

override WG: u32 = 64u;

struct Params {
  m: Product,
}

@group(0) @binding(0) var<storage, read> x: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> w_up: array<u32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> p: Params;

fn slot(b: u32) -> Slot { return slot_at(b, 0u, 1.0); }
fn entries(b: u32) -> vec2<u32> { return vec2<u32>(b, 1u); }
fn tokens(b: u32, span: u32) -> vec2<u32> { return span_range(0u, p.m.tokens, span); }

@compute @workgroup_size(WG)
fn matmul_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_wg(wid, nwg, lid);
}

@compute @workgroup_size(WG)
fn matmul_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_row(wid, nwg, lid);
}

@compute @workgroup_size(WG)
fn matmul_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  rows_tile(wid, nwg, lid);
}
