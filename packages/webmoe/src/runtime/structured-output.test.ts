// response_format, tools / tool_choice and a continued final assistant message, end to end through the
// engine over the real DeepSeek-V3 tokenizer and chat template, with a backend whose replies are scripted
// or drawn from pseudo-random logits under the token mask (the GPU run: e2e/chat-api.spec.ts).
import { describe, expect, it } from 'vitest';
import { LocalEngine } from './engine';
import { TextTokenizer } from '../text/tokenizer';
import { isWebmoeError } from '../errors';
import type { ChatCompletionChunk, ChatCompletionCreateParamsNonStreaming, ChatMessage } from './openai-types';
import { readV3TokenizerFiles } from '../../test-support/v3-files-node';
import { ScriptedGenerator } from '../../test-support/scripted-generator';
import { schemaProblem, TEST_SCHEMAS, WEATHER_TOOL } from '../../test-support/json-schema-check';

const files = readV3TokenizerFiles();
const tokenizer = TextTokenizer.fromJson(files.tokenizerJson, files.tokenizerConfig);
const EOS = 1;
const VOCAB = 129280;

function engine(seed = 1): { e: LocalEngine; gen: ScriptedGenerator } {
  const gen = new ScriptedGenerator(VOCAB, 2048, seed);
  return { e: new LocalEngine(gen, tokenizer, { id: 'scripted', contextLength: gen.contextLength }), gen };
}

const text = (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: false });
const ask: ChatMessage[] = [{ role: 'user', content: 'Describe someone.' }];

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

async function refusal(params: object): Promise<string> {
  const { e } = engine();
  try {
    await e.chat.completions.create({ messages: ask, max_tokens: 30, ...params } as ChatCompletionCreateParamsNonStreaming);
  } catch (err) {
    if (isWebmoeError(err, 'invalid-request')) return err.message;
    throw err;
  }
  throw new Error(`accepted ${JSON.stringify(params)}`);
}

describe('response_format', () => {
  it('json_schema replies at temperature 1 from random logits all parse and validate, streamed or not', async () => {
    const { e, gen } = engine(7);
    const schema = TEST_SCHEMAS.person;
    const response_format = { type: 'json_schema', json_schema: { name: 'person', schema, strict: true } } as const;
    for (let i = 0; i < 3; i++) {
      const r = await e.chat.completions.create({ messages: ask, temperature: 1, max_tokens: 60 + 10 * i, seed: i, response_format });
      const content = r.choices[0].message.content;
      expect(schemaProblem(schema, JSON.parse(content)), content).toBeNull();
      expect(r.choices[0].finish_reason).toBe('stop');
      expect(r.usage.completion_tokens).toBeLessThanOrEqual(60 + 10 * i);
    }
    const chunks = await collect(await e.chat.completions.create({ messages: ask, temperature: 1, max_tokens: 60, seed: 99, response_format, stream: true }));
    const streamed = chunks.map((c) => c.choices[0].delta.content ?? '').join('');
    expect(schemaProblem(schema, JSON.parse(streamed)), streamed).toBeNull();
    // Every draw had a mask, and the first one allowed '{' but not a letter.
    expect(gen.masks.every((m) => m !== null)).toBe(true);
    const bit = (m: Uint32Array, id: number) => (m[id >>> 5] >>> (id & 31)) & 1;
    expect(bit(gen.masks[0]!, tokenizer.encode('{')[0])).toBe(1);
    expect(bit(gen.masks[0]!, tokenizer.encode('a')[0])).toBe(0);
  }, 900_000);

  it('json_object replies are JSON objects', async () => {
    const { e } = engine(3);
    for (let i = 0; i < 4; i++) {
      const r = await e.chat.completions.create({ messages: ask, max_tokens: 24, seed: i, response_format: { type: 'json_object' } });
      const v = JSON.parse(r.choices[0].message.content);
      expect(typeof v === 'object' && v !== null && !Array.isArray(v)).toBe(true);
    }
  }, 900_000);

  it('refuses bad formats, unsupported keywords by name, and a max_tokens the schema cannot fit in', async () => {
    expect(await refusal({ response_format: { type: 'yaml' } })).toContain('response_format.type');
    expect(await refusal({ response_format: { type: 'json_schema', json_schema: { name: 'a b', schema: {} } } })).toContain('name');
    expect(await refusal({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', format: 'email' } } } })).toContain('format');
    expect(await refusal({ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: TEST_SCHEMAS.person } }, max_tokens: 5 })).toContain('needs at least');
    expect(await refusal({ response_format: 'json' })).toContain('response_format');
  });
});

const weather = WEATHER_TOOL;
const CALL = '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>';

describe('tools with DeepSeek-V3\'s template', () => {
  const first: ChatMessage[] = [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Weather in Paris?' }];

  it('round trip: the call comes back as tool_calls, the result renders as the template writes it, then the answer', async () => {
    const { e, gen } = engine();
    gen.setScript([...tokenizer.encode(CALL), EOS]);
    const r1 = await e.chat.completions.create({ messages: first, tools: [weather] });
    const prompt1 = text(gen.prompts[0]);
    expect(prompt1.startsWith('<｜begin▁of▁sentence｜>Be brief.\n\n## Tools')).toBe(true);
    expect(prompt1).toContain('### get_weather\nThe weather in a city.');
    expect(prompt1).toContain(JSON.stringify(weather.function.parameters));
    expect(prompt1.endsWith('<｜User｜>Weather in Paris?<｜Assistant｜>')).toBe(true);
    const m = r1.choices[0].message;
    expect(r1.choices[0].finish_reason).toBe('tool_calls');
    expect(m.content).toBe('');
    expect(m.tool_calls).toHaveLength(1);
    const call = m.tool_calls![0];
    expect(call).toEqual({ id: expect.stringMatching(/^call_/), type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } });

    gen.setScript([...tokenizer.encode('It is 21 degrees.'), EOS]);
    const r2 = await e.chat.completions.create({
      messages: [...first, { role: 'assistant', content: null, tool_calls: [call] }, { role: 'tool', tool_call_id: call.id, content: '{"temp": 21}' }],
      tools: [weather],
    });
    const prompt2 = text(gen.prompts[1]);
    // DeepSeek-V3's template: the call in the assistant turn, the results in an outputs block, and the
    // answer follows it directly.
    const turn = '<｜User｜>Weather in Paris?<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Paris"}\n```<｜tool▁call▁end｜>'
      + '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>{"temp": 21}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>';
    expect(prompt2.endsWith(turn), prompt2.slice(-400)).toBe(true);
    expect(r2.choices[0].message).toEqual({ role: 'assistant', content: 'It is 21 degrees.', refusal: null });
    expect(r2.choices[0].finish_reason).toBe('stop');
  });

  it('streams the call as delta.tool_calls: index, id and name first, then the arguments in pieces', async () => {
    const { e, gen } = engine();
    const two = CALL.replace('<｜tool▁calls▁end｜>', '\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{"city": "Rome", "days": 2}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>');
    gen.setScript([...tokenizer.encode(`Let me check.${two}`), EOS]);
    const chunks = await collect(await e.chat.completions.create({ messages: first, tools: [weather], stream: true }));
    const calls: { id?: string; name?: string; args: string }[] = [];
    let content = '';
    for (const c of chunks) {
      content += c.choices[0].delta.content ?? '';
      for (const t of c.choices[0].delta.tool_calls ?? []) {
        calls[t.index] ??= { args: '' };
        if (t.id) calls[t.index].id = t.id;
        if (t.function?.name) calls[t.index].name = t.function.name;
        calls[t.index].args += t.function?.arguments ?? '';
      }
    }
    expect(content).toBe('Let me check.');
    expect(calls.map((c) => [c.name, JSON.parse(c.args)])).toEqual([['get_weather', { city: 'Paris' }], ['get_weather', { city: 'Rome', days: 2 }]]);
    expect(new Set(calls.map((c) => c.id)).size).toBe(2);
    expect(chunks.filter((c) => c.choices[0].delta.tool_calls).length).toBeGreaterThan(3);
    expect(chunks[chunks.length - 1].choices[0].finish_reason).toBe('tool_calls');

    gen.setScript([...tokenizer.encode(`Let me check.${two}`), EOS]);
    const single = await e.chat.completions.create({ messages: first, tools: [weather], parallel_tool_calls: false });
    expect(single.choices[0].message.tool_calls?.map((c) => c.function.arguments)).toEqual(['{"city": "Paris"}']);
  });

  it('tool_choice naming a function forces one valid call from random logits; none leaves the tools out', async () => {
    const { e, gen } = engine(5);
    for (let i = 0; i < 2; i++) {
      const r = await e.chat.completions.create({ messages: first, tools: [weather], tool_choice: { type: 'function', function: { name: 'get_weather' } }, max_tokens: 220, seed: i });
      expect(r.choices[0].finish_reason).toBe('tool_calls');
      const c = r.choices[0].message.tool_calls![0];
      expect(c.function.name).toBe('get_weather');
      expect(schemaProblem(weather.function.parameters, JSON.parse(c.function.arguments)), c.function.arguments).toBeNull();
    }
    gen.setScript([...tokenizer.encode('Sunny.'), EOS]);
    await e.chat.completions.create({ messages: first, tools: [weather], tool_choice: 'none' });
    expect(text(gen.prompts[gen.prompts.length - 1])).not.toContain('get_weather');
  }, 900_000);

  it('refuses malformed tools and choices by field', async () => {
    expect(await refusal({ tools: [{ type: 'function', function: { name: 'bad name' } }] })).toContain('tools[0].function.name');
    expect(await refusal({ tools: [weather, weather] })).toContain('twice');
    expect(await refusal({ tools: [{ type: 'retrieval' }] })).toContain('tools[0]');
    expect(await refusal({ tools: [weather], tool_choice: { type: 'function', function: { name: 'nope' } } })).toContain('tool_choice');
    expect(await refusal({ tool_choice: 'required' })).toContain('tool_choice');
    expect(await refusal({ tools: [weather], tool_choice: 'sometimes' })).toContain('tool_choice');
    expect(await refusal({ tools: [weather], parallel_tool_calls: 'yes' })).toContain('parallel_tool_calls');
    const unsupported = { ...weather, function: { ...weather.function, parameters: { type: 'object', properties: { city: { type: 'string', minLength: 2 } } } } };
    expect(await refusal({ tools: [unsupported], tool_choice: 'required' })).toContain('minLength');
  });
});

describe('a final assistant message is continued', () => {
  it('the prompt ends with its text, unclosed; the reply is the continuation only', async () => {
    const { e, gen } = engine();
    gen.setScript([...tokenizer.encode(' a time, a cat.'), EOS]);
    const r = await e.chat.completions.create({ messages: [{ role: 'user', content: 'Tell a story.' }, { role: 'assistant', content: 'Once upon' }] });
    expect(text(gen.prompts[0])).toBe('<｜begin▁of▁sentence｜><｜User｜>Tell a story.<｜Assistant｜>Once upon');
    expect(r.choices[0].message.content).toBe(' a time, a cat.');
  });

  it('with a response format, the prefix is where the grammar starts', async () => {
    const { e } = engine(11);
    const schema = TEST_SCHEMAS.person;
    const prefix = '{"name":"Ada","age":';
    const r = await e.chat.completions.create({
      messages: [...ask, { role: 'assistant', content: prefix }], max_tokens: 40, seed: 2,
      response_format: { type: 'json_schema', json_schema: { name: 'p', schema } },
    });
    const whole = prefix + r.choices[0].message.content;
    expect(schemaProblem(schema, JSON.parse(whole)), whole).toBeNull();
    expect(await refusal({ messages: [...ask, { role: 'assistant', content: 'Sure: ' }], response_format: { type: 'json_object' } })).toContain('final assistant message');
  }, 900_000);
});
