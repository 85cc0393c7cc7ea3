// The float64 V4 reference transformer (docs/architecture-v4.md#forward-pass): embedding copied into hc
// streams → blocks (mHC + sparse attention + MoE) → hc_head → norm → head, with each layer's decode state
// (docs/architecture-v4.md#decode-state: window ring, compressed entries, compressor and indexer state) so
// that a prompt and then single tokens can be fed. A token is carried through all blocks before the next
// one: prefill and decode are the same computation.
import { WebmoeError } from 'webmoe/model';
import { checkMtpRequest, checkStartPos, checkTokens, greedyDecode, type CausalModel, type GreedyResult } from '../decoding';
import { matvec, rmsnorm } from '../math';
import type { RoutingDecision } from '../routing';
import { take, type WeightSource } from '../weights';
import type { V4Args } from './args';
import { V4Block, v4Ropes } from './block';
import { HyperHead } from './mhc';
import { V4MtpHead } from './mtp';

export interface V4Options {
  /** Load the MTP module mtp.0 so that `mtpForward` can run. Default false: the main model never reads it. */
  mtp?: boolean;
}

export class V4ReferenceModel implements CausalModel {
  readonly blocks: V4Block[] = [];
  private readonly embed: Float64Array;
  private readonly norm: Float64Array;
  private readonly head: Float64Array;
  private readonly hcHead: HyperHead;
  private readonly mtpHead: V4MtpHead | null;
  /** Every token fed, by position: what a rewind replays. */
  private tokens: number[] = [];
  /** Per fed token of the last forward: the streams (hc·d) after the last block, before hc_head (MTP's X_i). */
  lastHidden: Float64Array[] = [];
  /** Per block, per fed token of the last forward: the experts chosen and their weights. */
  lastRouting: RoutingDecision[][] = [];
  private lastStart = 0;

  /** Reads every main-model tensor up front (shapes checked); mtp.0 only with options.mtp. */
  constructor(readonly args: V4Args, source: WeightSource, options: V4Options = {}) {
    const { vocabSize: V, dim: d } = args;
    const ropes = v4Ropes(args);
    this.embed = take(source, 'embed.weight', [V, d]);
    for (let l = 0; l < args.nLayers; l++) this.blocks.push(new V4Block(args, source, `layers.${l}.`, l, ropes));
    this.hcHead = new HyperHead(args, source, '');
    this.norm = take(source, 'norm.weight', [d]);
    this.head = take(source, 'head.weight', [V, d]);
    if (options.mtp && args.nMtpLayers < 1) throw new WebmoeError('invalid-request', 'V4ReferenceModel: options.mtp is set but the model has no MTP layer (num_nextn_predict_layers)');
    this.mtpHead = options.mtp ? new V4MtpHead(args, source, this.embed, this.head, ropes) : null;
  }

  get position(): number {
    return this.tokens.length;
  }

  reset(): void {
    this.tokens = [];
    for (const b of this.blocks) b.reset();
    this.mtpHead?.reset();
  }

  /** Carries one token through the blocks; returns its final streams. */
  private step(token: number, pos: number): Float64Array {
    const { dim: d, hcMult: hc } = this.args;
    let x: Float64Array = new Float64Array(hc * d);
    for (let j = 0; j < hc; j++) x.set(this.embed.subarray(token * d, (token + 1) * d), j * d);
    for (const b of this.blocks) x = b.step(x, token, pos);
    this.tokens.push(token);
    return x;
  }

  /** Logits from a token's final streams. */
  logitsOf(x: Float64Array): Float64Array {
    const { vocabSize: V, dim: d, normEps: eps } = this.args;
    return matvec(this.head, V, d, rmsnorm(this.hcHead.apply(x), this.norm, eps));
  }

  /**
   * Feeds `tokenIds` at positions startPos, startPos + 1, … and returns each one's logits row. startPos may be
   * below `position` (the state is rebuilt by replaying the tokens before it) but not above it.
   */
  forward(tokenIds: number[], startPos: number): Float64Array[] {
    checkStartPos(startPos, this.position);
    checkTokens(tokenIds, this.args.vocabSize);
    if (startPos < this.position) {
      const kept = this.tokens.slice(0, startPos);
      this.tokens = [];
      for (const b of this.blocks) b.reset();
      kept.forEach((t, pos) => this.step(t, pos));
    }
    this.lastStart = startPos;
    this.lastRouting = this.blocks.map(() => []);
    this.lastHidden = tokenIds.map((t, j) => {
      const x = this.step(t, startPos + j);
      this.blocks.forEach((b, l) => this.lastRouting[l].push(b.moe.lastRouting));
      return x;
    });
    return this.lastHidden.map((x) => this.logitsOf(x));
  }

  greedy(prompt: number[], n: number): GreedyResult {
    return greedyDecode(this, prompt, n);
  }

  /**
   * MTP draft logits (needs options.mtp). For each position i fed by the last forward, from its streams X_i
   * (lastHidden) and the token that follows it, `nextTokens[j]` = t_{i+1}, predicts t_{i+2}.
   */
  mtpForward(nextTokens: number[]): Float64Array[] {
    const head = checkMtpRequest(this.mtpHead, nextTokens, this.lastHidden.length, this.args.vocabSize);
    return head.forward(nextTokens, this.lastHidden, this.lastStart);
  }
}
