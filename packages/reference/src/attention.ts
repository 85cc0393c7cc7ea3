// Multi-head Latent Attention in its NAIVE form: kv_b expands the latent into a full key and value per head
// and per token, which are cached like ordinary multi-head attention. The GPU engine uses the absorbed form
// (scores against the latent itself), so agreement between the two checks the absorption algebra too.
import type { ReferenceArgs } from './args';
import { dot, matvec, rmsnorm, softmaxInPlace } from './math';
import { Rope, softmaxScale } from './rope';
import { take, type WeightSource } from './weights';

export class MlaAttention {
  private readonly args: ReferenceArgs;
  private readonly rope: Rope;
  private readonly scale: number;
  /** Query path: q_proj, or q_a_proj → q_a_layernorm → q_b_proj when qLoraRank > 0. */
  private readonly wq: Float64Array | null = null;
  private readonly wqA: Float64Array | null = null;
  private readonly qANorm: Float64Array | null = null;
  private readonly wqB: Float64Array | null = null;
  /** [kvLoraRank + rope, d]: latent rows first, then the shared k_pe rows. */
  private readonly wkvA: Float64Array;
  private readonly kvANorm: Float64Array;
  /** [H × (nope + v), kvLoraRank]: per head, nope key rows then value rows. */
  private readonly wkvB: Float64Array;
  /** [d, H × v]. */
  private readonly wo: Float64Array;
  /** Per cached position: H × (nope + rope) key values, head after head. */
  private keys: Float64Array[] = [];
  /** Per cached position: H × v values. */
  private values: Float64Array[] = [];

  constructor(args: ReferenceArgs, source: WeightSource, prefix: string, rope: Rope) {
    this.args = args;
    this.rope = rope;
    this.scale = softmaxScale(args);
    const { dim: d, nHeads: H, qLoraRank, kvLoraRank, qkNopeHeadDim: nope, qkRopeHeadDim: rot, vHeadDim: v } = args;
    const a = `${prefix}.self_attn`;
    if (qLoraRank > 0) {
      this.wqA = take(source, `${a}.q_a_proj.weight`, [qLoraRank, d]);
      this.qANorm = take(source, `${a}.q_a_layernorm.weight`, [qLoraRank]);
      this.wqB = take(source, `${a}.q_b_proj.weight`, [H * (nope + rot), qLoraRank]);
    } else {
      this.wq = take(source, `${a}.q_proj.weight`, [H * (nope + rot), d]);
    }
    this.wkvA = take(source, `${a}.kv_a_proj_with_mqa.weight`, [kvLoraRank + rot, d]);
    this.kvANorm = take(source, `${a}.kv_a_layernorm.weight`, [kvLoraRank]);
    this.wkvB = take(source, `${a}.kv_b_proj.weight`, [H * (nope + v), kvLoraRank]);
    this.wo = take(source, `${a}.o_proj.weight`, [d, H * v]);
  }

  get length(): number {
    return this.keys.length;
  }

  /** Forgets cached positions from `length` on (0: everything). */
  truncate(length: number): void {
    this.keys.length = length;
    this.values.length = length;
  }

  // --------------------------------------------------------------------------
  // projections

  /** Per head [q_nope | q_pe], q_pe rotated for `pos`. */
  private query(x: Float64Array, pos: number): Float64Array {
    const { dim: d, nHeads: H, qLoraRank, qkNopeHeadDim: nope, qkRopeHeadDim: rot } = this.args;
    const qHead = nope + rot;
    let q: Float64Array;
    if (qLoraRank > 0) {
      const qa = matvec(this.wqA!, qLoraRank, d, x);
      q = matvec(this.wqB!, H * qHead, qLoraRank, rmsnorm(qa, this.qANorm!, this.args.rmsNormEps));
    } else {
      q = matvec(this.wq!, H * qHead, d, x);
    }
    for (let h = 0; h < H; h++) this.rope.apply(q, h * qHead + nope, pos);
    return q;
  }

  /** The full per-head key [k_nope | k_pe] and value for one token: what the naive form caches. */
  private keyValue(x: Float64Array, pos: number): { k: Float64Array; v: Float64Array } {
    const { dim: d, nHeads: H, kvLoraRank: r, qkNopeHeadDim: nope, qkRopeHeadDim: rot, vHeadDim: vDim } = this.args;
    const kvA = matvec(this.wkvA, r + rot, d, x);
    const c = rmsnorm(kvA, this.kvANorm, this.args.rmsNormEps);
    this.rope.apply(kvA, r, pos); // k_pe: the last `rot` entries, one for all heads
    const kvB = matvec(this.wkvB, H * (nope + vDim), r, c);
    const qHead = nope + rot;
    const k = new Float64Array(H * qHead);
    const v = new Float64Array(H * vDim);
    for (let h = 0; h < H; h++) {
      const src = h * (nope + vDim);
      for (let i = 0; i < nope; i++) k[h * qHead + i] = kvB[src + i];
      for (let i = 0; i < rot; i++) k[h * qHead + nope + i] = kvA[r + i];
      for (let i = 0; i < vDim; i++) v[h * vDim + i] = kvB[src + nope + i];
    }
    return { k, v };
  }

  // --------------------------------------------------------------------------
  // attention

  /**
   * Attends for tokens at positions startPos, startPos + 1, … (inputs already RMS-normed). All of their keys
   * and values enter the cache first, then each token attends causally to positions ≤ its own.
   */
  forward(xs: Float64Array[], startPos: number): Float64Array[] {
    if (startPos !== this.keys.length) throw new Error(`MlaAttention: startPos ${startPos} but ${this.keys.length} positions cached`);
    const { dim: d, nHeads: H, qkNopeHeadDim: nope, qkRopeHeadDim: rot, vHeadDim: vDim } = this.args;
    const qHead = nope + rot;
    const queries = xs.map((x, j) => this.query(x, startPos + j));
    xs.forEach((x, j) => {
      const { k, v } = this.keyValue(x, startPos + j);
      this.keys.push(k);
      this.values.push(v);
    });
    return queries.map((q, j) => {
      const n = startPos + j + 1;
      const heads = new Float64Array(H * vDim);
      const p = new Float64Array(n);
      for (let h = 0; h < H; h++) {
        for (let t = 0; t < n; t++) p[t] = dot(q, h * qHead, this.keys[t], h * qHead, qHead) * this.scale;
        softmaxInPlace(p, n);
        for (let t = 0; t < n; t++) {
          const vt = this.values[t];
          for (let i = 0; i < vDim; i++) heads[h * vDim + i] += p[t] * vt[h * vDim + i];
        }
      }
      return matvec(this.wo, d, H * vDim, heads);
    });
  }
}
