// Manifold-constrained hyper-connections (docs/architecture-v4.md#mhc): the residual is hc streams of width
// d per token, held as one Float64Array of hc·d (stream j at j·d). Around each sublayer, a token's streams
// give the sublayer its input (a weighted sum of the streams) and take its output back (added to every
// stream with its own weight, after the streams are mixed by a Sinkhorn-normalized hc×hc matrix).
import { matvec, sigmoid } from '../math';
import { take, type WeightSource } from '../weights';
import type { V4Args } from './args';

export interface HcPre {
  /** The sublayer's input: Σ_j pre_j · X[j]. */
  input: Float64Array;
  /** post_k: the weight of the sublayer's output in stream k. */
  post: Float64Array;
  /** comb[j·hc + k]: how much of stream j goes into stream k. */
  comb: Float64Array;
}

/** lin(x̄, fn) / sqrt(mean(x̄²) + eps) over the flattened streams x̄. */
function mixes(fn: Float64Array, rows: number, x: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const inv = 1 / Math.sqrt(ss / x.length + eps);
  const m = matvec(fn, rows, x.length, x);
  for (let i = 0; i < rows; i++) m[i] *= inv;
  return m;
}

/** Σ_j w_j · X[j]. */
function weightedStreams(x: Float64Array, w: Float64Array, dim: number): Float64Array {
  const y = new Float64Array(dim);
  for (let j = 0; j < w.length; j++) for (let i = 0; i < dim; i++) y[i] += w[j] * x[j * dim + i];
  return y;
}

/**
 * The Sinkhorn normalization of a logits matrix c (hc×hc, row-major) in place: softmax of each row plus eps,
 * then columns divided by (their sum + eps); then iters − 1 more times rows, then columns, the same way.
 */
export function sinkhorn(c: Float64Array, hc: number, iters: number, eps: number): void {
  for (let j = 0; j < hc; j++) {
    let max = -Infinity;
    for (let k = 0; k < hc; k++) max = Math.max(max, c[j * hc + k]);
    let sum = 0;
    for (let k = 0; k < hc; k++) sum += (c[j * hc + k] = Math.exp(c[j * hc + k] - max));
    for (let k = 0; k < hc; k++) c[j * hc + k] = c[j * hc + k] / sum + eps;
  }
  const columns = () => {
    for (let k = 0; k < hc; k++) {
      let sum = eps;
      for (let j = 0; j < hc; j++) sum += c[j * hc + k];
      for (let j = 0; j < hc; j++) c[j * hc + k] /= sum;
    }
  };
  const rows = () => {
    for (let j = 0; j < hc; j++) {
      let sum = eps;
      for (let k = 0; k < hc; k++) sum += c[j * hc + k];
      for (let k = 0; k < hc; k++) c[j * hc + k] /= sum;
    }
  };
  columns();
  for (let t = 1; t < iters; t++) {
    rows();
    columns();
  }
}

/** One sublayer's hyper-connection: `<prefix>hc_<name>_fn` [(2+hc)·hc, hc·d], `_base` [(2+hc)·hc], `_scale` [3]. */
export class HyperConnection {
  private readonly fn: Float64Array;
  private readonly base: Float64Array;
  private readonly scale: Float64Array;

  constructor(private readonly args: V4Args, source: WeightSource, prefix: string, name: 'attn' | 'ffn') {
    const hc = args.hcMult;
    const mix = (2 + hc) * hc;
    this.fn = take(source, `${prefix}hc_${name}_fn`, [mix, hc * args.dim]);
    this.base = take(source, `${prefix}hc_${name}_base`, [mix]);
    this.scale = take(source, `${prefix}hc_${name}_scale`, [3]);
  }

  pre(x: Float64Array): HcPre {
    const { hcMult: hc, hcEps: eps, dim } = this.args;
    const m = mixes(this.fn, (2 + hc) * hc, x, this.args.normEps);
    const pre = new Float64Array(hc);
    const post = new Float64Array(hc);
    for (let j = 0; j < hc; j++) {
      pre[j] = sigmoid(m[j] * this.scale[0] + this.base[j]) + eps;
      post[j] = 2 * sigmoid(m[hc + j] * this.scale[1] + this.base[hc + j]);
    }
    const comb = new Float64Array(hc * hc);
    for (let i = 0; i < hc * hc; i++) comb[i] = m[2 * hc + i] * this.scale[2] + this.base[2 * hc + i];
    sinkhorn(comb, hc, this.args.hcSinkhornIters, eps);
    return { input: weightedStreams(x, pre, dim), post, comb };
  }

  /** The new streams: X'[k] = post_k · out + Σ_j comb[j, k] · X[j]. */
  post(out: Float64Array, x: Float64Array, { post, comb }: HcPre): Float64Array {
    const { hcMult: hc, dim } = this.args;
    const y = new Float64Array(hc * dim);
    for (let k = 0; k < hc; k++) {
      for (let i = 0; i < dim; i++) {
        let v = post[k] * out[i];
        for (let j = 0; j < hc; j++) v += comb[j * hc + k] * x[j * dim + i];
        y[k * dim + i] = v;
      }
    }
    return y;
  }
}

/** The head's reduction of the streams to one vector: `<prefix>hc_head_fn` [hc, hc·d], `_base` [hc], `_scale` [1]. */
export class HyperHead {
  private readonly fn: Float64Array;
  private readonly base: Float64Array;
  private readonly scale: Float64Array;

  constructor(private readonly args: V4Args, source: WeightSource, prefix: string) {
    const hc = args.hcMult;
    this.fn = take(source, `${prefix}hc_head_fn`, [hc, hc * args.dim]);
    this.base = take(source, `${prefix}hc_head_base`, [hc]);
    this.scale = take(source, `${prefix}hc_head_scale`, [1]);
  }

  /** y = Σ_j (sigmoid(mix_j · scale + base_j) + eps) · X[j]. */
  apply(x: Float64Array): Float64Array {
    const { hcMult: hc, hcEps: eps, dim } = this.args;
    const m = mixes(this.fn, hc, x, this.args.normEps);
    const pre = new Float64Array(hc);
    for (let j = 0; j < hc; j++) pre[j] = sigmoid(m[j] * this.scale[0] + this.base[j]) + eps;
    return weightedStreams(x, pre, dim);
  }
}
