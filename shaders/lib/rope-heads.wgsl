// The rope parts of one token's heads rotated in place: the query rotation that the latent cache store
// (rope.wgsl kv_store_*, mla-cache.wgsl kv_store_packed) runs in its own dispatch, so that a decoder
// layer needs no separate rope dispatch for q (docs/architecture-v3.md#latent-cache).
//
// Needs lib/rope-rotation.wgsl (and through it the main source's `table` binding).

requires unrestricted_pointer_parameters;

/** Where the rope parts of a token row's heads lie: head h's pair i at row·row_stride + h·head_stride + offset + 2i. */
struct HeadsRope {
  heads: u32,       // 0: nothing to rotate
  half: u32,        // pairs per head
  row_stride: u32,
  head_stride: u32,
  offset: u32,
  _pad0: u32,
  _pad1: u32,
  _pad2: u32,
}

/** Token row `row`'s pairs j = first, first + step, … of heads × half, rotated by `pos`. */
fn rotate_heads(x: ptr<storage, array<f32>, read_write>, g: HeadsRope, row: u32, pos: u32, first: u32, step: u32) {
  for (var j = first; j < g.heads * g.half; j += step) {
    let i = j % g.half;
    let b = row * g.row_stride + (j / g.half) * g.head_stride + g.offset + 2u * i;
    let r = rotate((*x)[b], (*x)[b + 1u], rotation(pos, i));
    (*x)[b] = r.x;
    (*x)[b + 1u] = r.y;
  }
}
