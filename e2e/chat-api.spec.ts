// response_format (constrained decoding), tools / tool_choice and continued replies on the real WebGPU
// backend with the bundled demo model: 32 json_schema replies at temperature 1 all parse and validate
// (checked by a validator that shares no code with the grammar compiler), forced tool calls validate
// against their parameters, and a grid of valid and invalid requests, streamed and not, in the page and
// through the Worker.
import { expect } from '@playwright/test';
import { schemaProblem, WEATHER_TOOL } from '../packages/webmoe/test-support/json-schema-check';
import { test, type HarnessCall } from './lib/harness-page';
import type { Outcome } from './chat-api/main';

test.describe.configure({ mode: 'serial' });

type Api = {
  run(where: string, params: unknown, stream: boolean): Promise<Outcome>;
  many(where: string, params: unknown, n: number): Promise<{ outcomes: Outcome[]; ms: number }>;
};
// The engine harness page, open for the worker's life: its page and Worker engines (e2e/engine/engines.ts)
// are engine.spec.ts's too, so the two files pay for the two loads once.
let h: HarnessCall<Api>;
test.beforeEach(async ({ harnessPages }) => {
  h = await harnessPages<Api>('/e2e/engine/index.html', 'chatApiHarness');
});
const call = <K extends keyof Api>(name: K, ...args: Parameters<Api[K]>) =>
  h((m, a) => (m[a.name as K] as (...x: unknown[]) => Promise<unknown>)(...a.args), { name, args }) as ReturnType<Api[K]>;

const ASK = [{ role: 'user', content: 'In the beginning' }];
const PERSON = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    age: { type: 'integer' },
    mood: { enum: ['happy', 'sad', null] },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 3 },
    score: { type: 'number' },
  },
  required: ['name', 'age', 'mood'],
  additionalProperties: false,
};
const WEATHER = WEATHER_TOOL;

// Seeds 0 … REPLIES-1, every 4th streamed. The grammar itself is fuzzed on the CPU (json-grammar.test.ts);
// here the mask meets the model's multi-byte tokens and the GPU sampler. All 32 valid bounds the share of
// failing replies: a fault that breaks 9 % of them or more passes with probability below 5 % (0.91^32).
const REPLIES = 32;

test(`chat API on the GPU model: ${REPLIES} json_schema replies at temperature 1 all parse and validate`, async () => {
  test.setTimeout(1_200_000);
  const params = { messages: ASK, temperature: 1, max_tokens: 40, response_format: { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } } };
  const { outcomes, ms } = await call('many', 'page', params, REPLIES);
  let valid = 0;
  const problems: string[] = [];
  for (const o of outcomes) {
    let p: string | null;
    try {
      p = o.error ? `${o.error.code}: ${o.error.message}` : schemaProblem(PERSON, JSON.parse(o.content));
    } catch (e) {
      p = `does not parse: ${(e as Error).message}`;
    }
    if (p === null && o.finish === 'stop' && o.completionTokens <= 40) valid++;
    else problems.push(`${JSON.stringify(o.content)}: ${p ?? `finish ${o.finish}, ${o.completionTokens} tokens`}`);
  }
  console.log(`  ${valid}/${REPLIES} valid in ${(ms / 1000).toFixed(1)} s; e.g. ${outcomes.slice(0, 3).map((o) => o.content).join('  ')}`);
  expect(problems).toEqual([]);
  expect(valid).toBe(REPLIES);
});

test('chat API on the GPU model: a forced tool call validates against its parameters, streamed and not', async () => {
  test.setTimeout(600_000);
  // The budget counts a byte per token; the demo vocabulary spells DeepSeek's call markers in bytes.
  for (const [i, choice] of ['required', { type: 'function', function: { name: 'get_weather' } }].entries()) {
    for (const stream of [i === 1]) {
      const o = await call('run', 'page', { messages: ASK, temperature: 1, seed: 10 + i, max_tokens: 240, tools: [WEATHER], tool_choice: choice }, stream);
      expect(o.error).toBeNull();
      expect(o.finish).toBe('tool_calls');
      expect(o.toolCalls).toHaveLength(1);
      expect(o.toolCalls[0].name).toBe('get_weather');
      expect(o.toolCalls[0].id).toMatch(/^call_/);
      expect(schemaProblem(WEATHER.function.parameters, JSON.parse(o.toolCalls[0].arguments)), o.toolCalls[0].arguments).toBeNull();
    }
  }
});

// The grid: the valid requests whole in the page and streamed through the Worker, the invalid ones in the page
// streamed and not and whole through the Worker (the refusal crosses the message channel once). The Worker
// runs the same Engine (demo/engine-worker.ts), so each valid request is streamed by the engine's own code
// there, every chunk then crossing the channel; the page's streaming of replies (content, tool_calls deltas,
// usage) is the 32 replies' above (every 4th streamed), the forced call's and engine.spec.ts's (streamed
// equals whole, page equals Worker), so the page no longer streams the valid requests a second time.
const valid: Record<string, { params: Record<string, unknown>; check: (o: Outcome) => void }> = {
  json_object: {
    params: { response_format: { type: 'json_object' }, max_tokens: 24, temperature: 1 },
    check: (o) => expect(Object.prototype.toString.call(JSON.parse(o.content))).toBe('[object Object]'),
  },
  json_schema: {
    params: { response_format: { type: 'json_schema', json_schema: { name: 'p', schema: PERSON } }, max_tokens: 40, temperature: 1 },
    check: (o) => expect(schemaProblem(PERSON, JSON.parse(o.content))).toBeNull(),
  },
  'tools auto': { params: { tools: [WEATHER], tool_choice: 'auto', max_tokens: 8 }, check: (o) => expect(['stop', 'length', 'tool_calls']).toContain(o.finish) },
  'tool_choice named, one call': {
    params: { tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false, max_tokens: 240 },
    check: (o) => expect(schemaProblem(WEATHER.function.parameters, JSON.parse(o.toolCalls[0].arguments))).toBeNull(),
  },
  'tool_choice none': { params: { tools: [WEATHER], tool_choice: 'none', max_tokens: 6 }, check: (o) => expect(o.toolCalls).toEqual([]) },
  'continued prefix with a schema': {
    params: { messages: [...ASK, { role: 'assistant', content: '{"name":"Ada","age":' }], response_format: { type: 'json_schema', json_schema: { name: 'p', schema: PERSON } }, max_tokens: 30, temperature: 1 },
    check: (o) => expect(schemaProblem(PERSON, JSON.parse(`{"name":"Ada","age":${o.content}`))).toBeNull(),
  },
};
const invalid: Record<string, [Record<string, unknown>, string]> = {
  'response_format type': [{ response_format: { type: 'xml' } }, 'response_format.type'],
  'unsupported schema keyword': [{ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'string', pattern: 'x' } } } }, 'pattern'],
  'schema past max_tokens': [{ response_format: { type: 'json_schema', json_schema: { name: 'p', schema: PERSON } }, max_tokens: 4 }, 'max_tokens'],
  'tools shape': [{ tools: [{ type: 'function', function: { name: 'has space' } }] }, 'tools[0].function.name'],
  'tool_choice unknown': [{ tools: [WEATHER], tool_choice: { type: 'function', function: { name: 'nope' } } }, 'tool_choice'],
  'tool_choice without tools': [{ tool_choice: 'required' }, 'tool_choice'],
  'parallel_tool_calls type': [{ tools: [WEATHER], parallel_tool_calls: 1 }, 'parallel_tool_calls'],
  'prefix outside the format': [{ messages: [...ASK, { role: 'assistant', content: 'Sure' }], response_format: { type: 'json_object' } }, 'final assistant message'],
};

for (const where of ['page', 'worker']) {
  test(`chat API on the GPU model: request grid (${where})`, async () => {
    test.setTimeout(900_000);
    for (const stream of [false, true]) {
      if (stream === (where === 'worker')) for (const [name, { params, check }] of Object.entries(valid)) {
        const o = await call('run', where, { messages: ASK, seed: 3, ...params }, stream);
        expect(o.error, `${name} (${stream ? 'stream' : 'whole'})`).toBeNull();
        check(o);
      }
      if (where === 'page' || !stream) for (const [name, [params, field]] of Object.entries(invalid)) {
        const o = await call('run', where, { messages: ASK, max_tokens: 8, ...params }, stream);
        expect(o.error?.code, name).toBe('invalid-request');
        expect(o.error?.message, name).toContain(field);
      }
    }
  });
}
