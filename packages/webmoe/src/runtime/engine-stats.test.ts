// engine.stats(): the backend's counters are reset before each reply and read once, after it, in order
// with the queue; the last finished reply's figures come along. A toy backend counts its "expert" picks
// per token so that the expected numbers follow from the reply's own usage.
import { describe, expect, it } from 'vitest';
import { LocalEngine } from './engine';
import { TextTokenizer } from '../text/tokenizer';
import { isWebmoeError } from '../errors';
import type { GeneratorStats, PrefillOptions, PrefillResult, SamplingParams } from '../executor/generator';
import type { ChatMessage } from './openai-types';
import { ToyGenerator, toyWords } from '../../test-support/toy-generator';
import { readV3TokenizerFiles } from '../../test-support/v3-files-node';

const files = readV3TokenizerFiles();
const tokenizer = TextTokenizer.fromJson(files.tokenizerJson, files.tokenizerConfig);
const words = toyWords(tokenizer);
const hello: ChatMessage[] = [{ role: 'user', content: 'Tell me a story.' }];

/** Layer 1 "routes" every computed position to expert (token mod 4); reads are counted. */
class CountingToy extends ToyGenerator {
  counts = [0, 0, 0, 0];
  resets = 0;
  reads = 0;
  computed = 0;

  override async prefill(ids: readonly number[], o: PrefillOptions): Promise<PrefillResult> {
    const r = await super.prefill(ids, o);
    for (const id of ids.slice(r.reusedTokens)) this.pick(id);
    return r;
  }

  override async decode(token: number, s: SamplingParams): Promise<number[]> {
    this.pick(token);
    return super.decode(token, s);
  }

  private pick(id: number): void {
    this.counts[id % 4]++;
    this.computed++;
  }

  resetStats(): void {
    this.resets++;
    this.counts = [0, 0, 0, 0];
    this.computed = 0;
  }

  async stats(): Promise<GeneratorStats> {
    this.reads++;
    return {
      memory: { weights: 1000, kvCache: 200, scratch: 30 },
      kvBytesPerToken: { latent: 8, mha: 64 },
      cachedTokens: 0,
      experts: 4,
      expertUsage: [{ layer: 1, counts: [...this.counts] }],
    };
  }
}

function engine(): { engine: LocalEngine; toy: CountingToy } {
  const toy = new CountingToy({ contextLength: 400, words, eosTokenId: 1, seed: 42, eosBias: 8, stepDelayMs: 1 });
  return { engine: new LocalEngine(toy, tokenizer, { id: 'toy', contextLength: toy.contextLength }), toy };
}

describe('engine.stats()', () => {
  it('reports nothing of the model for a backend without stats, and no reply before the first', async () => {
    const plain = new ToyGenerator({ contextLength: 400, words, eosTokenId: 1, seed: 1 });
    const e = new LocalEngine(plain, tokenizer, { id: 'toy', contextLength: 400 });
    expect(await e.stats()).toEqual({ model: null, lastReply: null });
    await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 4 });
    expect((await e.stats()).lastReply?.usage.completion_tokens).toBe(4);
  });

  it('covers exactly the last reply: reset before it, read once after it', async () => {
    const { engine: e, toy } = engine();
    const first = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 7 });
    const second = await e.chat.completions.create({ messages: [...hello, first.choices[0].message, { role: 'user', content: 'More.' }], temperature: 0, max_tokens: 5 });
    expect(toy.resets).toBe(2);
    expect(toy.reads).toBe(0);
    const s = await e.stats();
    expect(toy.reads).toBe(1);
    // Positions computed in the second reply: its prefilled prompt part plus one per decode step.
    const computed = second.usage.prefilled_tokens + second.usage.completion_tokens - 1;
    expect(s.model?.expertUsage[0].counts.reduce((a, b) => a + b, 0)).toBe(computed);
    expect(second.usage.reused_tokens).toBeGreaterThan(0);
    expect(s.lastReply).toEqual({ finishReason: second.choices[0].finish_reason, usage: second.usage, timings: second.timings });
    expect(s.model?.memory).toEqual({ weights: 1000, kvCache: 200, scratch: 30 });
  });

  it('waits for the running reply; a reply stopped while decoding reports its figures so far', async () => {
    const { engine: e, toy } = engine();
    const done = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 3 });
    const controller = new AbortController();
    const stream = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 300, stream: true, signal: controller.signal });
    const stats = e.stats(); // asked while the reply runs: answered after it
    let pieces = 0;
    let err: unknown = null;
    try {
      for await (const c of stream) if (c.choices[0]?.delta.content && ++pieces === 6) controller.abort();
    } catch (e) {
      err = e;
    }
    expect(isWebmoeError(err, 'aborted')).toBe(true);
    const s = await stats;
    expect(s.model?.expertUsage[0].counts.reduce((a, b) => a + b, 0)).toBe(toy.computed);
    expect(toy.computed).toBeGreaterThan(6);
    expect(s.lastReply?.finishReason).toBe('aborted');
    expect(s.lastReply?.usage.completion_tokens).toBe(toy.decodeSteps - done.usage.completion_tokens + 2);
    expect(s.lastReply?.usage.prompt_tokens).toBe(done.usage.prompt_tokens);
    expect(s.lastReply?.timings.decode_tokens_per_second).toBeGreaterThan(0);
  });
});
