// V4's multi-token-prediction module mtp.0 (docs/architecture-v4.md#mtp): from the main model's streams
// X_i at position i and the token t_{i+1} that follows, each stream becomes e_proj(enorm(embed(t_{i+1}))) +
// h_proj(hnorm(X_i[j])); one block (its own caches) and the module's own hc_head and norm follow, and the
// main model's head gives logits for t_{i+2}. Fed in position order; rewinding replays its stored inputs.
import { WebmoeError } from 'webmoe/model';
import { matvec, rmsnorm } from '../math';
import { take, type WeightSource } from '../weights';
import type { V4Args } from './args';
import { V4Block, type V4Ropes } from './block';
import { HyperHead } from './mhc';

export class V4MtpHead {
  private readonly eProj: Float64Array;
  private readonly hProj: Float64Array;
  private readonly enorm: Float64Array;
  private readonly hnorm: Float64Array;
  private readonly norm: Float64Array;
  private readonly hcHead: HyperHead;
  readonly block: V4Block;
  /** The inputs fed so far, by position: what a rewind replays. */
  private inputs: { hidden: Float64Array; token: number }[] = [];

  constructor(
    private readonly args: V4Args,
    source: WeightSource,
    private readonly embed: Float64Array,
    private readonly head: Float64Array,
    ropes: V4Ropes,
  ) {
    const p = 'mtp.0.';
    const d = args.dim;
    this.eProj = take(source, `${p}e_proj.weight`, [d, d]);
    this.hProj = take(source, `${p}h_proj.weight`, [d, d]);
    this.enorm = take(source, `${p}enorm.weight`, [d]);
    this.hnorm = take(source, `${p}hnorm.weight`, [d]);
    this.block = new V4Block(args, source, p, args.nLayers, ropes);
    this.hcHead = new HyperHead(args, source, p);
    this.norm = take(source, `${p}norm.weight`, [d]);
  }

  get length(): number {
    return this.inputs.length;
  }

  reset(): void {
    this.inputs = [];
    this.block.reset();
  }

  /** Logits for positions startPos, startPos + 1, … from the main streams there and the tokens that follow. */
  forward(nextTokens: number[], hidden: Float64Array[], startPos: number): Float64Array[] {
    if (startPos > this.inputs.length) {
      throw new WebmoeError('invalid-request', `mtpForward: the last forward started at ${startPos}, but the MTP module has seen only ${this.inputs.length} positions (draft after every forward)`);
    }
    if (startPos < this.inputs.length) {
      const kept = this.inputs.slice(0, startPos);
      this.reset();
      kept.forEach(({ hidden: h, token }, pos) => this.step(h, token, pos));
    }
    return nextTokens.map((t, j) => this.step(hidden[j], t, startPos + j));
  }

  private step(hidden: Float64Array, token: number, pos: number): Float64Array {
    const { dim: d, hcMult: hc, normEps: eps, vocabSize: V } = this.args;
    this.inputs.push({ hidden, token });
    const e = matvec(this.eProj, d, d, rmsnorm(this.embed, this.enorm, eps, token * d));
    const x = new Float64Array(hc * d);
    for (let j = 0; j < hc; j++) {
      const h = matvec(this.hProj, d, d, rmsnorm(hidden, this.hnorm, eps, j * d));
      for (let i = 0; i < d; i++) x[j * d + i] = e[i] + h[i];
    }
    const out = this.block.step(x, token, pos);
    return matvec(this.head, V, d, rmsnorm(this.hcHead.apply(out), this.norm, eps));
  }
}
