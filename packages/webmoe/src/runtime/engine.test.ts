// The chat runtime's mechanics over the test-only toy generator and the real DeepSeek-V3 tokenizer
// (Worker and IndexedDB are covered in Chromium: e2e/runtime.spec.ts).
import { describe, expect, it } from 'vitest';
import { LocalEngine, type Engine } from './engine';
import { TextTokenizer } from '../text/tokenizer';
import { isWebmoeError } from '../errors';
import type { ChatCompletionChunk, ChatMessage } from './openai-types';
import { ToyGenerator, toyWords, type ToyOptions } from '../../test-support/toy-generator';
import { readV3TokenizerFiles } from '../../test-support/v3-files-node';

const files = readV3TokenizerFiles();
const tokenizer = TextTokenizer.fromJson(files.tokenizerJson, files.tokenizerConfig);
const words = toyWords(tokenizer);

function engine(o: Partial<ToyOptions> = {}): { engine: LocalEngine; toy: ToyGenerator } {
  const toy = new ToyGenerator({ contextLength: 400, words, eosTokenId: 1, seed: 42, eosBias: 3, ...o });
  return { engine: new LocalEngine(toy, tokenizer, { id: 'toy', contextLength: toy.contextLength }), toy };
}

const hello: ChatMessage[] = [
  { role: 'system', content: 'You are a cat.' },
  { role: 'user', content: 'Tell me a story.' },
];

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<{ text: string; chunks: ChatCompletionChunk[] }> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return { text: chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), chunks };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

describe('chat completions over a Generator', () => {
  it('streamed chunks concatenate to the non-streamed text at temperature 0', async () => {
    const { engine: e } = engine();
    const full = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 60 });
    const { text, chunks } = await collect(await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 60, stream: true }));
    expect(full.choices[0].message.content.length).toBeGreaterThan(20);
    expect(text).toBe(full.choices[0].message.content);
    expect(text).not.toContain('\uFFFD');
    expect(/[🤖🦄🎉日本語]/u.test(text), 'the reply has characters split across tokens').toBe(true);
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    const last = chunks[chunks.length - 1];
    expect(last.choices[0].finish_reason).toBe(full.choices[0].finish_reason);
    expect(last.usage?.completion_tokens).toBe(full.usage.completion_tokens);
    expect(last.usage?.prompt_tokens).toBe(full.usage.prompt_tokens);
    expect(last.timings?.decode_tokens_per_second).toBeGreaterThan(0);
    expect(chunks.slice(0, -1).every((c) => c.usage === undefined && c.choices[0].finish_reason === null)).toBe(true);
    expect(full.object).toBe('chat.completion');
    expect(full.usage.total_tokens).toBe(full.usage.prompt_tokens + full.usage.completion_tokens);
  });

  it('finishes with length at max_tokens and with stop at EOS (EOS not in the text)', async () => {
    const { engine: e } = engine({ eosBias: -1 });
    const short = await engine().engine.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 3 });
    expect(short.choices[0].finish_reason).toBe('length');
    expect(short.usage.completion_tokens).toBe(3);
    const free = await e.chat.completions.create({ messages: hello, temperature: 0 });
    expect(free.choices[0].finish_reason).toBe('stop');
    // The EOS token counts as generated but prints nothing.
    expect(tokenizer.encode(free.choices[0].message.content)).toHaveLength(free.usage.completion_tokens - 1);
  });

  it('cuts at a stop string that spans tokens', async () => {
    const { engine: e } = engine();
    const full = (await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 60 })).choices[0].message.content;
    const stop = full.slice(9, 16);
    const at = full.indexOf(stop);
    for (const stream of [false, true] as const) {
      const r = stream
        ? await collect(await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 60, stop: [stop], stream }))
        : { text: (await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 60, stop })).choices[0].message.content };
      expect(r.text).toBe(full.slice(0, at));
    }
  });

  it('is reproducible with a seed at temperature 1', async () => {
    const a = await engine().engine.chat.completions.create({ messages: hello, temperature: 1, seed: 5, max_tokens: 40 });
    const b = await engine().engine.chat.completions.create({ messages: hello, temperature: 1, seed: 5, max_tokens: 40 });
    const c = await engine().engine.chat.completions.create({ messages: hello, temperature: 1, seed: 6, max_tokens: 40 });
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
    expect(c.choices[0].message.content).not.toBe(a.choices[0].message.content);
  });

  it('reuses the conversation prefix on the next turn and gives what a fresh run gives', async () => {
    const { engine: e, toy } = engine();
    const turn1 = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 30 });
    expect(turn1.usage.reused_tokens).toBe(0);
    const messages2: ChatMessage[] = [...hello, { role: 'assistant', content: turn1.choices[0].message.content }, { role: 'user', content: 'And then?' }];
    const turn2 = await e.chat.completions.create({ messages: messages2, temperature: 0, max_tokens: 30 });
    // The cache holds turn 1's prompt and every reply token but the last (sampled, never fed back).
    expect(turn1.choices[0].finish_reason).toBe('length');
    expect(turn2.usage.reused_tokens).toBe(turn1.usage.prompt_tokens + turn1.usage.completion_tokens - 1);
    expect(turn2.usage.prefilled_tokens).toBe(turn2.usage.prompt_tokens - turn2.usage.reused_tokens);
    expect(turn2.usage.prompt_tokens_details.cached_tokens).toBe(turn2.usage.reused_tokens);
    expect(turn2.usage.prefilled_tokens).toBeLessThan(turn2.usage.prompt_tokens / 2);
    expect(toy.prefills[1]).toEqual({ reused: turn2.usage.reused_tokens, computed: turn2.usage.prefilled_tokens });
    const fresh = await engine().engine.chat.completions.create({ messages: messages2, temperature: 0, max_tokens: 30 });
    expect(fresh.usage.reused_tokens).toBe(0);
    expect(turn2.choices[0].message.content).toBe(fresh.choices[0].message.content);
    // A different conversation shares only the BOS + system part.
    const other = await e.chat.completions.create({ messages: [{ role: 'user', content: 'Hi' }], temperature: 0, max_tokens: 5 });
    expect(other.usage.reused_tokens).toBe(1);
    await e.resetChat();
    expect((await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 5 })).usage.reused_tokens).toBe(0);
  });

  it('aborts mid-reply within one decode step and stays ready', async () => {
    const { engine: e, toy } = engine({ stepDelayMs: 2 });
    const controller = new AbortController();
    const stream = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 200, stream: true, signal: controller.signal });
    let pieces = 0;
    let stepsAtAbort = 0;
    const err = await rejection(
      (async () => {
        for await (const c of stream) {
          if (c.choices[0]?.delta.content && ++pieces === 5) {
            stepsAtAbort = toy.decodeSteps;
            controller.abort();
          }
        }
      })(),
    );
    expect(isWebmoeError(err, 'aborted')).toBe(true);
    expect(toy.decodeSteps - stepsAtAbort).toBeLessThanOrEqual(1);
    // Ready: the next request runs, and (reusing what the aborted one left) matches a fresh engine.
    const next = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 20 });
    const fresh = await engine().engine.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 20 });
    expect(next.choices[0].message.content).toBe(fresh.choices[0].message.content);
  });

  it('stops generating when the consumer breaks out of the stream', async () => {
    const { engine: e, toy } = engine({ stepDelayMs: 2 });
    const stream = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 200, stream: true });
    for await (const c of stream) if (c.choices[0]?.delta.content) break;
    const steps = toy.decodeSteps;
    const after = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 2 });
    expect(after.usage.completion_tokens).toBe(2);
    expect(steps).toBeLessThan(10);
  });

  it('queues requests: one generation at a time, each as if alone', async () => {
    const { engine: e, toy } = engine({ stepDelayMs: 1 });
    const order: string[] = [];
    const run = async (name: string, messages: ChatMessage[]) => {
      const s = await e.chat.completions.create({ messages, temperature: 0, max_tokens: 15, stream: true });
      let text = '';
      for await (const c of s) {
        const t = c.choices[0]?.delta.content;
        if (t) {
          order.push(name);
          text += t;
        }
      }
      return text;
    };
    const other: ChatMessage[] = [{ role: 'user', content: 'Something else entirely.' }];
    const [a, b] = await Promise.all([run('a', hello), run('b', other)]);
    expect(order.join('')).toMatch(/^a+b+$/);
    expect(toy.prefills).toHaveLength(2);
    const aloneA = await engine().engine.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 15 });
    const aloneB = await engine().engine.chat.completions.create({ messages: other, temperature: 0, max_tokens: 15 });
    expect([a, b]).toEqual([aloneA.choices[0].message.content, aloneB.choices[0].message.content]);
  });

  it('a request aborted while queued leaves at once and never runs', async () => {
    const { engine: e, toy } = engine({ stepDelayMs: 2 });
    const first = e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 30 });
    const controller = new AbortController();
    const second = e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 30, signal: controller.signal });
    setTimeout(() => controller.abort(), 5);
    expect(isWebmoeError(await rejection(second), 'aborted')).toBe(true);
    expect((await first).usage.completion_tokens).toBe(30);
    expect(toy.prefills).toHaveLength(1);
  });

  it('rejects a prompt past the context before any work, and bad parameters', async () => {
    const { engine: e, toy } = engine({ contextLength: 64 });
    const long: ChatMessage[] = [{ role: 'user', content: 'word '.repeat(100) }];
    const err = await rejection(e.chat.completions.create({ messages: long }));
    expect(isWebmoeError(err, 'context-overflow')).toBe(true);
    expect((err as Error).message).toMatch(/context holds 64/);
    const err2 = await rejection(e.chat.completions.create({ messages: hello, max_tokens: 60, stream: true }));
    expect(isWebmoeError(err2, 'context-overflow')).toBe(true);
    expect(toy.prefills).toHaveLength(0);
    for (const bad of [{ temperature: 3 }, { top_p: 0 }, { top_k: 1.5 }, { n: 2 }, { max_tokens: 0 }]) {
      expect(isWebmoeError(await rejection(e.chat.completions.create({ messages: hello, ...bad })), 'invalid-request'), JSON.stringify(bad)).toBe(true);
    }
    expect(isWebmoeError(await rejection(e.chat.completions.create({ messages: [{ role: 'wizard' as 'user', content: 'x' }] })), 'invalid-request')).toBe(true);
    // Without max_tokens the reply gets whatever room is left.
    const r = await e.chat.completions.create({ messages: hello, temperature: 0 });
    expect(r.usage.total_tokens).toBeLessThanOrEqual(64);
  });

  it('accepts text content parts and the developer role', async () => {
    const { engine: e } = engine();
    const a = await e.chat.completions.create({ messages: [{ role: 'developer', content: [{ type: 'text', text: 'You are ' }, { type: 'text', text: 'a cat.' }] }, hello[1]], temperature: 0, max_tokens: 10 });
    const b = await engine().engine.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 10 });
    expect(a.choices[0].message.content).toBe(b.choices[0].message.content);
  });
});

// Type-level check: the Engine interface's overloads pick the streaming result type.
export type _StreamType = Awaited<ReturnType<Engine['chat']['completions']['create']>>;
