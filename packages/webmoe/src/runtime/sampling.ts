// Token sampling on the CPU, following the GPU sampler (shaders/sample.wgsl) rule for rule so that a
// backend may use either and one seed gives one reply:
//   greedy when temperature ≤ 0 or top_k = 1 (argmax, lowest id on ties); otherwise e_i = exp((l_i − max)/T),
//   top-k keeps logits ≥ the k-th largest (ties kept), top-p then keeps the highest down to the first whose
//   cumulative probability (over the kept set) reaches top_p (ties kept), and the token is the first id, in
//   id order, at which the running sum of kept e_i exceeds u × their total, u = sampleUniform(seed, step).
// min_p then also drops tokens with e_i < min_p. Before all of it, the request's penalties and logit_bias
// adjust the logits (SamplingPenalties in executor/generator.ts), and a token mask (constrained decoding)
// sets the tokens it leaves out to −∞.
import type { SamplingParams, SamplingPenalties } from '../executor/generator';
import { sampleUniform } from '../kernels/sample';

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < logits.length; i++) {
    if (logits[i] > bestV) {
      bestV = logits[i];
      best = i;
    }
  }
  return best;
}

/** Which tokens the prompt holds and how often each appears in the reply so far: what penalties read. */
export class TokenCounts {
  private readonly prompt = new Set<number>();
  private readonly reply = new Map<number, number>();

  constructor(promptIds: Iterable<number> = []) {
    for (const id of promptIds) this.prompt.add(id);
  }

  addReply(id: number): void {
    this.reply.set(id, this.replyCount(id) + 1);
  }

  seen(id: number): boolean {
    return this.prompt.has(id) || this.reply.has(id);
  }

  replyCount(id: number): number {
    return this.reply.get(id) ?? 0;
  }
}

/** The bias at or below which a token is banned outright (OpenAI: "-100 should result in a ban"). */
export const BAN_BIAS = -100;

/** The logits after `pen` (rule on SamplingPenalties); `ids[i]` is the token id of logits[i] (default i). */
export function penalizeLogits(logits: ArrayLike<number>, pen: SamplingPenalties, counts: TokenCounts, ids?: ArrayLike<number>): Float64Array {
  const bias = new Map(pen.logitBias);
  return Float64Array.from(logits, (l, i) => {
    const id = ids ? ids[i] : i;
    const b = bias.get(id) ?? 0;
    let v = b <= BAN_BIAS ? -Infinity : l + b;
    if (!counts.seen(id)) return v;
    v = v > 0 ? v / pen.repetition : v * pen.repetition;
    const c = counts.replyCount(id);
    return c > 0 ? v - pen.frequency * c - pen.presence : v;
  });
}

export function sampleLogits(raw: ArrayLike<number>, p: SamplingParams): number {
  const logits = p.allowed ? maskLogits(raw, p.allowed) : raw;
  const n = logits.length;
  const best = argmax(logits);
  if (p.temperature <= 0 || p.topK === 1 || !(logits[best] > -Infinity)) return best;
  const max = logits[best];
  const invT = Math.min(1 / p.temperature, 1e30);
  const weight = (v: number) => (v === v ? Math.exp((v - max) * invT) : 0); // NaN: never drawn
  let threshold = -Infinity;
  if ((p.topK > 0 && p.topK < n) || p.topP < 1) {
    const desc = Float64Array.from(logits, (v) => (v === v ? v : -Infinity)).sort().reverse();
    if (p.topK > 0 && p.topK < n) threshold = desc[p.topK - 1];
    if (p.topP < 1) {
      let z = 0;
      for (const v of desc) if (v >= threshold) z += weight(v);
      let cum = 0;
      for (const v of desc) {
        if (v < threshold) break;
        cum += weight(v);
        if (cum >= p.topP * z) {
          threshold = v;
          break;
        }
      }
    }
  }
  const minP = p.minP ?? 0;
  const logMinP = minP > 0 ? Math.log(minP) : -Infinity;
  // −∞ (masked or banned) is never kept, so that the fallback below never returns such a token.
  const kept = (v: number) => v > -Infinity && v >= threshold && (v - max) * invT >= logMinP;
  let total = 0;
  for (let i = 0; i < n; i++) if (kept(logits[i])) total += weight(logits[i]);
  const target = sampleUniform(p.seed, p.step) * total;
  let run = 0;
  let last = best;
  for (let i = 0; i < n; i++) {
    if (!kept(logits[i])) continue;
    run += weight(logits[i]);
    last = i;
    if (run > target) return i;
  }
  return last; // u × total rounded up to the total
}

/** The logits with every token the mask leaves out at −∞ (SamplingParams.allowed). */
export function maskLogits(logits: ArrayLike<number>, allowed: Uint32Array): Float64Array {
  return Float64Array.from(logits, (l, i) => (((allowed[i >>> 5] ?? 0) >>> (i & 31)) & 1 ? l : -Infinity));
}

export interface SamplingRequest {
  readonly temperature?: number | undefined;
  readonly top_p?: number | undefined;
  readonly top_k?: number | undefined;
  readonly min_p?: number | undefined;
  readonly seed?: number | undefined;
  /** Absent when the request sets none (nothing to count or add). */
  readonly penalties?: SamplingPenalties | undefined;
  /** Top alternatives to report; absent: no logprobs. */
  readonly logprobs?: number | undefined;
}

/** One request's sampling settings, with the step counter that, with the seed, fixes each draw. */
export class RequestSampler {
  private step = 0;
  private readonly base: Omit<SamplingParams, 'step'>;

  constructor(r: SamplingRequest) {
    // OpenAI's defaults: temperature 1, top_p 1; no top_k. Without a seed every request draws a fresh one.
    this.base = {
      temperature: r.temperature ?? 1,
      topP: r.top_p ?? 1,
      topK: r.top_k ?? 0,
      seed: (r.seed ?? Math.floor(Math.random() * 2 ** 32)) >>> 0,
      ...(r.min_p ? { minP: r.min_p } : {}),
      ...(r.penalties ? { penalties: r.penalties } : {}),
      ...(r.logprobs !== undefined ? { logprobs: r.logprobs } : {}),
    };
  }

  next(): SamplingParams {
    return { ...this.base, step: this.step++ };
  }

  /** Steps taken by the extra tokens of a multi-token decode step (SamplingParams.step). */
  skip(n: number): void {
    this.step += n;
  }
}
