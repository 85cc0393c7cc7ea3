// V4 attention (docs/architecture-v4.md#attention): one shared 512-wide (head_dim) vector per token is
// both key and value for all heads. A query sees the raw vectors of the last `window` positions (its own
// included) and, by layer kind, nothing more (window), the compressed entries the indexer picks (CSA) or all
// compressed entries (HCA). Each head's softmax has a learned sink logit with a zero value. The output's
// RoPE dims are rotated back to position 0, then heads are projected group by group through a low rank.
import { dot, matvec, rmsnorm } from '../math';
import type { Rope } from '../rope';
import { take, type WeightSource } from '../weights';
import { layerKind, type V4Args, type V4LayerKind } from './args';
import { Compressor } from './compressor';
import { Indexer } from './indexer';
import { fp8RoundTrip } from './quant-sim';

/** RMS normalization without a weight, in place over x[offset … offset + n). */
function unitRms(x: Float64Array, offset: number, n: number, eps: number): void {
  let ss = 0;
  for (let i = offset; i < offset + n; i++) ss += x[i] * x[i];
  const inv = 1 / Math.sqrt(ss / n + eps);
  for (let i = offset; i < offset + n; i++) x[i] *= inv;
}

export class V4Attention {
  readonly kind: V4LayerKind;
  /** The attention's compressed entries (CSA, HCA), or null on a window-only layer. */
  readonly compressor: Compressor | null = null;
  readonly indexer: Indexer | null = null;
  /** The compressed entries the last query attended to (all of them on HCA, the indexer's pick on CSA). */
  lastSelected: number[] = [];
  private readonly wqA: Float64Array;
  private readonly qNorm: Float64Array;
  private readonly wqB: Float64Array;
  private readonly wkv: Float64Array;
  private readonly kvNorm: Float64Array;
  private readonly woA: Float64Array;
  private readonly woB: Float64Array;
  private readonly sink: Float64Array;
  /** Ring of the last `window` key/value vectors: position p at p mod window. */
  private readonly ring: Float64Array[] = [];
  private fed = 0;

  constructor(private readonly args: V4Args, source: WeightSource, prefix: string, ratio: number, private readonly rope: Rope) {
    const { dim: d, nHeads: H, headDim: D, qLoraRank: q, oGroups: G, oLoraRank: R, kvFp8Roundtrip, ropeDim } = args;
    this.kind = layerKind(ratio);
    this.wqA = take(source, `${prefix}.wq_a.weight`, [q, d]);
    this.qNorm = take(source, `${prefix}.q_norm.weight`, [q]);
    this.wqB = take(source, `${prefix}.wq_b.weight`, [H * D, q]);
    this.wkv = take(source, `${prefix}.wkv.weight`, [D, d]);
    this.kvNorm = take(source, `${prefix}.kv_norm.weight`, [D]);
    this.woA = take(source, `${prefix}.wo_a.weight`, [G * R, (H * D) / G]);
    this.woB = take(source, `${prefix}.wo_b.weight`, [d, G * R]);
    this.sink = take(source, `${prefix}.attn_sink`, [H]);
    if (this.kind !== 'window') {
      const finish = kvFp8Roundtrip ? (k: Float64Array) => fp8RoundTrip(k, 0, D - ropeDim) : () => {};
      this.compressor = new Compressor(args, source, `${prefix}.compressor`, ratio, D, rope, finish);
    }
    if (this.kind === 'csa') this.indexer = new Indexer(args, source, `${prefix}.indexer`, rope);
  }

  /** Positions fed so far. */
  get length(): number {
    return this.fed;
  }

  reset(): void {
    this.ring.length = 0;
    this.fed = 0;
    this.compressor?.reset();
    this.indexer?.reset();
  }

  /** Attends for the token at `pos` (the next position) with input x (already attn_norm-ed). */
  step(x: Float64Array, pos: number): Float64Array {
    const { dim: d, nHeads: H, headDim: D, ropeDim: r, qLoraRank, oGroups: G, oLoraRank: R, normEps: eps, window: w } = this.args;
    const n = D - r;
    const qr = rmsnorm(matvec(this.wqA, qLoraRank, d, x), this.qNorm, eps);
    const q = matvec(this.wqB, H * D, qLoraRank, qr);
    for (let h = 0; h < H; h++) {
      unitRms(q, h * D, D, eps);
      this.rope.apply(q, h * D + n, pos);
    }
    const kv = rmsnorm(matvec(this.wkv, D, d, x), this.kvNorm, eps);
    this.rope.apply(kv, n, pos);
    if (this.args.kvFp8Roundtrip) fp8RoundTrip(kv, 0, n);
    this.ring[pos % w] = kv;
    this.fed = pos + 1;

    const candidates: Float64Array[] = [];
    for (let p = Math.max(0, pos - w + 1); p <= pos; p++) candidates.push(this.ring[p % w]);
    if (this.compressor) {
      this.compressor.step(x, pos);
      const entries = this.compressor.entries;
      this.lastSelected = this.indexer ? this.indexer.select(x, qr, pos) : entries.map((_, b) => b);
      for (const b of this.lastSelected) candidates.push(entries[b]);
    }

    const o = new Float64Array(H * D);
    const scores = new Float64Array(candidates.length);
    const scale = D ** -0.5;
    for (let h = 0; h < H; h++) {
      let max = this.sink[h];
      candidates.forEach((k, i) => {
        scores[i] = dot(q, h * D, k, 0, D) * scale;
        max = Math.max(max, scores[i]);
      });
      let denom = Math.exp(this.sink[h] - max);
      for (let i = 0; i < scores.length; i++) denom += (scores[i] = Math.exp(scores[i] - max));
      candidates.forEach((k, i) => {
        const p = scores[i] / denom;
        for (let j = 0; j < D; j++) o[h * D + j] += p * k[j];
      });
      this.rope.applyInverse(o, h * D + n, pos);
    }

    const groupWidth = (H * D) / G;
    const z = new Float64Array(G * R);
    for (let g = 0; g < G; g++) {
      z.set(matvec(this.woA.subarray(g * R * groupWidth, (g + 1) * R * groupWidth), R, groupWidth, o, g * groupWidth), g * R);
    }
    return matvec(this.woB, d, G * R, z);
  }
}
