// DeepSeek-V4's hyper-connections (mhcPre, mhcPost, mhcHead) against a float64 reference written from the
// equations with hc×hc matrices. `mix` is made as the matrix kernels would make it, x̄·fnᵀ (in float64,
// then stored as f32), so that mix·ρ has the magnitudes a model's has.
import { createRng, mhcHead, mhcPost, mhcPre, type KernelShape, type Rng } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelCase, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

// f32 sigmoids and exps of O(1) arguments, sums of hc products of O(1) values, and for comb up to
// 2·iters − 1 normalisations of values in [0, 1]: a few ulps each (SwiftShader's worst is ~2e-6 on
// values up to ~16), with room for GPUs' looser exp and inverseSqrt.
const TOL = { atol: 1e-5, rtol: 1e-5 };
const HC_EPS = 1e-6;
const NORM_EPS = 1e-6;

const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

/** ρ = 1/sqrt(mean(x̄²) + eps) of token t's hc·d values. */
function rhoRef(x: ArrayLike<number>, t: number, n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s += x[t * n + i] ** 2;
  return 1 / Math.sqrt(s / n + NORM_EPS);
}

/** u[c] = Σ_j w_j·X[j][c]. */
function weightedStreams(x: ArrayLike<number>, t: number, hc: number, d: number, w: number[]): number[] {
  return Array.from({ length: d }, (_, c) => w.reduce((s, wj, j) => s + wj * x[(t * hc + j) * d + c], 0));
}

/** The Sinkhorn-normalised comb matrix from its logits L[j][k]. */
function sinkhornRef(L: number[][], iters: number): number[][] {
  const hc = L.length;
  let C = L.map((row) => {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const z = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / z + HC_EPS);
  });
  const cols = () => {
    const sums = Array.from({ length: hc }, (_, k) => C.reduce((s, row) => s + row[k], 0));
    C = C.map((row) => row.map((v, k) => v / (sums[k] + HC_EPS)));
  };
  const rows = () => { C = C.map((row) => { const s = row.reduce((a, b) => a + b, 0); return row.map((v) => v / (s + HC_EPS)); }); };
  cols();
  for (let i = 1; i < iters; i++) { rows(); cols(); }
  return C;
}

interface PreRef { u: number[]; post: number[]; comb: number[] }

export function mhcPreRef(x: ArrayLike<number>, mix: ArrayLike<number>, base: ArrayLike<number>, scale: ArrayLike<number>,
  T: number, hc: number, d: number, iters: number): PreRef {
  const out: PreRef = { u: [], post: [], comb: [] };
  const n = (2 + hc) * hc;
  for (let t = 0; t < T; t++) {
    const rho = rhoRef(x, t, hc * d);
    const m = (i: number) => mix[t * n + i] * rho;
    const pre = Array.from({ length: hc }, (_, j) => sigmoid(m(j) * scale[0] + base[j]) + HC_EPS);
    out.post.push(...Array.from({ length: hc }, (_, j) => 2 * sigmoid(m(hc + j) * scale[1] + base[hc + j])));
    const L = Array.from({ length: hc }, (_, j) => Array.from({ length: hc }, (_, k) => m(2 * hc + j * hc + k) * scale[2] + base[2 * hc + j * hc + k]));
    out.comb.push(...sinkhornRef(L, iters).flat());
    out.u.push(...weightedStreams(x, t, hc, d, pre));
  }
  return out;
}

export function mhcPostRef(x: ArrayLike<number>, f: ArrayLike<number>, post: ArrayLike<number>, comb: ArrayLike<number>,
  T: number, hc: number, d: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < hc; k++) {
      const w = Array.from({ length: hc }, (_, j) => comb[(t * hc + j) * hc + k]);
      const mixed = weightedStreams(x, t, hc, d, w);
      out.push(...mixed.map((v, c) => v + post[t * hc + k] * f[t * d + c]));
    }
  }
  return out;
}

export function mhcHeadRef(x: ArrayLike<number>, mix: ArrayLike<number>, base: ArrayLike<number>, scale: number,
  T: number, hc: number, d: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < T; t++) {
    const rho = rhoRef(x, t, hc * d);
    const pre = Array.from({ length: hc }, (_, j) => sigmoid(mix[t * hc + j] * rho * scale + base[j]) + HC_EPS);
    out.push(...weightedStreams(x, t, hc, d, pre));
  }
  return out;
}

/** x̄·fnᵀ for T tokens with a random fn of `rows` rows: O(1) after the kernel multiplies by ρ. */
function mixOf(rng: Rng, x: Float32Array, T: number, n: number, rows: number): Float32Array {
  const a = 2 / Math.sqrt(n);
  const fn = rng.uniform(rows * n, -a, a);
  const mix = new Float32Array(T * rows);
  for (let t = 0; t < T; t++) {
    for (let r = 0; r < rows; r++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += x[t * n + i] * fn[r * n + i];
      mix[t * rows + r] = s;
    }
  }
  return mix;
}

interface Spec {
  op: 'pre' | 'post' | 'head';
  hc: number;
  dim: number;
  T: number;
  iters?: number;
  shape?: KernelShape;
}

function mhcCase(s: Spec, seed: number): KernelCase {
  return {
    name: caseName({ ...s }),
    async run(ctx): Promise<Record<string, Comparison>> {
      const { op, hc, dim: d, T, shape } = s;
      const rng = createRng(seed);
      const io = new CaseBuffers(ctx, `mhc:${caseName({ ...s })}`);
      try {
        const x = rng.uniform(T * hc * d, -2, 2);
        const xb = io.input('x', x);
        if (op === 'post') {
          const f = rng.uniform(T * d, -2, 2);
          const post = rng.uniform(T * hc, 0, 2);
          const comb = rng.uniform(T * hc * hc, 0, 1);
          const out = io.output('out', T * hc * d);
          await io.run(() => [mhcPost(ctx, { x: xb, f: io.input('f', f), post: io.input('post', post), comb: io.input('comb', comb), out, tokens: T, hc, dim: d })]);
          return { out: compare(await io.read(out, T * hc * d), mhcPostRef(x, f, post, comb, T, hc, d), TOL) };
        }
        const rows = op === 'pre' ? (2 + hc) * hc : hc;
        const mix = mixOf(rng, x, T, hc * d, rows);
        const base = rng.uniform(rows, -1, 1);
        const scale = rng.uniform(op === 'pre' ? 3 : 1, 0.5, 2);
        const inputs = { x: xb, mix: io.input('mix', mix), base: io.input('base', base), scale: io.input('scale', scale) };
        const common = { tokens: T, hc, dim: d, hcEps: HC_EPS, normEps: NORM_EPS, shape };
        if (op === 'head') {
          const y = io.output('y', T * d);
          await io.run(() => [mhcHead(ctx, { ...inputs, y, ...common })]);
          return { y: compare(await io.read(y, T * d), mhcHeadRef(x, mix, base, scale[0], T, hc, d), TOL) };
        }
        const iters = s.iters ?? 20;
        const out = { u: io.output('u', T * d), post: io.output('post', T * hc), comb: io.output('comb', T * hc * hc) };
        await io.run(() => [mhcPre(ctx, { ...inputs, ...out, ...common, sinkhornIters: iters })]);
        const ref = mhcPreRef(x, mix, base, scale, T, hc, d, iters);
        return {
          u: compare(await io.read(out.u, T * d), ref.u, TOL),
          post: compare(await io.read(out.post, T * hc), ref.post, TOL),
          comb: compare(await io.read(out.comb, T * hc * hc), ref.comb, TOL),
        };
      } finally {
        io.destroy();
      }
    },
  };
}

const SHAPES = ['row', 'workgroup'] as const;

const SPECS: Spec[] = [
  ...grid({ op: ['pre'] as const, hc: [4, 3], dim: [7, 257], T: [1, 37], shape: SHAPES }),
  ...grid({ op: ['pre'] as const, hc: [1], dim: [1], T: [5], shape: SHAPES }),
  ...grid({ op: ['pre'] as const, hc: [8], dim: [1023], T: [3], shape: SHAPES }),
  ...grid({ op: ['pre'] as const, hc: [4], dim: [33], T: [6], iters: [1, 3], shape: SHAPES }),
  ...grid({ op: ['head'] as const, hc: [4], dim: [7, 1023], T: [1, 37], shape: SHAPES }),
  ...grid({ op: ['head'] as const, hc: [3, 8], dim: [65], T: [5], shape: SHAPES }),
  ...[[4, 7, 1], [4, 1023, 37], [3, 257, 5], [8, 33, 2], [1, 5, 3]].map(([hc, dim, T]) => ({ op: 'post' as const, hc, dim, T })),
];

export const mhcFamily: KernelFamily = {
  cases: () => SPECS.map((s, i) => mhcCase(s, 9100 + 17 * i)),
};
