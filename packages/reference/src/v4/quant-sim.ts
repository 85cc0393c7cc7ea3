// V4's quantization-aware-training simulations, which are part of its forward pass
// (docs/architecture-v4.md#quantization-simulations): values are rounded to FP8 E4M3 or FP4 E2M1 with a
// power-of-two scale per block and used rounded, in float64. Rounding is to nearest with ties to even, as a
// hardware cast does; x / scale is exact (a power of two).

/** The smallest power of two ≥ v (v > 0): an E8M0 ("ue8m0") scale. */
export function powerOfTwoAtLeast(v: number): number {
  let e = Math.ceil(Math.log2(v));
  // log2 is rounded: step onto the exact power
  while (2 ** e < v) e++;
  while (2 ** (e - 1) >= v) e--;
  return 2 ** e;
}

/** Round half to even. */
function roundHalfEven(q: number): number {
  const f = Math.floor(q);
  const rest = q - f;
  if (rest > 0.5) return f + 1;
  if (rest < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * Nearest value of a binary format with `mantissaBits` and smallest normal exponent `minExp` (its
 * subnormals share that exponent's spacing), ties to even; |v| must already be within the format's range.
 */
function roundToGrid(v: number, mantissaBits: number, minExp: number): number {
  const a = Math.abs(v);
  if (a === 0) return v;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const quantum = 2 ** (Math.max(e, minExp) - mantissaBits);
  return Math.sign(v) * roundHalfEven(a / quantum) * quantum;
}

export const E4M3_MAX = 448;
export const E2M1_MAX = 6;

/** FP8 E4M3: 3 mantissa bits, smallest normal 2^-6 (subnormals step 2^-9); v clamped to ±448 first. */
export function roundE4m3(v: number): number {
  return roundToGrid(Math.min(Math.max(v, -E4M3_MAX), E4M3_MAX), 3, -6);
}

/** FP4 E2M1: 1 mantissa bit, smallest normal 1 (subnormal 0.5): ±{0, 0.5, 1, 1.5, 2, 3, 4, 6}; clamped to ±6. */
export function roundE2m1(v: number): number {
  return roundToGrid(Math.min(Math.max(v, -E2M1_MAX), E2M1_MAX), 1, 0);
}

/**
 * Block round trip in place over x[offset … offset + length), `block` values at a time: scale
 * s = 2^⌈log2(max(amax, floor) / max)⌉, x ← round(x / s)·s.
 */
function roundTrip(x: Float64Array, offset: number, length: number, block: number, max: number, floor: number, round: (v: number) => number): void {
  if (length % block !== 0) throw new RangeError(`quantization round trip: ${length} values are not whole blocks of ${block}`);
  for (let b = offset; b < offset + length; b += block) {
    let amax = 0;
    for (let i = b; i < b + block; i++) amax = Math.max(amax, Math.abs(x[i]));
    const s = powerOfTwoAtLeast(Math.max(amax, floor) / max);
    for (let i = b; i < b + block; i++) x[i] = round(x[i] / s) * s;
  }
}

/** The KV cache's FP8 round trip: E4M3 per block of 64 with an amax floor of 1e-4. */
export function fp8RoundTrip(x: Float64Array, offset: number, length: number, block = 64): void {
  roundTrip(x, offset, length, block, E4M3_MAX, 1e-4, roundE4m3);
}

/** The indexer's FP4 round trip: E2M1 per block of 32 with an amax floor of 6·2^-126. */
export function fp4RoundTrip(x: Float64Array, offset: number, length: number, block = 32): void {
  roundTrip(x, offset, length, block, E2M1_MAX, E2M1_MAX * 2 ** -126, roundE2m1);
}

/**
 * x[offset … offset + n) ← x·H / √n in place, H the Sylvester Hadamard matrix H[i][j] = (−1)^popcount(i & j)
 * (n a power of two), by the fast butterfly: each pass combines pairs (a, b) → (a + b, a − b).
 */
export function hadamardInPlace(x: Float64Array, offset: number, n: number): void {
  for (let h = 1; h < n; h *= 2) {
    for (let i = 0; i < n; i += 2 * h) {
      for (let j = i; j < i + h; j++) {
        const a = x[offset + j];
        const b = x[offset + j + h];
        x[offset + j] = a + b;
        x[offset + j + h] = a - b;
      }
    }
  }
  const scale = n ** -0.5;
  for (let i = 0; i < n; i++) x[offset + i] *= scale;
}
