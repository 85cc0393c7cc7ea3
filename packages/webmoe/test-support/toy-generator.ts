// TEST ONLY: a deterministic CPU stand-in for the WebGPU forward pass, so that the runtime (queue, prefix
// reuse, streaming, abort, Worker, loading) can be tested before and independently of the model. It is
// not a model and is not exported by webmoe.
//
// Its "logits" are a hash of everything in its KV cache (the ids it was given), so a runtime that reuses
// the wrong prefix gets different tokens than a fresh run; it also refuses outright to keep positions that
// do not hold the prompt's ids. Replies are built from whole words whose tokens split UTF-8 characters
// (emoji, CJK), so that the streaming detokenizer is exercised: a non-final piece of a word forces the
// next piece.
import { TextTokenizer, TokenCounts, WebmoeError, penalizeLogits, sampleLogits, type Generator, type GeneratorFactory, type PrefillOptions, type PrefillResult, type SampledLogprobs, type SamplingParams } from 'webmoe';

// Every word starts with a space, so that the tokenizer encodes a reply's text back to the very tokens that
// were generated (as a real model's replies mostly do), and multi-turn prefix reuse can be checked exactly.
export const TOY_WORDS = [' the', ' cat', ' sat', ' on', ' a', ' warm', ' mat', ' .', ' 🤖', ' 🦄', ' 日本語', ' café', ' naïve', ' Ελλάδα', ' ,', ' and', ' then', ' slept', ' 🎉', ' 𝔘𝔫𝔦'];

export interface ToyOptions {
  readonly contextLength: number;
  /** Each word as token ids; a word's non-final pieces must not appear in any other word. */
  readonly words: readonly (readonly number[])[];
  readonly eosTokenId: number;
  /** Mixed into every hash: the weights' checksum when loaded through the cache. */
  readonly seed: number;
  /** Subtracted from EOS's logit (larger: longer replies). */
  readonly eosBias?: number;
  readonly stepDelayMs?: number;
  /**
   * Tokens per decode step, as a speculative backend whose drafts are always accepted gives them (1 by
   * default); steps that ask for logprobs or carry a token mask give one. Each token draws as plain decoding's would.
   */
  readonly tokensPerStep?: number;
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h, 0x85ebca77);
  return (h ^ (h >>> 13)) >>> 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class ToyGenerator implements Generator {
  readonly contextLength: number;
  /** What the runtime asked of it, for tests: per prefill, positions kept and computed. */
  readonly prefills: { reused: number; computed: number }[] = [];
  decodeSteps = 0;
  private kv: number[] = [];
  /** What penalties read, kept as a backend must (SamplingPenalties): from the prompt, plus each token it samples. */
  private tokenCounts = new TokenCounts();
  private lastLogprobs: SampledLogprobs | null = null;
  /** hashes[i] = hash of kv[0..i). */
  private hashes: number[];
  private readonly firstPieces: number[];
  private readonly continuation = new Map<number, number>();

  constructor(private readonly o: ToyOptions) {
    this.contextLength = o.contextLength;
    this.hashes = [o.seed >>> 0];
    this.firstPieces = o.words.map((w) => w[0]);
    for (const w of o.words) for (let i = 0; i + 1 < w.length; i++) this.continuation.set(w[i], w[i + 1]);
  }

  async prefill(ids: readonly number[], { reusePrefix, sampling, signal }: PrefillOptions): Promise<PrefillResult> {
    if (reusePrefix >= ids.length) throw new WebmoeError('internal', `toy: reusePrefix ${reusePrefix} leaves nothing to prefill`);
    if (reusePrefix > this.kv.length || this.kv.slice(0, reusePrefix).some((id, i) => id !== ids[i])) {
      throw new WebmoeError('internal', `toy: asked to keep ${reusePrefix} positions that do not hold the prompt's ids`);
    }
    if (ids.length > this.contextLength) throw new WebmoeError('context-overflow', 'toy: prompt past the context');
    this.truncate(reusePrefix);
    for (let i = reusePrefix; i < ids.length; i++) {
      if (signal?.aborted) throw new WebmoeError('aborted', 'toy: prefill aborted');
      this.append(ids[i]);
    }
    this.prefills.push({ reused: reusePrefix, computed: ids.length - reusePrefix });
    this.tokenCounts = new TokenCounts(ids);
    if (this.o.stepDelayMs) await sleep(this.o.stepDelayMs);
    return { reusedTokens: reusePrefix, next: this.sample(sampling) };
  }

  async decode(token: number, sampling: SamplingParams): Promise<number[]> {
    if (this.kv.length >= this.contextLength) throw new WebmoeError('internal', 'toy: decode past the context');
    this.append(token);
    this.decodeSteps++;
    if (this.o.stepDelayMs) await sleep(this.o.stepDelayMs);
    const k = sampling.logprobs === undefined && !sampling.allowed ? Math.max(1, Math.min(this.o.tokensPerStep ?? 1, this.contextLength - this.kv.length + 1)) : 1;
    const out = [this.sample(sampling)];
    while (out.length < k) {
      this.append(out[out.length - 1]);
      out.push(this.sample({ ...sampling, step: sampling.step + out.length }));
    }
    return out;
  }

  reset(): void {
    this.truncate(0);
  }

  private append(id: number): void {
    this.kv.push(id);
    this.hashes.push(mix(this.hashes[this.hashes.length - 1], id));
  }

  private truncate(n: number): void {
    this.kv.length = n;
    this.hashes.length = n + 1;
  }

  private sample(sampling: SamplingParams): number {
    const id = this.draw(sampling);
    this.tokenCounts.addReply(id);
    return id;
  }

  takeLogprobs(): SampledLogprobs {
    if (!this.lastLogprobs) throw new WebmoeError('internal', 'toy: no logprobs asked for');
    const r = this.lastLogprobs;
    this.lastLogprobs = null;
    return r;
  }

  private draw(sampling: SamplingParams): number {
    const forced = this.continuation.get(this.kv[this.kv.length - 1]);
    const top = sampling.logprobs;
    if (forced !== undefined) {
      // A word's later pieces are certain.
      if (top !== undefined) this.lastLogprobs = { chosen: { id: forced, logprob: 0 }, top: top > 0 ? [{ id: forced, logprob: 0 }] : [] };
      return forced;
    }
    const h = this.hashes[this.hashes.length - 1];
    const candidates = [...this.firstPieces, this.o.eosTokenId];
    const raw = candidates.map((_, j) => (mix(h, j + 1) / 2 ** 32) * 6 - 3);
    raw[raw.length - 1] -= this.o.eosBias ?? 1.5;
    const logits = sampling.penalties ? penalizeLogits(raw, sampling.penalties, this.tokenCounts, candidates) : raw;
    const j = sampleLogits(logits, sampling);
    if (top !== undefined) {
      // Of the raw logits, as the GPU backend reports them.
      const max = Math.max(...raw);
      const lse = max + Math.log(raw.reduce((s, l) => s + Math.exp(l - max), 0));
      const order = raw.map((l, k) => ({ id: candidates[k], logprob: l - lse })).sort((a, b) => b.logprob - a.logprob || a.id - b.id);
      this.lastLogprobs = { chosen: { id: candidates[j], logprob: raw[j] - lse }, top: order.slice(0, top) };
    }
    return candidates[j];
  }
}

/** Toy words as token ids of `tokenizer`, keeping only words whose non-final pieces are their own. */
export function toyWords(tokenizer: TextTokenizer): number[][] {
  const words = TOY_WORDS.map((w) => tokenizer.encode(w));
  const count = new Map<number, number>();
  for (const w of words) for (const id of w) count.set(id, (count.get(id) ?? 0) + 1);
  return words.filter((w) => w.slice(0, -1).every((id) => count.get(id) === 1));
}

/** Cheap checksum of a shard (FNV-1a over every 61st byte and the length), from its sampled bytes. */
function checksum(h: number, sampled: Uint8Array, length: number): number {
  for (const b of sampled) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return mix(h, length);
}

export interface ToyFactoryOptions {
  readonly contextLength?: number;
  readonly stepDelayMs?: number;
  readonly eosBias?: number;
  /** Called with each piece of a shard as the GPU uploader would be (tests count and inspect them). */
  readonly onShard?: (file: string, bytes: number) => void;
}

/** A GeneratorFactory that loads like the real one (every shard through the cache, compile progress). */
export function toyGeneratorFactory(options: ToyFactoryOptions = {}): GeneratorFactory {
  return async (ctx) => {
    // Pieces land where they belong, as in the GPU buffers: a shard restarted from 0 overwrites its samples.
    const sampled = ctx.manifest.shards.map((s) => new Uint8Array(Math.ceil(s.bytes / 61)));
    await ctx.loadShards((shard, data, index, offset) => {
      for (let i = (61 - (offset % 61)) % 61; i < data.length; i += 61) sampled[index][(offset + i) / 61] = data[i];
      options.onShard?.(shard.file, data.byteLength);
    });
    let seed = 0x811c9dc5;
    ctx.manifest.shards.forEach((s, i) => (seed = checksum(seed, sampled[i], s.bytes)));
    const bytesTotal = ctx.manifest.shards.reduce((n, s) => n + s.bytes, 0);
    const shardsTotal = ctx.manifest.shards.length;
    for (let step = 1; step <= 3; step++) ctx.onProgress({ phase: 'compile', bytesDone: bytesTotal, bytesTotal, shardsDone: shardsTotal, shardsTotal, stepsDone: step, stepsTotal: 3 });
    const tokenizer = TextTokenizer.fromJson(await ctx.fetchJson('tokenizer.json'), await ctx.fetchJson('tokenizer_config.json'));
    return new ToyGenerator({
      contextLength: ctx.contextLength ?? 512,
      words: toyWords(tokenizer),
      eosTokenId: [...tokenizer.eosTokenIds][0],
      seed,
      ...(options.eosBias !== undefined ? { eosBias: options.eosBias } : {}),
      ...(options.stepDelayMs ? { stepDelayMs: options.stepDelayMs } : {}),
    });
  };
}
