// Chat with a DeepSeek-V4 model folder through createEngine on a CPU backend: the chat format is picked by
// the family in the manifest's config.json (V4's encoder; V2/V3's Jinja template), and V4 replies come
// back split into reasoning_content, content and tool_calls. Every expected prompt is written out by hand.
//
// The V4 tokenizer here is the real DeepSeek-V3 one plus V4's new markup tokens (at ids V3 leaves free).
// Whether V4's own tokenizer.json marks `<think>`, `</think>` and `｜DSML｜` special is not known here, so
// they are marked special: the runtime must print them to its reply parser either way.
import { describe, expect, it } from 'vitest';
import { createEngine, type LocalEngine } from './engine';
import { ModelCache } from './cache/model-cache';
import { memoryCacheStore } from './cache/store';
import { sha256Hex } from './cache/shards';
import { TextTokenizer } from '../text/tokenizer';
import { isWebmoeError } from '../errors';
import type { Generator, PrefillOptions, PrefillResult } from '../executor/generator';
import type { ChatCompletionChunk, ChatCompletionCreateParamsBase, ChatMessage } from './openai-types';
import { readV3TokenizerFiles } from '../../test-support/v3-files-node';

const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';
const USER = '<｜User｜>';
const ASSISTANT = '<｜Assistant｜>';
const REMINDER = '<｜latest_reminder｜>';

const v3Files = readV3TokenizerFiles();
const V4_TOKENS = [
  { id: 128815, content: '<think>', special: true },
  { id: 128816, content: '</think>', special: true },
  { id: 128817, content: '｜DSML｜', special: true },
  { id: 128818, content: REMINDER, special: false },
];
const v4Files = {
  tokenizerJson: {
    ...v3Files.tokenizerJson,
    added_tokens: [
      ...(v3Files.tokenizerJson.added_tokens as object[]),
      ...V4_TOKENS.map((t) => ({ ...t, single_word: false, lstrip: false, rstrip: false, normalized: false })),
    ],
  },
  // V4 releases ship no chat_template.
  tokenizerConfig: { ...Object.fromEntries(Object.entries(v3Files.tokenizerConfig).filter(([k]) => k !== 'chat_template')), add_bos_token: false },
};
const tok4 = TextTokenizer.fromJson(v4Files.tokenizerJson, v4Files.tokenizerConfig, { family: 'v4' });
const tok3 = TextTokenizer.fromJson(v3Files.tokenizerJson, v3Files.tokenizerConfig);
const THINK_END = 128816;

/** Replays a fixed reply (token ids, then EOS) and records every prompt. */
class ScriptedGenerator implements Generator {
  readonly contextLength = 4000;
  readonly prompts: number[][] = [];
  script: number[] = [];
  private at = 0;

  constructor(private readonly eos: number) {}

  async prefill(ids: readonly number[], o: PrefillOptions): Promise<PrefillResult> {
    this.prompts.push([...ids]);
    this.at = 0;
    return { reusedTokens: o.reusePrefix, next: this.next() };
  }

  async decode(): Promise<number[]> {
    return [this.next()];
  }

  reset(): void {}

  private next(): number {
    return this.script[this.at++] ?? this.eos;
  }
}

const BASE = 'https://models.test/m/';

/** A model folder (manifest with config.json, one shard, tokenizer files) as a fetch function. */
async function folderFetch(hf: Record<string, unknown> | null, tokenizer: { tokenizerJson: unknown; tokenizerConfig: unknown }): Promise<typeof fetch> {
  const files = new Map<string, Uint8Array>();
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
  const listed = async (file: string, data: Uint8Array) => {
    files.set(file, data);
    return { file, bytes: data.length, sha256: await sha256Hex(data) };
  };
  const shards = [await listed('shard-00000.bin', new Uint8Array([1, 2, 3, 4]))];
  const tokenizerFiles = [await listed('tokenizer.json', json(tokenizer.tokenizerJson)), await listed('tokenizer_config.json', json(tokenizer.tokenizerConfig))];
  files.set('manifest.json', json({ format: 'toy', ...(hf ? { model: { hf } } : {}), shards, tokenizer: tokenizerFiles }));
  return (async (input: RequestInfo | URL) => {
    const data = files.get(String(input).slice(BASE.length));
    return data ? new Response(data.slice()) : new Response('missing', { status: 404 });
  }) as typeof fetch;
}

async function load(hf: Record<string, unknown> | null, tokenizer: { tokenizerJson: unknown; tokenizerConfig: unknown } = v4Files): Promise<{ engine: LocalEngine; gen: ScriptedGenerator }> {
  const gen = new ScriptedGenerator(1); // <｜end▁of▁sentence｜> in both tokenizers
  const engine = await createEngine({
    model: BASE,
    fetch: await folderFetch(hf, tokenizer),
    cache: new ModelCache({ store: memoryCacheStore(), storage: null }),
    generator: async () => gen,
  });
  return { engine, gen };
}

const V4_CONFIG = { model_type: 'deepseek_v4', architectures: ['DeepseekV4ForCausalLM'] };
/** One V4 engine for the tests that only send requests (building the tokenizer takes seconds). */
let sharedV4: ReturnType<typeof load> | undefined;
const loadV4 = () => (sharedV4 ??= load(V4_CONFIG));

/** Runs one request and returns the prompt the backend got. */
async function prompt(engine: LocalEngine, gen: ScriptedGenerator, params: ChatCompletionCreateParamsBase): Promise<number[]> {
  await engine.chat.completions.create({ ...params, max_tokens: 3 });
  return gen.prompts[gen.prompts.length - 1];
}

/** The error a promise rejects with (a resolved value fails the checks on it). */
const rejection = (p: Promise<unknown>): Promise<unknown> => p.catch((e: unknown) => e);

async function collect(stream: AsyncIterable<ChatCompletionChunk>): Promise<ChatCompletionChunk[]> {
  const chunks: ChatCompletionChunk[] = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

const cat: ChatMessage[] = [
  { role: 'system', content: 'You are a cat.' },
  { role: 'user', content: 'Hi' },
];

describe('V4 model folder: prompts in the V4 format', () => {
  it('renders chat mode by default, ending the prompt with one </think> token', async () => {
    const { engine, gen } = await loadV4();
    const ids = await prompt(engine, gen, { messages: cat });
    expect(ids).toEqual(tok4.encode(`${BOS}You are a cat.${USER}Hi${ASSISTANT}</think>`));
    expect(ids[0]).toBe(0);
    expect(ids[ids.length - 1]).toBe(THINK_END);
  });

  it('renders thinking mode from thinking or reasoning_effort, and drops earlier reasoning', async () => {
    const { engine, gen } = await loadV4();
    const thinkingPrompt = tok4.encode(`${BOS}You are a cat.${USER}Hi${ASSISTANT}<think>`);
    expect(await prompt(engine, gen, { messages: cat, thinking: { type: 'enabled' } })).toEqual(thinkingPrompt);
    expect(await prompt(engine, gen, { messages: cat, reasoning_effort: 'low' })).toEqual(thinkingPrompt);
    expect(await prompt(engine, gen, { messages: cat, thinking: { type: 'enabled' }, reasoning_effort: 'high' })).toEqual(thinkingPrompt);
    const chatPrompt = tok4.encode(`${BOS}You are a cat.${USER}Hi${ASSISTANT}</think>`);
    expect(await prompt(engine, gen, { messages: cat, thinking: { type: 'disabled' }, reasoning_effort: 'max' })).toEqual(chatPrompt);
    expect(await prompt(engine, gen, { messages: cat, reasoning_effort: 'none' })).toEqual(chatPrompt);

    const effortMax = 'Reasoning Effort: Absolute maximum with no shortcuts permitted.\n'
      + 'You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial scenarios.\n'
      + 'Explicitly write out your entire deliberation process, documenting every intermediate step, considered alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n';
    expect(await prompt(engine, gen, { messages: cat, reasoning_effort: 'max' })).toEqual(tok4.encode(`${BOS}${effortMax}You are a cat.${USER}Hi${ASSISTANT}<think>`));

    const turns: ChatMessage[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Meow.', reasoning_content: 'I am a cat.' },
      { role: 'user', content: 'Again' },
    ];
    expect(await prompt(engine, gen, { messages: turns, thinking: { type: 'enabled' } }))
      .toEqual(tok4.encode(`${BOS}${USER}Hi${ASSISTANT}</think>Meow.${EOS}${USER}Again${ASSISTANT}<think>`));
    expect(await prompt(engine, gen, { messages: turns })).toEqual(tok4.encode(`${BOS}${USER}Hi${ASSISTANT}</think>Meow.${EOS}${USER}Again${ASSISTANT}</think>`));
  });

  it('passes developer and latest_reminder messages to the V4 format as they are', async () => {
    const { engine, gen } = await loadV4();
    const ids = await prompt(engine, gen, {
      messages: [
        { role: 'system', content: 'S' },
        { role: 'latest_reminder', content: 'Today is Monday.' },
        { role: 'developer', content: 'Be brief.' },
        { role: 'user', content: 'q' },
      ],
    });
    expect(ids).toEqual(tok4.encode(`${BOS}S${REMINDER}Today is Monday.${USER}Be brief.${USER}q${ASSISTANT}</think>`));
    expect(ids).toContain(128818);
  });

  it('rejects bad thinking settings, naming the field', async () => {
    const { engine } = await loadV4();
    const bad = [{ thinking: { type: 'on' } }, { thinking: true }, { reasoning_effort: 'extreme' }] as unknown as Partial<ChatCompletionCreateParamsBase>[];
    for (const b of bad) {
      const e = await rejection(engine.chat.completions.create({ messages: cat, ...b }));
      expect(isWebmoeError(e, 'invalid-request'), JSON.stringify(b)).toBe(true);
      expect((e as Error).message).toMatch(Object.keys(b)[0]);
    }
  });
});

describe('V4 model folder: replies split into reasoning, content and tool calls', () => {
  it('returns reasoning_content and content apart in thinking mode, streamed and not', async () => {
    const { engine, gen } = await loadV4();
    gen.script = tok4.encode('Cats purr when happy.</think>Meow! 🐱');
    expect(gen.script).toContain(THINK_END);
    const full = await engine.chat.completions.create({ messages: cat, thinking: { type: 'enabled' } });
    expect(full.choices[0].message).toEqual({ role: 'assistant', content: 'Meow! 🐱', reasoning_content: 'Cats purr when happy.', refusal: null });
    expect(full.choices[0].finish_reason).toBe('stop');

    const chunks = await collect(await engine.chat.completions.create({ messages: cat, thinking: { type: 'enabled' }, stream: true }));
    const deltas = chunks.map((c) => c.choices[0].delta);
    expect(deltas[0].role).toBe('assistant');
    expect(deltas.map((d) => d.reasoning_content ?? '').join('')).toBe('Cats purr when happy.');
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('Meow! 🐱');
    // All reasoning comes before any content, and several chunks carry each.
    const kinds = deltas.map((d) => (d.reasoning_content ? 'r' : d.content ? 'c' : '')).join('');
    expect(kinds).toMatch(/^r{2,}c{2,}$/);
    expect(chunks[chunks.length - 1].choices[0].finish_reason).toBe('stop');
  });

  it('returns only content in chat mode, without a reasoning_content field', async () => {
    const { engine, gen } = await loadV4();
    gen.script = tok4.encode('Meow.');
    const full = await engine.chat.completions.create({ messages: cat });
    expect(full.choices[0].message).toEqual({ role: 'assistant', content: 'Meow.', refusal: null });
    const chunks = await collect(await engine.chat.completions.create({ messages: cat, stream: true }));
    expect(chunks.some((c) => 'reasoning_content' in c.choices[0].delta)).toBe(false);
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Meow.');
  });

  it('returns DSML tool calls as tool_calls with finish_reason tool_calls', async () => {
    const { engine, gen } = await loadV4();
    gen.script = tok4.encode('Let me check.\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name="get_weather">\n'
      + '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n'
      + '<｜DSML｜parameter name="days" string="false">2</｜DSML｜parameter>\n'
      + '</｜DSML｜invoke>\n</｜DSML｜tool_calls>');
    const full = await engine.chat.completions.create({ messages: cat });
    const message = full.choices[0].message;
    expect(full.choices[0].finish_reason).toBe('tool_calls');
    expect(message.content).toBe('Let me check.');
    expect(message.tool_calls).toHaveLength(1);
    expect(message.tool_calls![0]).toMatchObject({ type: 'function', function: { name: 'get_weather' } });
    expect(message.tool_calls![0].id).toMatch(/^call_/);
    expect(JSON.parse(message.tool_calls![0].function.arguments)).toEqual({ city: 'Paris', days: 2 });

    const chunks = await collect(await engine.chat.completions.create({ messages: cat, stream: true }));
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Let me check.');
    const withCalls = chunks.filter((c) => c.choices[0].delta.tool_calls);
    expect(withCalls).toHaveLength(1);
    expect(withCalls[0].choices[0].delta.tool_calls).toEqual([{ index: 0, id: expect.stringMatching(/^call_/), type: 'function', function: message.tool_calls![0].function }]);
    expect(chunks[chunks.length - 1].choices[0].finish_reason).toBe('tool_calls');
  });

  it('fails a reply that breaks the V4 format with model-output, keeping its text', async () => {
    const { engine, gen } = await loadV4();
    const text = 'a</think>b</think>c';
    gen.script = tok4.encode(text);
    const e = await rejection(engine.chat.completions.create({ messages: cat, thinking: { type: 'enabled' } }));
    expect(isWebmoeError(e, 'model-output')).toBe(true);
    expect((e as Error).message).toMatch(/content contains <\/think>/);
    expect((e as { detail: { text: string } }).detail.text).toBe(text);
    const stream = await engine.chat.completions.create({ messages: cat, thinking: { type: 'enabled' }, stream: true });
    const reasoning: string[] = [];
    const e2 = await rejection((async () => {
      for await (const c of stream) reasoning.push(c.choices[0].delta.reasoning_content ?? '');
    })());
    expect(isWebmoeError(e2, 'model-output')).toBe(true);
    expect(reasoning.join('')).toBe('a');
  });
});

describe('V2/V3 model folders keep their chat template', () => {
  for (const [name, hf] of [['config.json of V3', { model_type: 'deepseek_v3' }], ['no config.json in the manifest', null]] as const) {
    it(`renders with the Jinja template (${name}) and refuses V4-only input`, async () => {
      const { engine, gen } = await load(hf, v3Files);
      const developer: ChatMessage[] = [{ role: 'developer', content: 'You are a cat.' }, { role: 'user', content: 'Hi' }];
      expect(await prompt(engine, gen, { messages: developer })).toEqual(tok3.encode(`${BOS}You are a cat.${USER}Hi${ASSISTANT}`));
      expect(await prompt(engine, gen, { messages: cat, reasoning_effort: 'none' })).toEqual(tok3.encode(`${BOS}You are a cat.${USER}Hi${ASSISTANT}`));
      gen.script = tok3.encode('Meow.');
      expect((await engine.chat.completions.create({ messages: cat })).choices[0].message).toEqual({ role: 'assistant', content: 'Meow.', refusal: null });
      const refused: [Partial<ChatCompletionCreateParamsBase>, RegExp][] = [
        [{ messages: [{ role: 'latest_reminder', content: 'x' }, cat[1]] }, /messages\[0\]\.role must be one of/],
        [{ thinking: { type: 'enabled' } }, /^thinking: thinking mode needs a DeepSeek-V4 model/],
        [{ reasoning_effort: 'high' }, /^reasoning_effort: thinking mode needs a DeepSeek-V4 model/],
      ];
      for (const [params, message] of refused) {
        const e = await rejection(engine.chat.completions.create({ messages: cat, ...params }));
        expect(isWebmoeError(e, 'invalid-request')).toBe(true);
        expect((e as Error).message).toMatch(message);
      }
    });
  }

  it('loads a V4 folder without a chat template, which a V2/V3 tokenizer requires', async () => {
    expect(() => TextTokenizer.fromJson(v4Files.tokenizerJson, v4Files.tokenizerConfig)).toThrow(/chat_template/);
    await expect(load({ model_type: 'deepseek_v3' }, v4Files)).rejects.toThrow(/chat_template/);
  });
});

describe('V4 tokenizer', () => {
  it("prints the reply markup the parser needs though it is special, and skips other special tokens", () => {
    const ids = [0, ...tok4.encode('why</think>so<｜DSML｜x'), 1];
    expect(ids.filter((id) => id >= 128815 && id <= 128817)).toEqual([128816, 128817]);
    for (const windowed of [false, true]) {
      const d = tok4.createDetokenizer({ windowed });
      expect(ids.map((id) => d.push(id)).join('') + d.flush()).toBe('why</think>so<｜DSML｜x');
    }
    // A V3 tokenizer with the same tokens prints none of them.
    const asV3 = TextTokenizer.fromJson(v4Files.tokenizerJson, v3Files.tokenizerConfig);
    const d = asV3.createDetokenizer();
    expect(ids.map((id) => d.push(id)).join('') + d.flush()).toBe('whyso<x');
  });
});
