// The KV compressor (docs/architecture-v4.md#compressed-entries): every m tokens become one entry by
// gated pooling. Each token t contributes values c_t = wkv·x_t and gate logits z_t = wgate·x_t + ape[t mod m];
// a block's entry is, feature by feature, the softmax(z)-weighted sum of its values. With m = 4 (CSA) the
// pooling overlaps: c_t and z_t are twice as wide, their first half pooled with the NEXT block and their
// second half with their own, so that entry b pools 8 tokens (block b − 1's first halves, block b's second
// halves). The entry is RMS-normed, rotated at its block's first position and handed to `finish` (the FP8
// or Hadamard + FP4 round trip). Tokens are fed one at a time in position order; the state between blocks
// is the current block's (c_t, z_t) and, when overlapping, the previous block's.
import { WebmoeError } from 'webmoe/model';
import { matvec, rmsnorm } from '../math';
import type { Rope } from '../rope';
import { take, type WeightSource } from '../weights';
import type { V4Args } from './args';

interface Pending {
  value: Float64Array;
  logit: Float64Array;
}

export class Compressor {
  /** Entry b pools tokens b·m … b·m + m − 1 (and, overlapping, the m before them). */
  readonly entries: Float64Array[] = [];
  private readonly overlap: boolean;
  /** c·width: values and logits per token (c = 2 when overlapping). */
  private readonly rows: number;
  private readonly wkv: Float64Array;
  private readonly wgate: Float64Array;
  private readonly ape: Float64Array;
  private readonly norm: Float64Array;
  private current: Pending[] = [];
  private previous: Pending[] = [];

  constructor(
    private readonly args: V4Args,
    source: WeightSource,
    private readonly prefix: string,
    readonly ratio: number,
    /** Dc: the width of an entry (head_dim for attention, index_head_dim for the indexer). */
    private readonly width: number,
    private readonly rope: Rope,
    private readonly finish: (entry: Float64Array) => void,
  ) {
    this.overlap = ratio === 4;
    this.rows = (this.overlap ? 2 : 1) * width;
    this.wkv = take(source, `${prefix}.wkv.weight`, [this.rows, args.dim]);
    this.wgate = take(source, `${prefix}.wgate.weight`, [this.rows, args.dim]);
    this.ape = take(source, `${prefix}.ape`, [ratio, this.rows]);
    this.norm = take(source, `${prefix}.norm.weight`, [width]);
  }

  /** Tokens fed so far. */
  get length(): number {
    return this.entries.length * this.ratio + this.current.length;
  }

  reset(): void {
    this.entries.length = 0;
    this.current = [];
    this.previous = [];
  }

  /** Feeds the token at `pos` (the next one); returns the entry its block completes, if it completes one. */
  step(x: Float64Array, pos: number): Float64Array | null {
    if (pos !== this.length) throw new WebmoeError('internal', `${this.prefix}: token at position ${pos}, but ${this.length} fed`);
    const { rows, ratio } = this;
    const logit = matvec(this.wgate, rows, this.args.dim, x);
    const slot = pos % ratio;
    for (let i = 0; i < rows; i++) logit[i] += this.ape[slot * rows + i];
    this.current.push({ value: matvec(this.wkv, rows, this.args.dim, x), logit });
    if (this.current.length < ratio) return null;

    const Dc = this.width;
    // per feature: (value, logit) of every pooled slot
    const slots: { from: Pending[]; at: number }[] = this.overlap
      ? [{ from: this.previous, at: 0 }, { from: this.current, at: Dc }]
      : [{ from: this.current, at: 0 }];
    const pooled = new Float64Array(Dc);
    for (let f = 0; f < Dc; f++) {
      let max = -Infinity;
      for (const { from, at } of slots) for (const t of from) max = Math.max(max, t.logit[at + f]);
      let sum = 0, acc = 0;
      for (const { from, at } of slots) {
        for (const t of from) {
          const w = Math.exp(t.logit[at + f] - max);
          sum += w;
          acc += w * t.value[at + f];
        }
      }
      pooled[f] = acc / sum;
    }
    const block = this.entries.length;
    const entry = rmsnorm(pooled, this.norm, this.args.normEps);
    this.rope.apply(entry, Dc - this.args.ropeDim, block * ratio);
    this.finish(entry);
    this.entries.push(entry);
    this.previous = this.current;
    this.current = [];
    return entry;
  }
}
