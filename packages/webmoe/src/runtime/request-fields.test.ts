// Every request field is implemented or refused by name; penalties, min_p and logit_bias reach the backend
// and change the reply as their definitions say (the toy backend applies them with the CPU sampler).
import { describe, expect, it } from 'vitest';
import { LocalEngine } from './engine';
import { TextTokenizer } from '../text/tokenizer';
import { isWebmoeError } from '../errors';
import type { PrefillOptions, PrefillResult, SamplingParams } from '../executor/generator';
import type { ChatCompletionCreateParamsNonStreaming, ChatMessage } from './openai-types';
import { ToyGenerator, toyWords } from '../../test-support/toy-generator';
import { readV3TokenizerFiles } from '../../test-support/v3-files-node';

const files = readV3TokenizerFiles();
const tokenizer = TextTokenizer.fromJson(files.tokenizerJson, files.tokenizerConfig);
const words = toyWords(tokenizer);
const hello: ChatMessage[] = [{ role: 'user', content: 'Tell me a story.' }];

/** Records the sampling settings of every call and the ids it returns. */
class SpyToy extends ToyGenerator {
  readonly seen: SamplingParams[] = [];
  readonly drawn: number[] = [];
  readonly vocabSize = 129280;

  override async prefill(ids: readonly number[], o: PrefillOptions): Promise<PrefillResult> {
    this.seen.push(o.sampling);
    const r = await super.prefill(ids, o);
    this.drawn.push(r.next);
    return r;
  }

  override async decode(token: number, s: SamplingParams): Promise<number[]> {
    this.seen.push(s);
    const ids = await super.decode(token, s);
    this.drawn.push(...ids);
    return ids;
  }
}

function engine(): { e: LocalEngine; toy: SpyToy } {
  const toy = new SpyToy({ contextLength: 400, words, eosTokenId: 1, seed: 42, eosBias: 3 });
  return { e: new LocalEngine(toy, tokenizer, { id: 'toy', contextLength: toy.contextLength }), toy };
}

async function refusal(params: object): Promise<{ code: string; message: string }> {
  const { e } = engine();
  try {
    await e.chat.completions.create({ messages: hello, max_tokens: 4, ...params } as ChatCompletionCreateParamsNonStreaming);
  } catch (err) {
    if (!isWebmoeError(err)) throw err;
    return { code: err.code, message: err.message };
  }
  throw new Error(`accepted ${JSON.stringify(params)}`);
}

async function accepted(params: object): Promise<SpyToy> {
  const { e, toy } = engine();
  await e.chat.completions.create({ messages: hello, max_tokens: 4, temperature: 0, ...params } as ChatCompletionCreateParamsNonStreaming);
  return toy;
}

describe('request fields', () => {
  const refused: Record<string, unknown> = {
    functions: [{ name: 'f' }], function_call: 'auto', store: true, metadata: { a: 'b' },
    service_tier: 'flex', modalities: ['text', 'audio'], audio: { voice: 'alloy', format: 'mp3' }, prediction: { type: 'content', content: 'x' },
    web_search_options: {}, verbosity: 'low', prompt_cache_key: 'k', safety_identifier: 's', made_up_field: 1,
  };
  for (const [field, value] of Object.entries(refused)) {
    it(`refuses ${field} by name`, async () => {
      const r = await refusal({ [field]: value });
      expect(r.code).toBe('invalid-request');
      expect(r.message).toContain(field);
    });
  }

  it('accepts the values that ask for nothing webmoe lacks', async () => {
    await accepted({
      logprobs: false, top_logprobs: null, response_format: { type: 'text' }, tools: [], tool_choice: 'none', store: false, service_tier: 'auto',
      modalities: ['text'], user: 'u1', stream_options: { include_usage: true }, metadata: null, function_call: 'none',
    });
  });

  const invalid: Record<string, unknown> = {
    presence_penalty: 2.5, frequency_penalty: -3, repetition_penalty: 0, min_p: 1.5, logit_bias: { 'x': 1 },
    user: 7, stream_options: { include_usage: true, other: 1 }, logprobs: 'yes', top_logprobs: 21,
    response_format: { type: 'json' }, tools: { f: 1 }, tool_choice: 'always', parallel_tool_calls: 'no',
  };
  for (const [field, value] of Object.entries(invalid)) {
    it(`refuses a bad ${field}`, async () => {
      const r = await refusal({ [field]: value });
      expect(r.code).toBe('invalid-request');
      expect(r.message).toContain(field);
    });
  }
  it('refuses top_logprobs without logprobs, and logprobs from a backend that cannot report them', async () => {
    expect((await refusal({ top_logprobs: 2 })).message).toContain('top_logprobs');
    const toy = new ToyGenerator({ contextLength: 400, words, eosTokenId: 1, seed: 42 });
    Object.defineProperty(toy, 'takeLogprobs', { value: undefined });
    const e = new LocalEngine(toy, tokenizer, { id: 'toy', contextLength: 400 });
    await expect(e.chat.completions.create({ messages: hello, logprobs: true })).rejects.toThrow(/logprobs/);
  });

  it('refuses logit_bias out of range and past the vocabulary', async () => {
    expect((await refusal({ logit_bias: { 5: -101 } })).message).toContain('logit_bias');
    expect((await refusal({ logit_bias: { 129280: 1 } })).message).toContain('129280');
  });
});

describe('penalties reach the backend', () => {
  it('passes penalties, sorted bias and min_p on every call; none when they change nothing', async () => {
    const toy = await accepted({ presence_penalty: 0.5, frequency_penalty: -0.25, repetition_penalty: 1.3, min_p: 0.1, logit_bias: { 900: 2, 17: -1, 5: 0 } });
    expect(toy.seen.length).toBeGreaterThan(1);
    for (const s of toy.seen) {
      expect(s.minP).toBe(0.1);
      expect(s.penalties).toEqual({ logitBias: [[17, -1], [900, 2]], presence: 0.5, frequency: -0.25, repetition: 1.3 });
    }
    const plain = await accepted({ presence_penalty: 0, frequency_penalty: 0, repetition_penalty: 1, logit_bias: { 5: 0 }, min_p: 0 });
    for (const s of plain.seen) {
      expect(s.penalties).toBeUndefined();
      expect(s.minP).toBeUndefined();
    }
  });

  it('logit_bias -100 bans a token the greedy reply would otherwise start with; +100 forces one', async () => {
    const base = await accepted({ max_tokens: 6 });
    const first = base.drawn[0];
    const banned = await accepted({ max_tokens: 6, logit_bias: { [first]: -100 } });
    expect(banned.drawn).not.toContain(first);
    // A word's first piece that the greedy reply does not hold: +100 makes it the first token.
    const other = words.map((w) => w[0]).find((id) => !base.drawn.includes(id));
    expect(other).toBeDefined();
    const forced = await accepted({ max_tokens: 6, logit_bias: { [other!]: 100 } });
    expect(forced.drawn[0]).toBe(other);
  });

  it('a huge presence penalty keeps a greedy reply from repeating a sampled word start', async () => {
    // Toy logits lie in [-3, 3]: a penalty of 2 on top of +100 bias pushes nothing out, so use the bias to
    // make one word start dominant and the presence penalty (with frequency) to spend it after one use.
    const start = words.map((w) => w[0]);
    const id = start[0];
    const withBias = await accepted({ max_tokens: 12, logit_bias: { [id]: 5 } });
    const uses = withBias.drawn.filter((x) => x === id).length;
    expect(uses).toBeGreaterThan(1); // without a penalty the boosted token recurs
    const penalized = await accepted({ max_tokens: 12, logit_bias: { [id]: 5 }, presence_penalty: 2, frequency_penalty: 2 });
    // After its first use its logit drops by 4 (back to the unboosted range), then by 2 more per use.
    expect(penalized.drawn.filter((x) => x === id).length).toBeLessThan(uses);
    expect(penalized.drawn[0]).toBe(id);
  });
});

describe('logprobs', () => {
  const utf8 = new TextDecoder();
  const ask = { messages: hello, max_tokens: 30, temperature: 0, logprobs: true, top_logprobs: 3 } as const;

  it('covers the reply token by token: the bytes spell the content, greedy picks the top alternative', async () => {
    const { e, toy } = engine();
    const r = await e.chat.completions.create(ask);
    const content = r.choices[0].logprobs?.content;
    expect(content).toBeTruthy();
    const eos = r.choices[0].finish_reason === 'stop' ? 1 : 0;
    expect(content!.length).toBe(r.usage.completion_tokens - eos);
    expect(utf8.decode(Uint8Array.from(content!.flatMap((t) => t.bytes ?? [])))).toBe(r.choices[0].message.content);
    expect(content!.map((t) => t.token).join('')).not.toBe(''); // pieces of split characters show as U+FFFD, the bytes above are exact
    content!.forEach((t, i) => {
      expect(t.logprob).toBeLessThanOrEqual(0);
      expect(t.top_logprobs.length).toBeGreaterThanOrEqual(1);
      expect(t.top_logprobs.length).toBeLessThanOrEqual(3);
      for (let k = 1; k < t.top_logprobs.length; k++) expect(t.top_logprobs[k].logprob).toBeLessThanOrEqual(t.top_logprobs[k - 1].logprob);
      expect(t.top_logprobs.reduce((s, a) => s + Math.exp(a.logprob), 0)).toBeLessThanOrEqual(1 + 1e-9);
      // Greedy draws the likeliest token: it is the first alternative.
      expect(t.top_logprobs[0].logprob, `token ${i}`).toBe(t.logprob);
      expect(t.top_logprobs[0].bytes).toEqual(t.bytes);
    });
    expect(toy.drawn.length).toBe(r.usage.completion_tokens);
  });

  it('streams the same entries, each with or before its text; none without logprobs', async () => {
    const whole = await engine().e.chat.completions.create(ask);
    const chunks = [];
    for await (const c of await engine().e.chat.completions.create({ ...ask, stream: true })) chunks.push(c);
    const streamed = chunks.flatMap((c) => c.choices[0].logprobs?.content ?? []);
    expect(streamed).toEqual(whole.choices[0].logprobs!.content);
    let bytes: number[] = [];
    let text = '';
    for (const c of chunks) {
      bytes = bytes.concat(...(c.choices[0].logprobs?.content ?? []).map((t) => t.bytes ?? []));
      text += c.choices[0].delta.content ?? '';
      // The text so far never runs ahead of the tokens reported so far.
      expect(utf8.decode(Uint8Array.from(bytes)).startsWith(text)).toBe(true);
    }
    const plain = await engine().e.chat.completions.create({ messages: hello, max_tokens: 5 });
    expect(plain.choices[0].logprobs).toBeNull();
  });
});
