// The float64 V2/V3 reference transformer (docs/architecture-v3.md#layers): embedding → decoder layers
// (MLA + dense MLP or MoE) → final norm → lm_head, with its own per-layer cache so that a prompt and then
// single tokens can be fed incrementally. Plus the optional V3 multi-token-prediction (MTP) draft head,
// which the main model never touches.
import { WebmoeError } from 'webmoe/model';
import type { ReferenceArgs, ReferenceOptions } from './args';
import { MlaAttention } from './attention';
import { checkMtpRequest, checkStartPos, checkTokens, greedyDecode, type CausalModel, type GreedyResult } from './decoding';
import { Moe, SwiGlu } from './ffn';
import { addScaled, matvec, rmsnorm } from './math';
import { Rope } from './rope';
import type { RoutingDecision } from './routing';
import { take, type WeightSource } from './weights';

// ----------------------------------------------------------------------------
// decoder layer: h = h + attn(rms(h)); h = h + ffn(rms(h))

class DecoderLayer {
  readonly attention: MlaAttention;
  readonly ffn: SwiGlu | Moe;
  private readonly attnNorm: Float64Array;
  private readonly ffnNorm: Float64Array;

  constructor(private readonly args: ReferenceArgs, source: WeightSource, index: number, kind: 'dense' | 'moe', rope: Rope) {
    const p = `model.layers.${index}`;
    const d = args.dim;
    this.attnNorm = take(source, `${p}.input_layernorm.weight`, [d]);
    this.attention = new MlaAttention(args, source, p, rope);
    this.ffnNorm = take(source, `${p}.post_attention_layernorm.weight`, [d]);
    this.ffn = kind === 'moe' ? new Moe(args, source, `${p}.mlp`) : new SwiGlu(source, `${p}.mlp`, d, args.interDim);
  }

  /** Updates the residual streams `hs` (one per token, positions startPos, …) in place. */
  forward(hs: Float64Array[], startPos: number): void {
    const eps = this.args.rmsNormEps;
    const attn = this.attention.forward(hs.map((h) => rmsnorm(h, this.attnNorm, eps)), startPos);
    hs.forEach((h, j) => addScaled(h, attn[j]));
    const normed = hs.map((h) => rmsnorm(h, this.ffnNorm, eps));
    const out = this.ffn instanceof Moe ? this.ffn.forward(normed) : normed.map((x) => (this.ffn as SwiGlu).forward(x));
    hs.forEach((h, j) => addScaled(h, out[j]));
  }

  /** This layer's routing for each token of the last forward, or null for a dense layer. */
  get lastRouting(): RoutingDecision[] | null {
    return this.ffn instanceof Moe ? this.ffn.lastRouting : null;
  }
}

// ----------------------------------------------------------------------------
// the main model

export type { GreedyResult };

export class ReferenceModel implements CausalModel {
  readonly args: ReferenceArgs;
  private readonly embed: Float64Array;
  private readonly layers: DecoderLayer[] = [];
  private readonly norm: Float64Array;
  private readonly head: Float64Array;
  private readonly mtpHead: MtpHead | null;
  private cached = 0;
  /** Per fed token of the last forward: the residual stream after the last main layer, before the final norm (MTP's h_i). */
  lastHidden: Float64Array[] = [];
  /** Position of the first token of the last forward. */
  private lastStart = 0;

  /** Reads every main-model tensor up front (shapes checked); MTP tensors only when options.mtp. */
  constructor(args: ReferenceArgs, source: WeightSource, options: Pick<ReferenceOptions, 'mtp'> = {}) {
    this.args = args;
    const rope = Rope.forArgs(args);
    this.embed = take(source, 'model.embed_tokens.weight', [args.vocabSize, args.dim]);
    for (let i = 0; i < args.nLayers; i++) this.layers.push(new DecoderLayer(args, source, i, args.ffn[i], rope));
    this.norm = take(source, 'model.norm.weight', [args.dim]);
    this.head = take(source, 'lm_head.weight', [args.vocabSize, args.dim]);
    if (options.mtp && args.nMtpLayers < 1) throw new WebmoeError('invalid-request', 'ReferenceModel: options.mtp is set but the model has no MTP layer (num_nextn_predict_layers)');
    this.mtpHead = options.mtp ? new MtpHead(args, source, args.nLayers, rope) : null;
  }

  /** Positions held in the cache: the next token goes at this position. */
  get position(): number {
    return this.cached;
  }

  /** Empties the caches (main and MTP). */
  reset(): void {
    this.truncate(0);
    this.mtpHead?.truncate(0);
  }

  private truncate(length: number): void {
    for (const l of this.layers) l.attention.truncate(length);
    this.cached = length;
  }

  /**
   * Feeds `tokenIds` at positions startPos, startPos + 1, … and returns each one's logits row. startPos may be
   * below `position` (the cache is cut back to it, to re-run from there) but not above it.
   */
  forward(tokenIds: number[], startPos: number): Float64Array[] {
    checkStartPos(startPos, this.cached);
    checkTokens(tokenIds, this.args.vocabSize);
    this.truncate(startPos);
    const d = this.args.dim;
    const hs = tokenIds.map((t) => this.embed.slice(t * d, (t + 1) * d));
    for (const layer of this.layers) layer.forward(hs, startPos);
    this.cached = startPos + tokenIds.length;
    this.lastHidden = hs.map((h) => h.slice());
    this.lastStart = startPos;
    return hs.map((h) => matvec(this.head, this.args.vocabSize, d, rmsnorm(h, this.norm, this.args.rmsNormEps)));
  }

  /**
   * Routing of the last forward: per main layer (null for dense layers), per fed token, the selected experts
   * and their weights.
   */
  get lastRouting(): (RoutingDecision[] | null)[] {
    return this.layers.map((l) => l.lastRouting);
  }

  /** Greedy decoding from an empty cache: n tokens, n logits rows (the last token is not fed back). */
  greedy(prompt: number[], n: number): GreedyResult {
    return greedyDecode(this, prompt, n);
  }

  /**
   * MTP draft logits (needs options.mtp). For each position i fed by the last forward, from its hidden state h_i
   * (lastHidden) and the token that follows it, `nextTokens[j]` = t_{i+1}, predicts t_{i+2}. The MTP module keeps
   * its own cache, at the same positions as the main model's.
   */
  mtpForward(nextTokens: number[]): Float64Array[] {
    const head = checkMtpRequest(this.mtpHead, nextTokens, this.lastHidden.length, this.args.vocabSize);
    return head.forward(nextTokens, this.lastHidden, this.lastStart);
  }
}

// ----------------------------------------------------------------------------
// multi-token prediction (V3): h' = eh_proj(concat(enorm(embed(t_{i+1})), hnorm(h_i))) → decoder layer
// → shared_head.norm → shared_head.head

class MtpHead {
  private readonly embed: Float64Array;
  private readonly enorm: Float64Array;
  private readonly hnorm: Float64Array;
  private readonly ehProj: Float64Array;
  private readonly layer: DecoderLayer;
  private readonly norm: Float64Array;
  private readonly head: Float64Array;

  constructor(private readonly args: ReferenceArgs, source: WeightSource, index: number, rope: Rope) {
    const p = `model.layers.${index}`;
    const { dim: d, vocabSize: V } = args;
    this.embed = take(source, `${p}.embed_tokens.weight`, [V, d]);
    this.enorm = take(source, `${p}.enorm.weight`, [d]);
    this.hnorm = take(source, `${p}.hnorm.weight`, [d]);
    this.ehProj = take(source, `${p}.eh_proj.weight`, [d, 2 * d]);
    this.layer = new DecoderLayer(args, source, index, args.nRoutedExperts > 0 ? 'moe' : 'dense', rope);
    this.norm = take(source, `${p}.shared_head.norm.weight`, [d]);
    this.head = take(source, `${p}.shared_head.head.weight`, [V, d]);
  }

  truncate(length: number): void {
    this.layer.attention.truncate(length);
  }

  forward(nextTokens: number[], hidden: Float64Array[], startPos: number): Float64Array[] {
    const { dim: d, vocabSize: V, rmsNormEps: eps } = this.args;
    if (startPos > this.layer.attention.length) {
      throw new WebmoeError('invalid-request', `mtpForward: the last forward started at ${startPos}, but the MTP cache holds only ${this.layer.attention.length} positions (draft every forward)`);
    }
    this.truncate(startPos);
    const hs = nextTokens.map((t, j) => {
      const both = new Float64Array(2 * d);
      both.set(rmsnorm(this.embed, this.enorm, eps, t * d), 0);
      both.set(rmsnorm(hidden[j], this.hnorm, eps), d);
      return matvec(this.ehProj, d, 2 * d, both);
    });
    this.layer.forward(hs, startPos);
    return hs.map((h) => matvec(this.head, V, d, rmsnorm(h, this.norm, eps)));
  }
}
