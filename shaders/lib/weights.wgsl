// Weight tensors as the matrix kernels read them: the words of a storage buffer, the word offsets of a
// tensor's sections in it, and units of eight consecutive values of a row dequantized in registers by
// `dequant8`, which the weight format's piece (dequant-<format>.wgsl) defines. The launcher composes the
// piece for the tensor's format into the module (docs/kernels.md#composed-shader-sources); the layouts
// are docs/model-folder.md#formats.

requires unrestricted_pointer_parameters;

alias Words = ptr<storage, array<u32>, read>;

/** Word offsets of one tensor's sections in its buffer (0 for sections its format lacks). */
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

/** Zeroes the columns ≥ cols of a unit starting at column c0. */
fn mask8(v: Vec8, c0: u32, cols: u32) -> Vec8 {
  let c = vec4<u32>(c0) + vec4<u32>(0u, 1u, 2u, 3u);
  return Vec8(select(vec4<f32>(0.0), v.lo, c < vec4<u32>(cols)), select(vec4<f32>(0.0), v.hi, c + vec4<u32>(4u) < vec4<u32>(cols)));
}

/**
 * Unit u (columns 8u … 8u+7) of tensor row r, with the row's tail masked: dequant8 may return whatever
 * the bytes after a row mean for the columns past its end.
 */
fn weight8(wp: Words, t: Tensor, cols: u32, r: u32, u: u32) -> Vec8 {
  let v = dequant8(wp, t, cols, r, u);
  if (8u * u + 8u > cols) { return mask8(v, 8u * u, cols); }
  return v;
}
