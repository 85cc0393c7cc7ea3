// The lightning indexer of a CSA layer (docs/architecture-v4.md#lightning-indexer): it keeps its own
// compressed keys (a ratio-4 compressor of width Di whose entries go through a Hadamard rotation and the FP4
// round trip), scores every visible entry for the current query with Hi small heads,
// I(s, b) = Σ_h w_h · relu(q_h · K_b), and picks the top index_topk entries for the attention.
import { dot, matvec, topIndices } from '../math';
import type { Rope } from '../rope';
import { take, type WeightSource } from '../weights';
import type { V4Args } from './args';
import { Compressor } from './compressor';
import { fp4RoundTrip, hadamardInPlace } from './quant-sim';

/** The Hadamard rotation then (unless switched off) the FP4 round trip, over each head of width n. */
function rotateAndRound(x: Float64Array, offset: number, n: number, fp4: boolean): void {
  hadamardInPlace(x, offset, n);
  if (fp4) fp4RoundTrip(x, offset, n);
}

export class Indexer {
  readonly compressor: Compressor;
  private readonly wqB: Float64Array;
  private readonly weightsProj: Float64Array;
  /** The scores of every visible entry for the last query (for tests and the engine's comparisons). */
  lastScores = new Float64Array(0);

  constructor(private readonly args: V4Args, source: WeightSource, prefix: string, private readonly rope: Rope) {
    const { indexHeads: Hi, indexHeadDim: Di, qLoraRank, dim } = args;
    this.wqB = take(source, `${prefix}.wq_b.weight`, [Hi * Di, qLoraRank]);
    this.weightsProj = take(source, `${prefix}.weights_proj.weight`, [Hi, dim]);
    this.compressor = new Compressor(args, source, `${prefix}.compressor`, 4, Di, rope, (k) => rotateAndRound(k, 0, Di, args.indexerFp4Roundtrip));
  }

  reset(): void {
    this.compressor.reset();
  }

  /** Feeds the token at `pos` (x: the attention input, qr: the normed query latent); returns the chosen entries. */
  select(x: Float64Array, qr: Float64Array, pos: number): number[] {
    const { indexHeads: Hi, indexHeadDim: Di, qLoraRank, ropeDim, dim } = this.args;
    this.compressor.step(x, pos);
    const q = matvec(this.wqB, Hi * Di, qLoraRank, qr);
    for (let h = 0; h < Hi; h++) {
      this.rope.apply(q, h * Di + Di - ropeDim, pos);
      rotateAndRound(q, h * Di, Di, this.args.indexerFp4Roundtrip);
    }
    const w = matvec(this.weightsProj, Hi, dim, x);
    const scale = Di ** -0.5 * Hi ** -0.5;
    const keys = this.compressor.entries;
    const scores = new Float64Array(keys.length);
    keys.forEach((k, b) => {
      let s = 0;
      for (let h = 0; h < Hi; h++) s += w[h] * scale * Math.max(dot(q, h * Di, k, 0, Di), 0);
      scores[b] = s;
    });
    this.lastScores = scores;
    return topIndices(scores, Math.min(this.args.indexTopk, keys.length));
  }
}
