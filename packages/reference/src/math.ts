// The reference model's arithmetic: plain loops over Float64Array, no tiling, no tricks, so that every line
// can be checked against docs/architecture-v3.md and docs/architecture-v4.md by eye. Matrices are row-major
// [out, in], as stored.

// ----------------------------------------------------------------------------
// linear algebra

/** y = W x for W of shape [rows, cols] (row-major) and x of length cols. */
export function matvec(w: Float64Array, rows: number, cols: number, x: Float64Array, xOffset = 0): Float64Array {
  const y = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    const base = r * cols;
    for (let c = 0; c < cols; c++) sum += w[base + c] * x[xOffset + c];
    y[r] = sum;
  }
  return y;
}

export function dot(a: Float64Array, aOffset: number, b: Float64Array, bOffset: number, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[aOffset + i] * b[bOffset + i];
  return sum;
}

/** a += b × scale, in place. */
export function addScaled(a: Float64Array, b: Float64Array, scale = 1): void {
  for (let i = 0; i < a.length; i++) a[i] += b[i] * scale;
}

// ----------------------------------------------------------------------------
// normalization and activations

/** rms(x) = x / sqrt(mean(x²) + eps) × w over x[offset … offset + w.length). */
export function rmsnorm(x: Float64Array, w: Float64Array, eps: number, offset = 0): Float64Array {
  const n = w.length;
  let ss = 0;
  for (let i = 0; i < n; i++) ss += x[offset + i] * x[offset + i];
  const inv = 1 / Math.sqrt(ss / n + eps);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = x[offset + i] * inv * w[i];
  return out;
}

export function silu(x: number): number {
  return x / (1 + Math.exp(-x));
}

export function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

/** Softmax in place over x[0 … n), subtracting the maximum first. */
export function softmaxInPlace(x: Float64Array, n = x.length): void {
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (x[i] > max) max = x[i];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    x[i] = Math.exp(x[i] - max);
    sum += x[i];
  }
  for (let i = 0; i < n; i++) x[i] /= sum;
}

/** Index of the largest value; the lowest index wins ties (as torch.argmax does). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Indices of the k largest values, largest first, the lower index first among equals. */
export function topIndices(values: Float64Array, k: number): number[] {
  const order = Array.from(values.keys());
  order.sort((a, b) => (values[b] - values[a]) || (a - b));
  return order.slice(0, k);
}

/** ‖a − b‖ / ‖b‖: how the tests measure a result against a reference. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}
