// Decode steps that give several tokens (a speculative backend, Generator.decode): the runtime must make of
// them exactly the reply that one-token steps give, cutting in the middle of a step at max_tokens, EOS and
// stop strings, and reuse on the next turn only what the cache holds. The toy backend with
// `tokensPerStep` draws each token as its one-token steps would, so the expected replies come from the
// same toy at one token per step.
import { describe, expect, it } from 'vitest';
import { LocalEngine } from './engine';
import { TextTokenizer } from '../text/tokenizer';
import type { ChatCompletionCreateParamsNonStreaming, ChatMessage } from './openai-types';
import { ToyGenerator, toyWords } from '../../test-support/toy-generator';
import { readV3TokenizerFiles } from '../../test-support/v3-files-node';

const files = readV3TokenizerFiles();
const tokenizer = TextTokenizer.fromJson(files.tokenizerJson, files.tokenizerConfig);
const words = toyWords(tokenizer);
const hello: ChatMessage[] = [{ role: 'user', content: 'Tell me a story.' }];

function engine(tokensPerStep: number, eosBias = 3): { e: LocalEngine; toy: ToyGenerator } {
  const toy = new ToyGenerator({ contextLength: 400, words, eosTokenId: 1, seed: 7, eosBias, tokensPerStep });
  return { e: new LocalEngine(toy, tokenizer, { id: 'toy', contextLength: toy.contextLength }), toy };
}

type Params = Omit<ChatCompletionCreateParamsNonStreaming, 'messages'>;

async function reply(tokensPerStep: number, params: Params, eosBias?: number) {
  const { e, toy } = engine(tokensPerStep, eosBias);
  const r = await e.chat.completions.create({ messages: hello, ...params });
  return { text: r.choices[0].message.content, finish: r.choices[0].finish_reason, tokens: r.usage.completion_tokens, steps: toy.decodeSteps };
}

describe('multi-token decode steps', () => {
  it('give the replies of one-token steps at max_tokens, EOS and stop strings, greedy and seeded', async () => {
    const full = await reply(1, { temperature: 0, max_tokens: 80 });
    const cases: Params[] = [
      ...[1, 2, 5, 6, 7, 31].map((n) => ({ temperature: 0, max_tokens: n })),
      { temperature: 1, seed: 11, max_tokens: 50 },
      { temperature: 0.7, seed: 3, top_p: 0.9, max_tokens: 50 },
      // Stop strings that end inside each of a few steps.
      ...[9, 14, 23].map((at) => ({ temperature: 0, max_tokens: 80, stop: [full.text.slice(at, at + 5)] })),
    ];
    for (const k of [2, 3, 4]) {
      for (const params of cases) {
        const plain = await reply(1, params);
        const multi = await reply(k, params);
        expect(multi, `${k} tokens per step, ${JSON.stringify(params)}`).toEqual({ ...plain, steps: multi.steps });
        if (plain.tokens > k) expect(multi.steps).toBeLessThan(plain.steps);
      }
      // EOS inside a step (a toy that ends its replies early).
      const eos = await reply(1, { temperature: 0, max_tokens: 200 }, -1);
      expect(eos.finish).toBe('stop');
      expect(await reply(k, { temperature: 0, max_tokens: 200 }, -1)).toEqual({ ...eos, steps: expect.any(Number) });
    }
  });

  it('reuse on the next turn what the cache holds after a reply cut in the middle of a step', async () => {
    const { e, toy } = engine(3);
    const turn1 = await e.chat.completions.create({ messages: hello, temperature: 0, max_tokens: 8 });
    const messages2: ChatMessage[] = [...hello, { role: 'assistant', content: turn1.choices[0].message.content }, { role: 'user', content: 'More.' }];
    const turn2 = await e.chat.completions.create({ messages: messages2, temperature: 0, max_tokens: 20 });
    // The toy refuses to keep positions that do not hold the prompt's ids, so a wrong reuse throws.
    expect(turn2.usage.reused_tokens).toBeGreaterThanOrEqual(turn1.usage.prompt_tokens);
    expect(toy.prefills[1].reused).toBe(turn2.usage.reused_tokens);
    const fresh = await engine(1).e.chat.completions.create({ messages: messages2, temperature: 0, max_tokens: 20 });
    expect(turn2.choices[0].message.content).toBe(fresh.choices[0].message.content);
  });
});
