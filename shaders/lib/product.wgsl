// What every matrix-product kernel (matmul-*.wgsl) shares: the Product header of its params, how batch
// entry b finds its tensors, rows and x (slot_at), the flat grid, and the store into y.
//
// The main source declares `var<uniform> p` whose field `m` is the Product, and the output binding
// `y: array<f32>` (read_write). Its params and bindings say what a batch entry is; the product itself is
// y[t, r] (+)= scale · Σ_c W[row_base + b·row_stride + r, c] · x[t, c] (or transposed), summed over the
// entries a workgroup is given.

// y = silu(W x) · (W_up x): gate and up projections of the same shape in one pass.
override SWIGLU: bool = false;

// Sizes, section offsets, strides and tiling of one launch; written by kernels/product.ts.
struct Product {
  rows: u32,          // output rows per batch entry (transposed: rows summed over)
  cols: u32,          // columns of the tensor: summed over (transposed: output columns)
  tokens: u32,        // T (grouped: rows of x)
  batch: u32,         // batch entries along the grid
  q: u32,             // word offsets in `w` of the tensor's sections (of expert 0)
  scales: u32,
  mins: u32,
  q_up: u32,          // the same in `w_up` (SwiGLU)
  scales_up: u32,
  mins_up: u32,
  row_base: u32,      // first tensor row of batch entry b: row_base + b · row_stride
  row_stride: u32,
  expert_stride: u32, // words between the tensors of consecutive experts
  x_offset: u32,      // x[t] of batch entry b starts at x_offset + b · x_batch + t · x_tok
  x_tok: u32,
  x_batch: u32,
  y_offset: u32,      // y likewise, by the grid's batch entry
  y_tok: u32,
  y_batch: u32,
  span: u32,          // tokens per workgroup
  spans: u32,         // workgroups along the tokens
  accumulate: u32,    // y += result instead of y = result
  swiglu_limit: f32,  // > 0: SwiGLU clamps its gate to ≤ L and its up projection to [−L, L] (DeepSeek-V4)
  _pad: u32,
}

/** What batch entry b reads: its tensors (gate and up), first tensor row, x base, and its weight. */
struct Slot {
  gate: Tensor,
  up: Tensor,
  row: u32,
  x: u32,
  scale: f32,
  live: bool,  // false: the entry is skipped (an expert another launch holds, matmul-experts.wgsl)
}

/** Batch entry b's rows and x, in the tensors of expert e (0 for a tensor without experts), scaled by `scale`. */
fn slot_at(b: u32, e: u32, scale: f32) -> Slot {
  let o = e * p.m.expert_stride;
  return Slot(
    Tensor(p.m.q + o, p.m.scales + o, p.m.mins + o),
    Tensor(p.m.q_up + o, p.m.scales_up + o, p.m.mins_up + o),
    p.m.row_base + b * p.m.row_stride,
    p.m.x_offset + b * p.m.x_batch,
    scale,
    true,
  );
}

/** Workgroup `span`'s tokens of the range [lo, hi). */
fn span_range(lo: u32, hi: u32, span: u32) -> vec2<u32> {
  let s = lo + span * p.m.span;
  return vec2<u32>(s, min(hi, s + p.m.span));
}

/** The grid is flat (split over x and y when large): block index fastest, then token span, then batch entry. */
struct Cell {
  block: u32,
  span: u32,
  b: u32,
}

fn cell(wid: vec3<u32>, nwg: vec3<u32>, blocks: u32) -> Cell {
  let flat = flat_group(wid, nwg);
  let rest = flat / blocks;
  return Cell(flat % blocks, rest % p.m.spans, rest / p.m.spans);
}

/** Index of y[t, n] of grid batch entry b. */
fn y_at(b: u32, t: u32, n: u32) -> u32 {
  return p.m.y_offset + b * p.m.y_batch + t * p.m.y_tok + n;
}

fn store(i: u32, v: f32) {
  if (p.m.accumulate != 0u) { y[i] += v; } else { y[i] = v; }
}

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

/** silu(gate) · up, both clamped first when the launch sets a swiglu_limit. */
fn swiglu(gate: f32, up: f32) -> f32 {
  let L = p.m.swiglu_limit;
  if (L > 0.0) { return silu(min(gate, L)) * clamp(up, -L, L); }
  return silu(gate) * up;
}
