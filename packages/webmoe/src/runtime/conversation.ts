// The generation loop over a Generator, and the one piece of state that outlives a request: which ids the
// backend's KV cache holds. A new prompt that starts with those ids (the next turn of the same chat)
// keeps them and prefills only the rest.
import { WebmoeError, isWebmoeError } from '../errors';
import type { TextTokenizer } from '../text/tokenizer';
import { StopStringFilter } from '../text/stop-strings';
import type { Generator } from '../executor/generator';
import type { ChatCompletionTokenLogprob, CompletionTimings, CompletionUsage, FinishReason } from './openai-types';
import { tokenLogprob } from './logprobs';
import type { PreparedRequest } from './chat-request';
import { RequestSampler } from './sampling';
import { abortedError } from './serial-queue';

export interface GenerationResult {
  readonly text: string;
  readonly finishReason: FinishReason;
  readonly usage: CompletionUsage;
  readonly timings: CompletionTimings;
  /** When the request asked: every reply token's, but the end-of-sequence token's. */
  readonly logprobs?: readonly ChatCompletionTokenLogprob[];
}

export function commonPrefix(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}

const now = () => performance.now();

export class Conversation {
  /** Ids whose KV entries the generator holds, in order; empty when unknown. */
  private cached: number[] = [];

  constructor(
    readonly generator: Generator,
    readonly tokenizer: TextTokenizer,
  ) {}

  reset(): void {
    this.cached = [];
    this.generator.reset();
  }

  /**
   * Runs one request; `onText` gets each piece of reply text as soon as it is final, `onLogprob` each
   * token's log-probabilities (when the request asked) as soon as it is sampled, before its text.
   */
  async generate(req: PreparedRequest, onText: (text: string) => void, signal: AbortSignal, queuedAt: number,
    onLogprob: (lp: ChatCompletionTokenLogprob) => void = () => {}): Promise<GenerationResult> {
    const { generator: gen, tokenizer } = this;
    const ids = req.ids;
    const sampler = new RequestSampler(req.sampling);
    // Constrained decoding: each draw gets the mask of the tokens that keep the reply in its grammar and
    // let it finish within the `left` tokens it may still take (text/token-mask.ts).
    const constraint = req.grammar?.start(req.prefix);
    const sampling = (left: number) => (constraint ? { ...sampler.next(), allowed: constraint.mask(left) } : sampler.next());
    const t0 = now();
    if (signal.aborted) throw abortedError();
    const reusePrefix = Math.min(commonPrefix(this.cached, ids), ids.length - 1);
    this.cached = [];
    // Sampled tokens not yet looked at: a speculative decode step gives several (Generator.decode).
    let pending: number[];
    let reused: number;
    try {
      const r = await gen.prefill(ids, { reusePrefix, sampling: sampling(req.maxTokens), signal });
      pending = [r.next];
      reused = r.reusedTokens;
    } catch (e) {
      gen.reset(); // a half-done prefill leaves the cache in an unknown state
      throw isWebmoeError(e) ? e : signal.aborted ? abortedError() : e;
    }
    const kv = ids.slice();
    this.cached = kv;
    const t1 = now();

    const detok = tokenizer.createDetokenizer();
    const stops = new StopStringFilter(req.stop);
    let text = '';
    const emit = (s: string) => {
      if (!s) return;
      text += s;
      onText(s);
    };
    let completion = 0;
    let finishReason: FinishReason;
    let stopString = false;
    const wantLogprobs = req.sampling.logprobs !== undefined;
    const logprobs: ChatCompletionTokenLogprob[] = [];
    for (;;) {
      const token = pending.shift()!;
      completion++;
      // Taken for every sampled token, so that the EOS token's does not linger in the backend.
      const lp = wantLogprobs ? gen.takeLogprobs!() : null;
      constraint?.accept(token, tokenizer.tokenBytes(token));
      if (tokenizer.eosTokenIds.has(token)) {
        finishReason = 'stop';
        break;
      }
      if (lp) {
        const e = tokenLogprob(tokenizer, lp);
        logprobs.push(e);
        onLogprob(e);
      }
      const r = stops.push(detok.push(token));
      emit(r.text);
      if (r.stopped) {
        finishReason = 'stop';
        stopString = true;
        break;
      }
      if (completion >= req.maxTokens) {
        finishReason = 'length';
        break;
      }
      if (pending.length) continue;
      // The figures so far come along, so that a stopped reply still reports its speed.
      if (signal.aborted) throw abortedError('the request was aborted', { text, completion_tokens: completion, ...figures(ids.length, reused, completion, queuedAt, t0, t1, now()) });
      try {
        const next = await gen.decode(token, sampling(req.maxTokens - completion));
        if (next.length === 0) throw new WebmoeError('internal', 'the backend\'s decode step gave no token');
        // All but the last are in the cache now, after `token`; a reply that stops among them leaves them
        // there, which is still what `kv` says (the next prompt's reuse stops where it differs).
        kv.push(token, ...next.slice(0, -1));
        sampler.skip(next.length - 1);
        pending = [...next];
      } catch (e) {
        this.reset();
        throw e;
      }
    }
    if (!stopString) {
      // What the detokenizer still held can complete a stop string too.
      const r = stops.push(detok.flush());
      emit(r.text);
      if (r.stopped) finishReason = 'stop';
      else emit(stops.flush());
    }
    return { text, finishReason, ...figures(ids.length, reused, completion, queuedAt, t0, t1, now()), ...(wantLogprobs ? { logprobs } : {}) };
  }
}

/** Usage and timings of a request: queued until t0, prefill until t1, decoding until t2. */
export function figures(prompt: number, reused: number, completion: number, queuedAt: number, t0: number, t1: number, t2: number): { usage: CompletionUsage; timings: CompletionTimings } {
  const prefilled = prompt - reused;
  return {
    usage: {
      prompt_tokens: prompt,
      completion_tokens: completion,
      total_tokens: prompt + completion,
      prompt_tokens_details: { cached_tokens: reused },
      prefilled_tokens: prefilled,
      reused_tokens: reused,
    },
    timings: {
      queued_ms: t0 - queuedAt,
      prefill_ms: t1 - t0,
      decode_ms: t2 - t1,
      prefill_tokens_per_second: rate(prefilled, t1 - t0),
      decode_tokens_per_second: rate(completion - 1, t2 - t1),
    },
  };
}

function rate(n: number, ms: number): number {
  return ms > 0 ? (n * 1000) / ms : 0;
}
