// What e2e/chat-api.spec.ts drives, in the engine harness page (e2e/engine/index.html): response_format, tools
// and continued replies through the public Engine API over the real WebGPU backend on the bundled demo model,
// in the page and in a Worker, on the engines that page shares (e2e/engine/engines.ts).
import { isWebmoeError, type ChatCompletionChunk, type ChatCompletionCreateParamsBase } from 'webmoe';
import { engine } from '../engine/engines';

/** What a reply comes to, streamed or not, as plain data; a refusal or failure as its code and message. */
export interface Outcome {
  readonly error: { code: string; message: string } | null;
  readonly content: string;
  readonly finish: string | null;
  readonly toolCalls: { id: string; name: string; arguments: string }[];
  readonly completionTokens: number;
}

function fromChunks(chunks: ChatCompletionChunk[]): Omit<Outcome, 'error'> {
  const calls: { id: string; name: string; arguments: string }[] = [];
  let content = '';
  for (const c of chunks) {
    content += c.choices[0]?.delta.content ?? '';
    for (const t of c.choices[0]?.delta.tool_calls ?? []) {
      calls[t.index] ??= { id: '', name: '', arguments: '' };
      if (t.id) calls[t.index].id = t.id;
      if (t.function?.name) calls[t.index].name = t.function.name;
      calls[t.index].arguments += t.function?.arguments ?? '';
    }
  }
  const last = chunks[chunks.length - 1];
  return { content, finish: last?.choices[0]?.finish_reason ?? null, toolCalls: calls, completionTokens: last?.usage?.completion_tokens ?? 0 };
}

async function run(where: 'page' | 'worker', params: ChatCompletionCreateParamsBase, stream: boolean): Promise<Outcome> {
  const e = await engine(where);
  try {
    if (stream) {
      const chunks: ChatCompletionChunk[] = [];
      for await (const c of await e.chat.completions.create({ ...params, stream: true })) chunks.push(c);
      return { error: null, ...fromChunks(chunks) };
    }
    const r = await e.chat.completions.create({ ...params, stream: false });
    const m = r.choices[0].message;
    return {
      error: null, content: m.content, finish: r.choices[0].finish_reason, completionTokens: r.usage.completion_tokens,
      toolCalls: (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, arguments: c.function.arguments })),
    };
  } catch (err) {
    if (!isWebmoeError(err)) throw err;
    return { error: { code: err.code, message: err.message }, content: '', finish: null, toolCalls: [], completionTokens: 0 };
  }
}

const api = {
  run,
  /** `n` requests with seeds 0 … n-1; returns each outcome and the wall time. */
  async many(where: 'page' | 'worker', params: ChatCompletionCreateParamsBase, n: number) {
    const t0 = performance.now();
    const out: Outcome[] = [];
    for (let i = 0; i < n; i++) out.push(await run(where, { ...params, seed: i }, i % 4 === 3));
    return { outcomes: out, ms: performance.now() - t0 };
  },
};

(window as unknown as { chatApiHarness: typeof api }).chatApiHarness = api;
