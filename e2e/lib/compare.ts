// The validator every kernel case uses (after llm.c): element i passes when
// |got - ref| <= atol + rtol * |ref|. The report names the worst element so that a failure says where.

export interface Tolerance {
  atol: number;
  rtol: number;
}

export interface Comparison {
  ok: boolean;
  count: number;
  failures: number;
  maxAbsErr: number;
  /** The element with the largest error relative to its allowance. */
  worst: { index: number; got: number; ref: number; allowed: number } | null;
}

export function compare(got: ArrayLike<number>, ref: ArrayLike<number>, tol: Tolerance): Comparison {
  if (got.length !== ref.length) {
    return { ok: false, count: ref.length, failures: ref.length, maxAbsErr: Infinity, worst: null };
  }
  let failures = 0;
  let maxAbsErr = 0;
  let worstRatio = -1;
  let worst: Comparison['worst'] = null;
  for (let i = 0; i < ref.length; i++) {
    const g = got[i];
    const r = ref[i];
    const err = Math.abs(g - r);
    const allowed = tol.atol + tol.rtol * Math.abs(r);
    // NaN compares false everywhere: count it as a failure explicitly.
    const bad = !(err <= allowed);
    if (bad) failures++;
    if (err > maxAbsErr || Number.isNaN(err)) maxAbsErr = Number.isNaN(err) ? Infinity : err;
    const ratio = Number.isNaN(err) ? Infinity : err / allowed;
    if (ratio > worstRatio) {
      worstRatio = ratio;
      worst = { index: i, got: g, ref: r, allowed };
    }
  }
  return { ok: failures === 0, count: ref.length, failures, maxAbsErr, worst };
}

export function describeComparison(c: Comparison): string {
  if (!c.worst) return `length mismatch (${c.count} expected)`;
  const w = c.worst;
  return `${c.failures}/${c.count} outside tolerance, max |err| ${c.maxAbsErr.toExponential(2)}, worst at [${w.index}]: got ${w.got}, ref ${w.ref} (allowed ±${w.allowed.toExponential(2)})`;
}
