// Matrix products with quantized weights: y[t, r] = Σ_c W[r, c] · x[t, c] (and the transposed product),
// reading the weight tensor's own bytes (model/formats.ts) and dequantizing them in registers. x, y and all
// arithmetic are f32. Also the row gather of an embedding table, which shares the dequantization.
//
// Entry points (the launcher, kernels/matmul.ts, documents bindings and params):
//   matmul_wg  : a workgroup per output row; lanes stride over the columns 8 at a time (adjacent lanes
//                read adjacent words) and the partial sums meet in a tree in workgroup memory. For few
//                tokens per weight (decode, speculative steps): it keeps every lane busy on one row.
//   matmul_row : an invocation per output row with a plain loop over the columns. Software adapters run
//                invocations as CPU threads, where a reduction across lanes only costs barriers (decode
//                there); also prefill where x's rows are not 4-float aligned (8-token tiles).
//   matmul_tile: prefill on every adapter: an invocation per four rows × 16 tokens, x read as vec4s, so
//                each x load serves four rows and each dequantized weight 16 tokens; the 64 invocations
//                of a workgroup load the same x values at the same time (one broadcast on a GPU).
//   matmul_t   : the transposed product y[t, c] = Σ_r W[r, c] · x[t, r]; an invocation per 8 output
//                columns, looping over the rows: the column-parallel loop is already coalesced, so one
//                shape serves both kinds of adapter.
//   gather_rows: y[t, :] = W[ids[t], :] dequantized.
//
// Every matmul_* works on token tiles of TT tokens, so that each dequantized weight is used TT times from
// registers (prefill); decode is TT = 1. Batches (attention heads, MoE slots, experts) pick the tensor rows
// and the weight's base in the bound buffer per batch entry; see `slot`.

requires unrestricted_pointer_parameters, packed_4x8_integer_dot_product;

// The weight format, in formats.ts WEIGHT_FORMATS order: one pipeline per format.
override FORMAT: u32 = 0u;
override WG: u32 = 64u;
// Tokens per tile, at most MAX_TT.
override TT: u32 = 1u;
// y = silu(W x) · (W2 x): gate and up projections of the same shape in one pass.
override SWIGLU: bool = false;
// x read as vec4s (one load instead of four): set only when cols is a multiple of 4 and every row of x
// starts on a multiple of 4 floats. matmul_tile requires it.
override X4: bool = false;

const F32 = 0u;
const F16 = 1u;
const Q8 = 2u;
const Q4 = 3u;
const BF16 = 5u;
const MAX_TT = 8u;
// matmul_tile's tokens per tile (its launcher sets TT to it).
const TILE_T = 16u;

// Params.flags. What only steers uniform branches is a param rather than an override, so that one
// pipeline serves every mode (fewer pipelines to compile at start-up).
// y += result instead of y = result (fuses the residual add of o_proj and of the MoE down projection).
const ACCUMULATE = 1u;
// Sum the batch entries into one output (MoE decode down projection: Σ_k w_k · W_{ids[k]} h_k).
const SUM = 2u;
// Scale batch entry b by sw[sw_offset + b] (the router's weights).
const SLOT_WEIGHTS = 4u;
// Params.index, how batch entries find their weights: 0 = entry b (row_base + b·row_stride, base
// b·expert_stride), 1 = expert ids[idx_offset + b], 2 = grouped: entry e is expert e and owns the token
// rows [idx[idx_offset + e], idx[idx_offset + e + 1]).
const INDEX_IDS = 1u;
const INDEX_GROUPED = 2u;

// matmul_wg's partial sums, TT of them per lane (twice with SWIGLU), for the reduction.
override NRED: u32 = WG * TT * select(1u, 2u, SWIGLU);

struct Params {
  rows: u32,          // matmul_wg/row: output rows; matmul_t: rows summed over (per batch entry)
  cols: u32,          // columns of the tensor: summed over, or (matmul_t) output columns
  tokens: u32,        // T; grouped: rows of x
  batch: u32,         // batch entries, MoE slots, or experts (grouped)
  q: u32,             // word offsets in `w` of the tensor's sections (of expert 0)
  scales: u32,
  mins: u32,
  q2: u32,            // the same for the up projection in `w2` (SWIGLU)
  scales2: u32,
  mins2: u32,
  row_base: u32,      // first tensor row of batch entry b: row_base + b · row_stride
  row_stride: u32,
  expert_stride: u32, // words between the tensors of consecutive experts
  x_offset: u32,      // x[t] of batch entry b starts at x_offset + b · x_batch + t · x_tok
  x_tok: u32,
  x_batch: u32,
  y_offset: u32,      // y likewise
  y_tok: u32,
  y_batch: u32,
  idx_offset: u32,
  sw_offset: u32,
  span: u32,          // tokens per workgroup (a multiple of TT except in grouped launches)
  spans: u32,         // workgroups along the tokens
  flags: u32,         // ACCUMULATE | SUM | SLOT_WEIGHTS
  index: u32,         // 0, INDEX_IDS or INDEX_GROUPED
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> w2: array<u32>;
@group(0) @binding(3) var<storage, read> idx: array<u32>;
@group(0) @binding(4) var<storage, read> sw: array<f32>;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;
@group(0) @binding(6) var<uniform> p: Params;
// x again, as vec4s: what matmul_wg/row/tile read (the buffer's size is a multiple of 16 bytes).
@group(0) @binding(0) var<storage, read> x4: array<vec4<f32>>;

// gather_rows: ids, then `w` (binding 1, shared), then its own output and params.
struct GatherParams {
  tokens: u32,
  rows: u32,
  cols: u32,
  q: u32,
  scales: u32,
  mins: u32,
  ids_offset: u32,
  y_offset: u32,
  y_tok: u32,
}

@group(0) @binding(0) var<storage, read> g_ids: array<u32>;
@group(0) @binding(2) var<storage, read_write> g_y: array<f32>;
@group(0) @binding(3) var<uniform> gp: GatherParams;

var<workgroup> red: array<f32, NRED>;
var<workgroup> wg_range: vec2<u32>;

alias Words = ptr<storage, array<u32>, read>;

/** Word offsets of one tensor's sections in its buffer. */
struct Tensor {
  q: u32,
  scales: u32,
  mins: u32,
}

/** Eight consecutive values of a row. */
struct Vec8 {
  lo: vec4<f32>,
  hi: vec4<f32>,
}

fn dot8(a: Vec8, b: Vec8) -> f32 {
  return dot(a.lo, b.lo) + dot(a.hi, b.hi);
}

fn at8(v: Vec8, j: u32) -> f32 {
  if (j < 4u) { return v.lo[j]; }
  return v.hi[j - 4u];
}

/** Half i of an array of f16 starting at word `base`. */
fn half_at(wp: Words, base: u32, i: u32) -> f32 {
  let v = unpack2x16float((*wp)[base + (i >> 1u)]);
  return select(v.x, v.y, (i & 1u) == 1u);
}

/**
 * Four OCP E4M3 bytes to f32. Normal numbers move their exponent from bias 7 to bias 127 by integer
 * arithmetic (exact, and free of f32 subnormals, which GPUs may flush); subnormals are m · 2⁻⁹. The NaN
 * codes 0x7F/0xFF never occur in checkpoints and decode as ±480.
 */
fn e4m3x4(v: u32) -> vec4<f32> {
  let b = (vec4<u32>(v) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu);
  let sign = (b & vec4<u32>(0x80u)) << vec4<u32>(24u);
  let mag = b & vec4<u32>(0x7fu);
  let normal = bitcast<vec4<f32>>(sign | ((mag << vec4<u32>(20u)) + vec4<u32>(120u << 23u)));
  let sub = vec4<f32>(mag & vec4<u32>(7u)) * 0.001953125;
  return select(normal, select(sub, -sub, sign != vec4<u32>(0u)), mag < vec4<u32>(8u));
}

/**
 * Eight 16-bit elements from element index e (from word `base`) of an f16/bf16 section, two per word, the
 * first in the low half. Rows of odd length start in the middle of a word: shift a five-word window by 16 bits.
 */
fn halves8(wp: Words, base: u32, e: u32) -> vec4<u32> {
  let i = base + (e >> 1u);
  var v = vec4<u32>((*wp)[i], (*wp)[i + 1u], (*wp)[i + 2u], (*wp)[i + 3u]);
  if ((e & 1u) != 0u) {
    let n = (*wp)[i + 4u];
    v = (v >> vec4<u32>(16u)) | (vec4<u32>(v.yzw, n) << vec4<u32>(16u));
  }
  return v;
}

/**
 * Columns 8u … 8u+7 of tensor row r, dequantized. Past the row's end (the last unit when cols is not a
 * multiple of 8) the values are whatever the following bytes mean: callers mask them with mask8.
 * Units never straddle a q8/q4 group (32) or an fp8 block (128), so one scale serves all eight.
 */
fn load8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let c0 = 8u * u;
  switch FORMAT {
    case F32: {
      let i = t.q + r * cols + c0;
      let lo = vec4<u32>((*wp)[i], (*wp)[i + 1u], (*wp)[i + 2u], (*wp)[i + 3u]);
      let hi = vec4<u32>((*wp)[i + 4u], (*wp)[i + 5u], (*wp)[i + 6u], (*wp)[i + 7u]);
      return Vec8(bitcast<vec4<f32>>(lo), bitcast<vec4<f32>>(hi));
    }
    case F16: {
      let v = halves8(wp, t.q, r * cols + c0);
      return Vec8(vec4<f32>(unpack2x16float(v.x), unpack2x16float(v.y)), vec4<f32>(unpack2x16float(v.z), unpack2x16float(v.w)));
    }
    case Q8: {
      // Rows are padded to whole groups, so they start on a word.
      let groups = (cols + 31u) / 32u;
      let i = t.q + r * groups * 8u + 2u * u;
      let s = half_at(wp, t.scales, r * groups + (u >> 2u));
      return Vec8(vec4<f32>(unpack4xI8((*wp)[i])) * s, vec4<f32>(unpack4xI8((*wp)[i + 1u])) * s);
    }
    case Q4: {
      let groups = (cols + 31u) / 32u;
      let v = (*wp)[t.q + r * groups * 4u + u];
      let g = r * groups + (u >> 2u);
      let s = half_at(wp, t.scales, g);
      let m = half_at(wp, t.mins, g);
      let lo = (vec4<u32>(v) >> vec4<u32>(0u, 4u, 8u, 12u)) & vec4<u32>(15u);
      let hi = (vec4<u32>(v) >> vec4<u32>(16u, 20u, 24u, 28u)) & vec4<u32>(15u);
      return Vec8(vec4<f32>(lo) * s + m, vec4<f32>(hi) * s + m);
    }
    case BF16: {
      // A bf16 is the high half of an f32.
      let v = halves8(wp, t.q, r * cols + c0);
      let lo = vec4<u32>(v.x << 16u, v.x & 0xffff0000u, v.y << 16u, v.y & 0xffff0000u);
      let hi = vec4<u32>(v.z << 16u, v.z & 0xffff0000u, v.w << 16u, v.w & 0xffff0000u);
      return Vec8(bitcast<vec4<f32>>(lo), bitcast<vec4<f32>>(hi));
    }
    default: {
      // fp8: rows whose length is not a multiple of 4 start inside a word: a three-word window.
      let e = r * cols + c0;
      let i = t.q + (e >> 2u);
      let sh = (e & 3u) * 8u;
      var a = (*wp)[i];
      var b = (*wp)[i + 1u];
      if (sh != 0u) {
        let n = (*wp)[i + 2u];
        a = (a >> sh) | (b << (32u - sh));
        b = (b >> sh) | (n << (32u - sh));
      }
      let s = bitcast<f32>((*wp)[t.scales + (r / 128u) * ((cols + 127u) / 128u) + c0 / 128u]);
      return Vec8(e4m3x4(a) * s, e4m3x4(b) * s);
    }
  }
}

/** Zeroes the columns ≥ cols of a unit starting at column c0. */
fn mask8(v: Vec8, c0: u32, cols: u32) -> Vec8 {
  let c = vec4<u32>(c0) + vec4<u32>(0u, 1u, 2u, 3u);
  return Vec8(select(vec4<f32>(0.0), v.lo, c < vec4<u32>(cols)), select(vec4<f32>(0.0), v.hi, c + vec4<u32>(4u) < vec4<u32>(cols)));
}

/** Row unit u of a tensor, with the row's tail masked. */
fn weight8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let v = load8(wp, t, cols, r, u);
  if (8u * u + 8u > cols) { return mask8(v, 8u * u, cols); }
  return v;
}

/** x[j] through the vec4 view (matmul_wg/row/tile bind x only as vec4s; matmul_t only as f32s). */
fn xs(j: u32) -> f32 {
  return x4[j >> 2u][j & 3u];
}

/** x[i + c0 …], zero at columns ≥ cols, element by element (rows of x not 4-float aligned). */
fn x8(i: u32, c0: u32, cols: u32) -> Vec8 {
  let j = i + c0;
  if (c0 + 8u <= cols) {
    return Vec8(vec4<f32>(xs(j), xs(j + 1u), xs(j + 2u), xs(j + 3u)), vec4<f32>(xs(j + 4u), xs(j + 5u), xs(j + 6u), xs(j + 7u)));
  }
  var v = array<f32, 8>();
  for (var k = 0u; k < 8u; k++) {
    if (c0 + k < cols) { v[k] = xs(j + k); }
  }
  return Vec8(vec4<f32>(v[0], v[1], v[2], v[3]), vec4<f32>(v[4], v[5], v[6], v[7]));
}

/** Columns c0 … c0+7 of the x row starting at index i, zero past cols: vec4 loads with X4, else scalars. */
fn xload(i: u32, c0: u32) -> Vec8 {
  if (X4) {
    let j = (i + c0) >> 2u;
    return Vec8(x4[j], select(vec4<f32>(0.0), x4[j + 1u], c0 + 4u < p.cols));
  }
  return x8(i, c0, p.cols);
}

fn silu(v: f32) -> f32 {
  return v / (1.0 + exp(-v));
}

fn has(flag: u32) -> bool {
  return (p.flags & flag) != 0u;
}

fn store(i: u32, v: f32) {
  if (has(ACCUMULATE)) { y[i] += v; } else { y[i] = v; }
}

/** What batch entry b reads: its tensors (gate and up), first row, x and y bases, and its weight. */
struct Slot {
  gate: Tensor,
  up: Tensor,
  row: u32,
  x: u32,
  y: u32,
  scale: f32,
}

fn slot(b: u32) -> Slot {
  var e = b;
  if (p.index == INDEX_IDS) { e = idx[p.idx_offset + b]; }
  let o = e * p.expert_stride;
  var s = 1.0;
  if (has(SLOT_WEIGHTS)) { s = sw[p.sw_offset + b]; }
  return Slot(
    Tensor(p.q + o, p.scales + o, p.mins + o),
    Tensor(p.q2 + o, p.scales2 + o, p.mins2 + o),
    p.row_base + b * p.row_stride,
    p.x_offset + b * p.x_batch,
    p.y_offset + b * p.y_batch,
    s,
  );
}

/** Tokens [lo, hi) of this workgroup's span; grouped launches offset them by the expert's segment. */
fn token_range(b: u32, span: u32) -> vec2<u32> {
  var lo = 0u;
  var hi = p.tokens;
  if (p.index == INDEX_GROUPED) {
    lo = idx[p.idx_offset + b];
    hi = idx[p.idx_offset + b + 1u];
  }
  let s = lo + span * p.span;
  return vec2<u32>(s, min(hi, s + p.span));
}

/** Batch entries the grid spans: summed batches are a loop inside each workgroup instead. */
fn grid_batch() -> u32 {
  return select(p.batch, 1u, has(SUM));
}

fn batch_loop() -> u32 {
  return select(1u, p.batch, has(SUM));
}

/** The grid is flat (split over x and y when large): block index fastest, then token span, then batch. */
struct Cell {
  block: u32,
  span: u32,
  b: u32,
}

fn cell(wid: vec3<u32>, nwg: vec3<u32>, blocks: u32) -> Cell {
  let flat = wid.x + wid.y * nwg.x;
  let rest = flat / blocks;
  return Cell(flat % blocks, rest % p.spans, rest / p.spans);
}

@compute @workgroup_size(WG)
fn matmul_wg(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
             @builtin(local_invocation_index) lid: u32) {
  let c = cell(wid, nwg, p.rows);
  // Uniform exits only: every invocation that stays must reach the barriers.
  if (c.b >= grid_batch()) { return; }
  if (lid == 0u) { wg_range = token_range(c.b, c.span); }
  let range = workgroupUniformLoad(&wg_range);
  let units = (p.cols + 7u) / 8u;
  let row = c.block;
  let nacc = TT * select(1u, 2u, SWIGLU);
  for (var t0 = range.x; t0 < range.y; t0 += TT) {
    // TT sums, then TT of the up projection.
    // Explicitly zeroed: SwiftShader was seen keeping a loop-scoped array's values from the previous iteration.
    var acc = array<f32, 2 * MAX_TT>();
    for (var k = 0u; k < batch_loop(); k++) {
      let s = slot(select(c.b, k, has(SUM)));
      for (var u = lid; u < units; u += WG) {
        let wv = weight8(&w, s.gate, p.cols, s.row + row, u);
        var wu: Vec8;
        if (SWIGLU) { wu = weight8(&w2, s.up, p.cols, s.row + row, u); }
        for (var t = 0u; t < TT; t++) {
          if (t0 + t < range.y) {
            let xv = xload(s.x + (t0 + t) * p.x_tok, 8u * u);
            acc[t] += dot8(wv, xv) * s.scale;
            if (SWIGLU) { acc[TT + t] += dot8(wu, xv); }
          }
        }
      }
    }
    for (var j = 0u; j < nacc; j++) { red[j * WG + lid] = acc[j]; }
    workgroupBarrier();
    for (var h = WG / 2u; h > 0u; h >>= 1u) {
      if (lid < h) {
        for (var j = 0u; j < nacc; j++) { red[j * WG + lid] += red[j * WG + lid + h]; }
      }
      workgroupBarrier();
    }
    if (lid < TT && t0 + lid < range.y) {
      var v = red[lid * WG];
      if (SWIGLU) { v = silu(v) * red[(TT + lid) * WG]; }
      store(p.y_offset + c.b * p.y_batch + (t0 + lid) * p.y_tok + row, v);
    }
    // The next tile overwrites `red`.
    workgroupBarrier();
  }
}

@compute @workgroup_size(WG)
fn matmul_row(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
              @builtin(local_invocation_index) lid: u32) {
  let c = cell(wid, nwg, (p.rows + WG - 1u) / WG);
  let row = c.block * WG + lid;
  if (c.b >= grid_batch() || row >= p.rows) { return; }
  let range = token_range(c.b, c.span);
  let units = (p.cols + 7u) / 8u;
  for (var t0 = range.x; t0 < range.y; t0 += TT) {
    var acc = array<f32, MAX_TT>();
    var acc_up = array<f32, MAX_TT>();
    for (var k = 0u; k < batch_loop(); k++) {
      let s = slot(select(c.b, k, has(SUM)));
      for (var u = 0u; u < units; u++) {
        let wv = weight8(&w, s.gate, p.cols, s.row + row, u);
        var wu: Vec8;
        if (SWIGLU) { wu = weight8(&w2, s.up, p.cols, s.row + row, u); }
        for (var t = 0u; t < TT; t++) {
          if (t0 + t < range.y) {
            let xv = xload(s.x + (t0 + t) * p.x_tok, 8u * u);
            acc[t] += dot8(wv, xv) * s.scale;
            if (SWIGLU) { acc_up[t] += dot8(wu, xv); }
          }
        }
      }
    }
    for (var t = 0u; t < TT; t++) {
      if (t0 + t < range.y) {
        var v = acc[t];
        if (SWIGLU) { v = silu(v) * acc_up[t]; }
        store(p.y_offset + c.b * p.y_batch + (t0 + t) * p.y_tok + row, v);
      }
    }
  }
}

/** Columns c0 … c0+7 of token row t (its first element at x index xb + t · x_tok). */
fn xrow(xb: u32, t: u32, c0: u32) -> Vec8 {
  return xload(xb + t * p.x_tok, c0);
}

/** Stores the rows of one token that exist (`rows` of 4), after SwiGLU when fused. */
fn store_rows(i: u32, gate: vec4<f32>, up: vec4<f32>, rows: u32) {
  var v = gate;
  if (SWIGLU) { v = vec4<f32>(silu(gate.x), silu(gate.y), silu(gate.z), silu(gate.w)) * up; }
  store(i, v.x);
  if (rows > 1u) { store(i + 1u, v.y); }
  if (rows > 2u) { store(i + 2u, v.z); }
  if (rows > 3u) { store(i + 3u, v.w); }
}

fn dot4w(a: Vec8, b: Vec8, c: Vec8, d: Vec8, xv: Vec8) -> vec4<f32> {
  return vec4<f32>(dot8(a, xv), dot8(b, xv), dot8(c, xv), dot8(d, xv));
}

// matmul_tile: four adjacent rows × 16 tokens per invocation, x read as vec4s: each x load serves four
// rows (eight weights with SwiGLU) and each dequantized weight 16 tokens. The sums are a vec4 of rows per
// token (and one for the up projection), indexed by constant-bound loops only: software adapters keep
// them in registers. Rows past the tensor repeat its last row and tokens past the range its last token:
// computed, never stored.
@compute @workgroup_size(WG)
fn matmul_tile(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
               @builtin(local_invocation_index) lid: u32) {
  let c = cell(wid, nwg, (p.rows + 4u * WG - 1u) / (4u * WG));
  let row = 4u * (c.block * WG + lid);
  if (c.b >= grid_batch() || row >= p.rows) { return; }
  let nrows = min(4u, p.rows - row);
  let rs = min(vec4<u32>(row) + vec4<u32>(0u, 1u, 2u, 3u), vec4<u32>(p.rows - 1u));
  let range = token_range(c.b, c.span);
  let units = (p.cols + 7u) / 8u;
  for (var t0 = range.x; t0 < range.y; t0 += TILE_T) {
    var acc = array<vec4<f32>, TILE_T>();
    var acc_up = array<vec4<f32>, TILE_T>();
    for (var k = 0u; k < batch_loop(); k++) {
      let s = slot(select(c.b, k, has(SUM)));
      for (var u = 0u; u < units; u++) {
        let c0 = 8u * u;
        let w0 = weight8(&w, s.gate, p.cols, s.row + rs.x, u);
        let w1 = weight8(&w, s.gate, p.cols, s.row + rs.y, u);
        let w2r = weight8(&w, s.gate, p.cols, s.row + rs.z, u);
        let w3 = weight8(&w, s.gate, p.cols, s.row + rs.w, u);
        var v0: Vec8;
        var v1: Vec8;
        var v2: Vec8;
        var v3: Vec8;
        if (SWIGLU) {
          v0 = weight8(&w2, s.up, p.cols, s.row + rs.x, u);
          v1 = weight8(&w2, s.up, p.cols, s.row + rs.y, u);
          v2 = weight8(&w2, s.up, p.cols, s.row + rs.z, u);
          v3 = weight8(&w2, s.up, p.cols, s.row + rs.w, u);
        }
        for (var t = 0u; t < TILE_T; t++) {
          let xv = xrow(s.x, min(t0 + t, range.y - 1u), c0);
          acc[t] += dot4w(w0, w1, w2r, w3, xv) * s.scale;
          if (SWIGLU) { acc_up[t] += dot4w(v0, v1, v2, v3, xv); }
        }
      }
    }
    let yb = p.y_offset + c.b * p.y_batch + row;
    for (var t = 0u; t < TILE_T; t++) {
      if (t0 + t < range.y) { store_rows(yb + (t0 + t) * p.y_tok, acc[t], acc_up[t], nrows); }
    }
  }
}

@compute @workgroup_size(WG)
fn matmul_t(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
            @builtin(local_invocation_index) lid: u32) {
  // No SwiGLU here, but every matmul_* keeps the same bindings so that one launcher path binds them all.
  _ = &w2;
  let units = (p.cols + 7u) / 8u;
  let c = cell(wid, nwg, (units + WG - 1u) / WG);
  let u = c.block * WG + lid;
  if (c.b >= grid_batch() || u >= units) { return; }
  let range = token_range(c.b, c.span);
  let c0 = 8u * u;
  for (var t0 = range.x; t0 < range.y; t0 += TT) {
    var acc = array<Vec8, MAX_TT>();
    for (var k = 0u; k < batch_loop(); k++) {
      let s = slot(select(c.b, k, has(SUM)));
      for (var r = 0u; r < p.rows; r++) {
        let wv = weight8(&w, s.gate, p.cols, s.row + r, u);
        for (var t = 0u; t < TT; t++) {
          if (t0 + t < range.y) {
            let xv = x[s.x + (t0 + t) * p.x_tok + r] * s.scale;
            acc[t].lo += wv.lo * xv;
            acc[t].hi += wv.hi * xv;
          }
        }
      }
    }
    for (var t = 0u; t < TT; t++) {
      if (t0 + t < range.y) {
        let yi = p.y_offset + c.b * p.y_batch + (t0 + t) * p.y_tok + c0;
        for (var j = 0u; j < 8u; j++) {
          if (c0 + j < p.cols) { store(yi + j, at8(acc[t], j)); }
        }
      }
    }
  }
}

@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let units = (gp.cols + 7u) / 8u;
  let i = gid.x + gid.y * nwg.x * WG;
  let t = i / units;
  let u = i % units;
  if (t >= gp.tokens) { return; }
  let id = g_ids[gp.ids_offset + t];
  // An id past the table (the engine checks ids on the CPU first) gives a zero row, not another token's.
  var v = Vec8();
  if (id < gp.rows) { v = load8(&w, Tensor(gp.q, gp.scales, gp.mins), gp.cols, id, u); }
  let yi = gp.y_offset + t * gp.y_tok + 8u * u;
  for (var j = 0u; j < 8u; j++) {
    if (8u * u + j < gp.cols) { g_y[yi + j] = at8(v, j); }
  }
}
