// The arithmetic of `webmoe eval` (docs/quality.md): text windows, log-probabilities, and the running
// sums behind perplexity and the KL divergence of a format's next-token distribution against a reference.
// Pure functions on CPU arrays, shared by the page that runs the models and the unit tests.

/**
 * The evaluation windows over a text's token ids: each at most `window` tokens, BOS first when the model has
 * one (as every training row starts), then the next window - 1 text tokens; without BOS, `window` text tokens
 * whose first is context only. Every text token is scored exactly once, except a BOS-less window's first.
 */
export function textWindows(ids: readonly number[], window: number, bos: number | null): number[][] {
  if (!Number.isInteger(window) || window < 2) throw new RangeError(`window must be an integer of at least 2 (got ${window})`);
  const step = bos === null ? window : window - 1;
  const out: number[][] = [];
  for (let i = 0; i < ids.length; i += step) {
    const w = ids.slice(i, i + step);
    if (bos !== null) w.unshift(bos);
    if (w.length >= 2) out.push(w);
  }
  return out;
}

/** log softmax of a logits row, in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) if (logits[i] > max) max = logits[i];
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i] - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}

/** KL(P ‖ Q) = Σ p (log p − log q), from log-probabilities; terms with p = 0 contribute nothing. */
export function klDivergence(logP: Float64Array, logQ: Float64Array): number {
  let kl = 0;
  for (let i = 0; i < logP.length; i++) {
    const p = Math.exp(logP[i]);
    if (p > 0) kl += p * (logP[i] - logQ[i]);
  }
  return kl;
}

function argmax(row: Float64Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** One format's figures over the scored tokens. */
export interface FormatFigures {
  /** Tokens scored. */
  tokens: number;
  /** Mean negative log-likelihood of the text's tokens (nats). */
  nll: number;
  perplexity: number;
  /** Against the reference format (null for the reference itself, or when there is none). */
  kl: { mean: number; max: number; p99: number } | null;
  /** Positions where this format's most likely token is the reference's. */
  top1Agreement: number | null;
}

/** Running sums of one format: add each scored position, read the figures at the end. */
export class FormatAccumulator {
  private nllSum = 0;
  private n = 0;
  private readonly kls: number[] = [];
  private agree = 0;

  /** `logProbs` is this format's row; `reference` the reference format's row at the same position, if any. */
  add(logProbs: Float64Array, target: number, reference: Float64Array | null): void {
    if (!(target >= 0 && target < logProbs.length)) throw new RangeError(`target ${target} outside the vocabulary of ${logProbs.length}`);
    this.nllSum -= logProbs[target];
    this.n++;
    if (reference) {
      this.kls.push(klDivergence(reference, logProbs));
      if (argmax(reference) === argmax(logProbs)) this.agree++;
    }
  }

  figures(): FormatFigures {
    const nll = this.n ? this.nllSum / this.n : NaN;
    let kl: FormatFigures['kl'] = null;
    if (this.kls.length) {
      const sorted = [...this.kls].sort((a, b) => a - b);
      kl = {
        mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
        max: sorted[sorted.length - 1],
        p99: sorted[Math.min(sorted.length - 1, Math.ceil(0.99 * sorted.length) - 1)],
      };
    }
    return { tokens: this.n, nll, perplexity: Math.exp(nll), kl, top1Agreement: this.kls.length ? this.agree / this.kls.length : null };
  }
}
