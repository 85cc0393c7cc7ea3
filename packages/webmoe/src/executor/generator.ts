// The contract between the chat runtime and a model backend (the WebGPU forward pass, or a test toy). The
// runtime owns the conversation: prompts, prefix reuse decisions, sampling randomness, stopping; the backend
// owns the weights, the KV cache and the logits, and is driven one request at a time. It lives beside the
// executor so that the executor depends on nothing in runtime/.
import type { AdapterSummary } from '../gpu/device';
import type { TokenLogprob } from '../kernels/logprobs';
import type { PagingStats } from './expert-pager';

/** How to pick a token from logits; the rule is written at the top of sampling.ts (and shaders/sample.wgsl). */
export interface SamplingParams {
  /** ≤ 0 → greedy (argmax, lowest id on ties). */
  readonly temperature: number;
  /** Nucleus mass in (0, 1]; 1 → off. */
  readonly topP: number;
  /** Keep the k most likely tokens (with ties); 0 → off. */
  readonly topK: number;
  /** u32; with `step` it fixes the draw (sampleUniform(seed, step)), so every backend agrees for one seed. */
  readonly seed: number;
  /** 0 for the token after the prompt, then 1, 2, … per generated token of the request. */
  readonly step: number;
  /** Keep tokens whose probability is at least minP × the most likely one's (after top-k/top-p); 0 or absent → off. */
  readonly minP?: number;
  /** Logit adjustments from the request, applied before everything else; absent → none. */
  readonly penalties?: SamplingPenalties;
  /** Report the sampled token's log-probability and this many top alternatives (0 … 20); absent → none. */
  readonly logprobs?: number;
  /**
   * Constrained decoding: the tokens that may be drawn, bit id % 32 of word id / 32 set ([ceil(vocab / 32)]
   * words); every other token's logit counts as −∞ before everything else. Absent → all. The mask holds
   * for this one draw: a backend that drafts further tokens in one step must not when a mask is given.
   */
  readonly allowed?: Uint32Array;
}

/** Log-probabilities (log-softmax of the raw logits) of a sampled token and of the most likely ones. */
export interface SampledLogprobs {
  readonly chosen: TokenLogprob;
  /** Most likely first (lower id first among equals). */
  readonly top: readonly TokenLogprob[];
}

/**
 * What a request adds to the logits before sampling, in this order: l += logitBias[id] (≤ −100 bans: −∞);
 * for a token seen in the prompt or the reply so far, l = l > 0 ? l / repetition : l · repetition;
 * then l −= frequency · c + presence · [c > 0], c = the token's count in the reply so far. The backend
 * keeps the counts: a prefill starts them from its prompt, and each token it samples adds one.
 */
export interface SamplingPenalties {
  /** [token id, bias] pairs, ids ascending and distinct. */
  readonly logitBias: readonly (readonly [number, number])[];
  /** 1 → off. */
  readonly repetition: number;
  readonly presence: number;
  readonly frequency: number;
}

export interface PrefillOptions {
  /**
   * The backend's KV cache holds the first `reusePrefix` ids of this prompt from earlier calls and may keep
   * them; everything after must be computed. Always < ids.length (the last prompt position is recomputed
   * to produce logits).
   */
  readonly reusePrefix: number;
  readonly sampling: SamplingParams;
  /** Checked between prefill chunks; a backend that stops early throws WebmoeError('aborted'). */
  readonly signal?: AbortSignal;
}

export interface PrefillResult {
  /** Positions actually kept from the cache (≤ reusePrefix); ids.length − reusedTokens were prefilled. */
  readonly reusedTokens: number;
  /** The token sampled after the last prompt position. */
  readonly next: number;
}

/** What a backend reports about itself for dashboards (Generator.stats); plain data, so it crosses to the page. */
export interface GeneratorStats {
  /** GPU bytes the backend holds, by kind. */
  readonly memory: { readonly weights: number; readonly kvCache: number; readonly scratch: number };
  /** KV-cache bytes per cached token: the latent cache kept here, and a standard multi-head cache for the same model. */
  readonly kvBytesPerToken: { readonly latent: number; readonly mha: number };
  /** Positions the KV cache holds now. */
  readonly cachedTokens: number;
  /** Routed experts per MoE layer (0 for a dense model). */
  readonly experts: number;
  /** Experts chosen per MoE layer since resetStats(), prompt and reply tokens: counts[e] = picks of expert e. */
  readonly expertUsage: readonly { readonly layer: number; readonly counts: readonly number[] }[];
  /** The adapter the backend runs on. */
  readonly adapter?: AdapterSummary;
  /** Decode steps since resetStats() and what speculation made of them; absent for a backend that does not count. */
  readonly decoding?: DecodingStats;
  /** Expert paging since resetStats() (docs/paging.md): slots, hits, bytes uploaded and read; absent when every expert is resident. */
  readonly paging?: PagingStats;
}

/** Decode steps and the tokens they gave (docs/speculative.md); plain data. */
export interface DecodingStats {
  /** Whether decode steps verify a draft ('mtp'), or produce one token each ('off'). */
  readonly speculative: 'mtp' | 'off';
  readonly steps: number;
  /** Tokens the steps produced (tokens / steps: tokens per step). */
  readonly tokens: number;
  /** Drafts verified, and how many of them were accepted (accepted / drafted: the acceptance rate). */
  readonly drafted: number;
  readonly accepted: number;
  /** Drafts per verifying step (docs/speculative.md#chained-drafts); 0 when off. */
  readonly depth?: number;
  /** Steps that verified drafts. */
  readonly verified?: number;
  /**
   * acceptedAt[j]: verifying steps that accepted draft j+1 (and so every draft before it); acceptedAt[j] /
   * acceptedAt[j-1] is the chance that draft j+1 is accepted after draft j was (acceptedAt[-1] = verified).
   */
  readonly acceptedAt?: readonly number[];
}

export interface Generator {
  /** Positions the KV cache was sized for: prompt plus reply must fit. */
  readonly contextLength: number;
  /** Logits per position, when known: token ids a request names (logit_bias) must stay below it. */
  readonly vocabSize?: number;
  /** Makes the KV cache hold exactly `ids` and samples the token after them. */
  prefill(ids: readonly number[], options: PrefillOptions): Promise<PrefillResult>;
  /**
   * Appends `token` at the next position and samples the tokens after it: [t1 … tk], k ≥ 1. Plain decoding
   * gives one; a speculative backend (docs/speculative.md) may give more, t1 … tk-1 then already in the KV
   * cache after `token` and tk not (the next decode feeds it). `sampling.step` is t1's; t1+j draws as step+j
   * would. A step whose sampling asks for `logprobs` or has a mask (`allowed`) gives exactly one token. The runtime may use fewer than
   * k (a stop in the middle): the cache then holds more than it keeps, which the next prefill's reusePrefix
   * takes back.
   */
  decode(token: number, sampling: SamplingParams): Promise<readonly number[]>;
  /**
   * After a prefill or decode whose sampling asked for `logprobs`: that token's log-probabilities. A backend
   * without it cannot serve requests for logprobs (the runtime refuses them).
   */
  takeLogprobs?(): SampledLogprobs;
  /** Forgets the KV cache (after an error or abort mid-prefill the runtime calls this). */
  reset(): void;
  /** Frees GPU memory; the generator is unusable afterwards. */
  dispose?(): void;
  /** Starts a reply's counters (expert choices); the runtime calls it before each request's prefill. */
  resetStats?(): void;
  /** Reads the statistics back (one GPU readback); the runtime calls it between requests, never per token. */
  stats?(): Promise<GeneratorStats>;
}
