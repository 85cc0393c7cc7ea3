// The Engine against an OpenAI-compatible server (`webmoe serve`, vLLM, SGLang, …): for models no single
// device holds. Requests go out with fetch, streams come back as server-sent events; aborting a request
// aborts its fetch, which the server sees as a disconnect. Nothing is kept between requests here (the
// server keeps its own prefix cache), so resetChat has nothing to do. See docs/runtimes.md.
import { WebmoeError, isWebmoeError } from '../errors';
import type { ChatCompletions } from './completions';
import type { Engine, EngineStats, ModelInfo } from './engine-api';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionCreateParams, CompletionTimings, CompletionUsage } from './openai-types';
import { PushStream } from './push-stream';
import { errorFromHttp } from './remote-errors';
import { sseData } from './remote-sse';

export interface RemoteOptions {
  /** The API's base URL, `/v1` included (as the openai client takes it): `http://127.0.0.1:8000/v1`. */
  readonly baseURL: string;
  readonly apiKey?: string;
  /** The served model's id, as GET /models lists it. */
  readonly model: string;
  readonly fetch?: typeof fetch;
}

/** Usage as webmoe reports it, from a server that may send only OpenAI's three counts. */
function fullUsage(u: Partial<CompletionUsage> | undefined): CompletionUsage {
  const prompt = u?.prompt_tokens ?? 0;
  const completion = u?.completion_tokens ?? 0;
  const cached = u?.prompt_tokens_details?.cached_tokens ?? u?.reused_tokens ?? 0;
  return {
    prompt_tokens: prompt,
    completion_tokens: completion,
    total_tokens: u?.total_tokens ?? prompt + completion,
    prompt_tokens_details: { cached_tokens: cached },
    prefilled_tokens: u?.prefilled_tokens ?? prompt - cached,
    reused_tokens: u?.reused_tokens ?? cached,
  };
}

/** The server's timings when it sends them (webmoe does), else what this side saw: time to the first token, then the rest. */
function timingsOf(sent: CompletionTimings | undefined, startedAt: number, firstAt: number | null, usage: CompletionUsage): CompletionTimings {
  if (sent) return sent;
  const end = performance.now();
  const prefill = (firstAt ?? end) - startedAt;
  const decode = end - (firstAt ?? end);
  return {
    prefill_ms: prefill,
    decode_ms: decode,
    queued_ms: 0,
    prefill_tokens_per_second: prefill > 0 ? usage.prefilled_tokens / (prefill / 1000) : 0,
    decode_tokens_per_second: decode > 0 ? Math.max(0, usage.completion_tokens - 1) / (decode / 1000) : 0,
  };
}

export class RemoteEngine implements Engine {
  readonly chat: { readonly completions: ChatCompletions };
  private lastReply: EngineStats['lastReply'] = null;
  private readonly inFlight = new Set<AbortController>();
  private disposed = false;
  private readonly fetchFn: typeof fetch;
  private readonly base: string;

  constructor(private readonly o: RemoteOptions, readonly model: ModelInfo) {
    this.fetchFn = o.fetch ?? ((input, init) => fetch(input, init));
    this.base = o.baseURL.replace(/\/+$/, '');
    this.chat = { completions: { create: (params: ChatCompletionCreateParams) => this.create(params) } as ChatCompletions };
  }

  /** A request to the server; an HTTP error or a failed connection becomes a WebmoeError. */
  async request(path: string, init: RequestInit & { signal?: AbortSignal }): Promise<Response> {
    const url = `${this.base}${path}`;
    const headers: Record<string, string> = { accept: 'application/json, text/event-stream' };
    if (this.o.apiKey) headers.authorization = `Bearer ${this.o.apiKey}`;
    if (init.body) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetchFn(url, { ...init, headers });
    } catch (e) {
      if (init.signal?.aborted) throw new WebmoeError('aborted', 'the request was aborted', { cause: e });
      throw new WebmoeError('network', `${url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, detail: { url } });
    }
    if (!res.ok) {
      const text = await res.text().catch(() => '');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // a proxy's HTML or plain-text page: its text is the message
      }
      throw errorFromHttp(res.status, body, url);
    }
    return res;
  }

  private async create(params: ChatCompletionCreateParams): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    if (this.disposed) throw new WebmoeError('invalid-request', 'the engine has been disposed');
    const { signal: outer, ...fields } = params;
    if (outer?.aborted) throw new WebmoeError('aborted', 'the request was aborted before it started');
    const controller = new AbortController();
    const onAbort = () => controller.abort();
    outer?.addEventListener('abort', onAbort, { once: true });
    this.inFlight.add(controller);
    const done = () => {
      outer?.removeEventListener('abort', onAbort);
      this.inFlight.delete(controller);
    };
    const startedAt = performance.now();
    const body = JSON.stringify({ ...fields, model: fields.model ?? this.model.id });
    let res: Response;
    try {
      res = await this.request('/chat/completions', { method: 'POST', body, signal: controller.signal });
      if (!params.stream) {
        const r = (await res.json()) as ChatCompletion;
        const usage = fullUsage(r.usage);
        const timings = timingsOf(r.timings, startedAt, null, usage);
        const finish = r.choices?.[0]?.finish_reason;
        if (finish) this.lastReply = { finishReason: finish, usage, timings };
        return { ...r, usage, timings };
      }
    } catch (e) {
      done();
      throw this.asAbort(e, controller.signal);
    }
    if (!res.body) {
      done();
      throw new WebmoeError('network', `${this.base}/chat/completions: the streamed reply has no body`);
    }
    const stream = new PushStream<ChatCompletionChunk>(() => controller.abort());
    void this.pump(res.body, stream, controller.signal, startedAt).finally(done);
    return stream;
  }

  private async pump(body: ReadableStream<Uint8Array>, stream: PushStream<ChatCompletionChunk>, signal: AbortSignal, startedAt: number): Promise<void> {
    let firstAt: number | null = null;
    let finish: ChatCompletionChunk['choices'][0]['finish_reason'] = null;
    let sent: Pick<ChatCompletionChunk, 'usage' | 'timings'> = {};
    try {
      for await (const data of sseData(body)) {
        let chunk: ChatCompletionChunk & { error?: unknown };
        try {
          chunk = JSON.parse(data) as typeof chunk;
        } catch {
          throw new WebmoeError('network', `${this.base}/chat/completions: a streamed event is not JSON: ${data.slice(0, 200)}`);
        }
        // vLLM and webmoe report a failure after the headers as an event carrying `error`.
        if (chunk.error !== undefined) throw errorFromHttp(500, chunk, `${this.base}/chat/completions`);
        firstAt ??= performance.now();
        finish = chunk.choices?.[0]?.finish_reason ?? finish;
        if (chunk.usage) sent = { usage: chunk.usage, ...(chunk.timings ? { timings: chunk.timings } : {}) };
        // Events that came in the same network read as the abort are not handed on.
        if (signal.aborted) throw new WebmoeError('aborted', 'the request was aborted');
        stream.push(chunk);
      }
      if (finish) {
        const usage = fullUsage(sent.usage);
        this.lastReply = { finishReason: finish, usage, timings: timingsOf(sent.timings, startedAt, firstAt, usage) };
      }
      stream.end();
    } catch (e) {
      stream.fail(this.asAbort(e, signal));
    }
  }

  private asAbort(e: unknown, signal: AbortSignal): unknown {
    if (signal.aborted && !isWebmoeError(e, 'aborted')) return new WebmoeError('aborted', 'the request was aborted', { cause: e });
    return e;
  }

  async stats(): Promise<EngineStats> {
    return { model: null, lastReply: this.lastReply };
  }

  async resetChat(): Promise<void> {}

  async dispose(): Promise<void> {
    this.disposed = true;
    for (const c of this.inFlight) c.abort();
  }
}

/** Checks that the server serves `model` (GET /models) and returns the engine; its context length when the server says. */
export async function createRemoteEngine(o: RemoteOptions, signal?: AbortSignal): Promise<RemoteEngine> {
  if (typeof o?.baseURL !== 'string' || !/^https?:\/\//.test(o.baseURL)) {
    throw new WebmoeError('invalid-request', `remote.baseURL: ${JSON.stringify(o?.baseURL)} is not an http(s) URL`, { detail: { field: 'remote.baseURL' } });
  }
  if (typeof o.model !== 'string' || !o.model) throw new WebmoeError('invalid-request', 'remote.model: the served model\'s id is required', { detail: { field: 'remote.model' } });
  const probe = new RemoteEngine(o, { id: o.model, contextLength: 0 });
  const res = await probe.request('/models', { method: 'GET', ...(signal ? { signal } : {}) });
  const list = ((await res.json()) as { data?: { id?: unknown; max_model_len?: unknown; context_length?: unknown }[] }).data ?? [];
  const entry = list.find((m) => m?.id === o.model);
  if (!entry) {
    throw new WebmoeError('invalid-request', `${probe.model.id}: ${o.baseURL} serves ${list.map((m) => String(m?.id)).join(', ') || 'no model'}, not this one`, {
      detail: { field: 'remote.model' },
    });
  }
  // vLLM and webmoe name it max_model_len; 0 when the server does not say.
  const n = Number(entry.max_model_len ?? entry.context_length ?? 0);
  return new RemoteEngine(o, { id: o.model, contextLength: Number.isFinite(n) ? n : 0 });
}
