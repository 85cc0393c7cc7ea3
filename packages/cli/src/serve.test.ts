// `webmoe serve` as a real server process on Dawn/SwiftShader, talked to by the official `openai` client and
// by webmoe's own remote backend (createEngine({ remote })): streaming and not, abort mid-stream, errors.
// The expected reply is the float64 reference's greedy continuation (packages/reference), decoded.
import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, isWebmoeError, TextTokenizer, type ChatCompletionChunk, type Engine } from 'webmoe';
import { runReference } from '@webmoe/reference';
import { REPO_ROOT } from './browser';
import { SWIFTSHADER_ICD, startServeProcess } from './serve-process';

const MODEL = join(REPO_ROOT, 'demo/public/models/webmoe-tiny');
const ID = 'webmoe-tiny';
const MESSAGES = [{ role: 'user' as const, content: 'Hello' }];
const MAX = 8;
const missing = !existsSync(SWIFTSHADER_ICD);
if (missing) console.warn(`skipping the webmoe serve tests: ${SWIFTSHADER_ICD} is absent (install Debian's chromium: apt-get install chromium)`);

let server: ChildProcess | null = null;
let baseURL = '';
let expected = { text: '', promptTokens: 0 };

/** Starts `webmoe serve --port 0` and resolves with its address once the model is loaded. */
function startServer(): Promise<string> {
  const p = startServeProcess(MODEL);
  server = p.child;
  return p.baseURL;
}

/** The reference's greedy reply to MESSAGES, as text, through the model's own chat template and tokenizer. */
async function referenceReply(): Promise<{ text: string; promptTokens: number }> {
  const json = (f: string) => JSON.parse(readFileSync(join(MODEL, f), 'utf8')) as unknown;
  const tokenizer = TextTokenizer.fromJson(json('tokenizer.json'), json('tokenizer_config.json'));
  const prompt = tokenizer.encodeChat(MESSAGES, { addGenerationPrompt: true });
  const ref = await runReference(MODEL, prompt, MAX);
  return { text: tokenizer.decode(ref.tokens, { skipSpecialTokens: true }), promptTokens: prompt.length };
}

beforeAll(async () => {
  if (missing) return;
  [baseURL, expected] = await Promise.all([startServer(), referenceReply()]);
}, 600_000);

afterAll(() => {
  server?.kill('SIGTERM');
});

describe.skipIf(missing)('webmoe serve, with the openai client', () => {
  const client = () => new OpenAI({ baseURL, apiKey: 'unused' });

  it('lists the model with its context length', async () => {
    const list = await client().models.list();
    expect(list.data.map((m) => m.id)).toEqual([ID]);
    expect((list.data[0] as unknown as { max_model_len: number }).max_model_len).toBeGreaterThan(MAX);
  });

  it('answers a non-streaming completion with the reference\'s greedy reply', async () => {
    const r = await client().chat.completions.create({ model: ID, messages: MESSAGES, max_tokens: MAX, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0].message.content).toBe(expected.text);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage).toMatchObject({ prompt_tokens: expected.promptTokens, completion_tokens: MAX });
  }, 120_000);

  it('streams the same reply as server-sent events, usage on the last chunk', async () => {
    const stream = await client().chat.completions.create({ model: ID, messages: MESSAGES, max_tokens: MAX, temperature: 0, stream: true });
    const chunks: OpenAI.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe(expected.text);
    expect(chunks.at(-1)?.choices[0].finish_reason).toBe('length');
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(MAX);
  }, 120_000);

  it('stops generating when the client aborts mid-stream', async () => {
    const c = client();
    const stream = await c.chat.completions.create({ model: ID, messages: MESSAGES, max_tokens: 400, temperature: 0, stream: true });
    let seen = 0;
    // The client ends the iteration, quietly or with an abort error, depending on where the abort lands.
    await (async () => {
      for await (const chunk of stream) {
        if (chunk.choices[0]?.delta.content && ++seen === 2) stream.controller.abort();
      }
    })().catch((e: unknown) => {
      if (!/abort/i.test(String(e))) throw e;
    });
    expect(seen).toBe(2);
    // The next request waits only for the aborted one to stop, not for its 400 tokens.
    const r = await c.chat.completions.create({ model: ID, messages: MESSAGES, max_tokens: 2, temperature: 0 });
    const t = (r as unknown as { timings: { queued_ms: number; decode_tokens_per_second: number } }).timings;
    const restMs = (400 - seen) * (1000 / Math.max(t.decode_tokens_per_second, 1e-3));
    expect(t.queued_ms).toBeLessThan(restMs / 4);
  }, 300_000);

  it('refuses invalid requests with OpenAI-shaped errors', async () => {
    const c = client();
    const bad = (params: Record<string, unknown>) => c.chat.completions.create({ model: ID, messages: MESSAGES, max_tokens: 2, ...params } as never).then(
      () => { throw new Error('accepted'); },
      (e: unknown) => e as InstanceType<typeof OpenAI.APIError>,
    );
    const unsupported = await bad({ functions: [{ name: 'f', parameters: {} }] });
    expect(unsupported.status).toBe(400);
    expect(unsupported.param).toBe('functions');
    expect(unsupported.code).toBe('invalid-request');
    const unknown = await bad({ model: 'gpt-9' });
    expect(unknown.status).toBe(404);
    expect(unknown.code).toBe('model_not_found');
    const long = await bad({ messages: [{ role: 'user', content: 'Hello '.repeat(20_000) }] });
    expect(long.status).toBe(400);
    expect(long.code).toBe('context_length_exceeded');
  }, 120_000);
});

describe.skipIf(missing)('createEngine({ remote }) against webmoe serve', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await createEngine({ remote: { baseURL, model: ID, apiKey: 'unused' } });
  });

  it('reads the served context length', () => {
    expect(engine.model).toMatchObject({ id: ID });
    expect(engine.model.contextLength).toBeGreaterThan(MAX);
  });

  it('completes, streaming and not, with the reference\'s reply', async () => {
    const r = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: MAX, temperature: 0 });
    expect(r.choices[0].message.content).toBe(expected.text);
    const stream = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: MAX, temperature: 0, stream: true });
    let text = '';
    let last: ChatCompletionChunk | undefined;
    for await (const c of stream) {
      text += c.choices[0]?.delta.content ?? '';
      last = c;
    }
    expect(text).toBe(expected.text);
    expect(last?.choices[0].finish_reason).toBe('length');
    expect((await engine.stats()).lastReply?.usage.completion_tokens).toBe(MAX);
  }, 120_000);

  it('aborts a stream through its AbortSignal', async () => {
    const controller = new AbortController();
    const stream = await engine.chat.completions.create({ messages: MESSAGES, max_tokens: 400, temperature: 0, stream: true, signal: controller.signal });
    let seen = 0;
    const error = await (async () => {
      for await (const c of stream) if (c.choices[0]?.delta.content && ++seen === 2) controller.abort();
    })().then(() => null, (e: unknown) => e);
    // Chunks already taken in before the abort may still arrive; the 400-token reply does not.
    expect(seen).toBeGreaterThanOrEqual(2);
    expect(seen).toBeLessThan(10);
    expect(isWebmoeError(error, 'aborted')).toBe(true);
  }, 300_000);

  it('raises the engine\'s error codes for the server\'s errors', async () => {
    const code = (p: Promise<unknown>) => p.then(() => 'accepted', (e: unknown) => (isWebmoeError(e) ? e.code : String(e)));
    expect(await code(engine.chat.completions.create({ messages: MESSAGES, temperature: -1 }))).toBe('invalid-request');
    expect(await code(engine.chat.completions.create({ messages: [{ role: 'user', content: 'Hello '.repeat(20_000) }] }))).toBe('context-overflow');
    expect(await code(createEngine({ remote: { baseURL, model: 'gpt-9' } }))).toBe('invalid-request');
    expect(await code(createEngine({ remote: { baseURL: 'http://127.0.0.1:9/v1', model: ID } }))).toBe('network');
  }, 120_000);
});
