// DeepSeek-V4's quantization-aware simulations (docs/kernels.md#quant-sim): values rounded through FP8
// E4M3 or FP4 E2M1 and back with a power-of-two scale per block, and the Hadamard transform that precedes
// the FP4 rounding of the indexer's queries and keys. Part of the model's math, not an approximation.
//
// Scales are kept as exponents k (scale 2^k) and applied with ldexp, so that scaling is exact: WGSL's
// division is not correctly rounded, and the round trip must land on the grid exactly. The exponent is
// ⌈log2(amax / max)⌉ in exact arithmetic (mantissas compared, no log2 or division), which DeepSeek's f32
// kernel matches except where amax·(1/max) rounds across a power of two (within an ulp of one).

const FP8_MAX: f32 = 448.0;
const FP8_BLOCK: u32 = 64u;
const FP8_AMAX_MIN: f32 = 1e-4;
const FP4_MAX: f32 = 6.0;
const FP4_BLOCK: u32 = 32u;
const FP4_AMAX_MIN: f32 = 0x1.8p-124f; // 6 · 2^-126
/** The longest vector hadamard_shared transforms. */
const HADAMARD_MAX: u32 = 1024u;

/** ⌊log2 a⌋ of a positive normal f32, from its exponent bits (subnormals and 0 give -127). */
fn floor_log2(a: f32) -> i32 {
  return i32((bitcast<u32>(a) >> 23u) & 0xffu) - 127;
}

/**
 * v rounded to the nearest value of a binary format with `mant` mantissa bits and least normal exponent
 * `emin` (so subnormal spacing 2^(emin - mant)), ties to even; no overflow handling (callers clamp).
 * round() is ties-to-even in WGSL, and the integer's parity is the kept mantissa's last bit.
 */
fn minifloat_rne(v: f32, mant: i32, emin: i32) -> f32 {
  let e = max(floor_log2(abs(v)), emin) - mant;
  return ldexp(round(ldexp(v, -e)), e);
}

/** ⌈log2(a / fmax)⌉ for positive normal a and fmax, exactly. */
fn pow2_scale_exp(a: f32, fmax: f32) -> i32 {
  let above = (bitcast<u32>(a) & 0x7fffffu) > (bitcast<u32>(fmax) & 0x7fffffu);
  return floor_log2(a) - floor_log2(fmax) + select(0, 1, above);
}

/** The exponent of an FP8 block's scale from the block's max |x|: 2^k ≥ max(amax, 1e-4) / 448. */
fn fp8_scale_exp(amax: f32) -> i32 {
  return pow2_scale_exp(max(amax, FP8_AMAX_MIN), FP8_MAX);
}

/** x through E4M3 (RNE, saturating at ±448) at scale 2^k and back. */
fn fp8_roundtrip(x: f32, k: i32) -> f32 {
  return ldexp(minifloat_rne(clamp(ldexp(x, -k), -FP8_MAX, FP8_MAX), 3, -6), k);
}

/** The exponent of an FP4 block's scale: 2^k ≥ max(amax, 6·2^-126) / 6. */
fn fp4_scale_exp(amax: f32) -> i32 {
  return pow2_scale_exp(max(amax, FP4_AMAX_MIN), FP4_MAX);
}

/** x through E2M1 (grid 0, .5, 1, 1.5, 2, 3, 4, 6; RNE, saturating at ±6) at scale 2^k and back. */
fn fp4_roundtrip(x: f32, k: i32) -> f32 {
  return ldexp(minifloat_rne(clamp(ldexp(x, -k), -FP4_MAX, FP4_MAX), 1, 0), k);
}

/**
 * The elements butterfly i of a Hadamard stage of span h (a power of two) combines, (lo, lo + h) ↦
 * (a + b, a − b): lo has bit h clear. log2(n) stages, h = 1, 2, 4, …, give H·x for the Sylvester matrix
 * H[i, j] = (−1)^popcount(i & j) (scipy.linalg.hadamard's order).
 */
fn hadamard_pair(i: u32, h: u32) -> vec2<u32> {
  let lo = ((i & ~(h - 1u)) << 1u) | (i & (h - 1u));
  return vec2<u32>(lo, lo + h);
}

/** 1/sqrt(n) for n a power of two: exactly 2^(-log2(n)/2) when log2(n) is even. */
fn hadamard_norm(n: u32) -> f32 {
  let l = i32(firstTrailingBit(n));
  return ldexp(select(1.0, 1.41421356237, (l & 1) == 1), -((l + 1) / 2));
}

var<workgroup> hadamard_values: array<f32, HADAMARD_MAX>;

/**
 * hadamard_values[0, n) ← H·v/sqrt(n), n a power of two ≤ HADAMARD_MAX, by a workgroup whose
 * invocations are lid = 0 … step − 1. Call from uniform control flow once the values are in place
 * (it starts with a barrier); the result is visible to the whole workgroup on return.
 */
fn hadamard_shared(lid: u32, step: u32, n: u32) {
  for (var h = 1u; h < n; h <<= 1u) {
    workgroupBarrier();
    for (var i = lid; i < n / 2u; i += step) {
      let ix = hadamard_pair(i, h);
      let a = hadamard_values[ix.x];
      let b = hadamard_values[ix.y];
      hadamard_values[ix.x] = a + b;
      hadamard_values[ix.y] = a - b;
    }
  }
  workgroupBarrier();
  let r = hadamard_norm(n);
  for (var i = lid; i < n; i += step) { hadamard_values[i] *= r; }
  workgroupBarrier();
}
