// `webmoe serve`: the engine in Node on Dawn (node-runtime.ts) behind an OpenAI-compatible HTTP endpoint on
// node:http: POST /v1/chat/completions (server-sent events with stream: true), GET /v1/models. Requests run
// one at a time in arrival order (the engine's queue); a client that disconnects aborts its generation or
// leaves the queue. Errors are OpenAI-shaped (remote-errors.ts in the library). See docs/runtimes.md.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { basename } from 'node:path';
import type { ChatCompletionChunk, ChatCompletionCreateParams, Engine, LoadProgress, OpenAIErrorBody } from 'webmoe';
import { parseCommandArgs, UsageError } from './args';
import { ensureVulkanLoader, fileFetch, folderUrl, loadRepoModule, nodeGpu } from './node-runtime';
import { resolveModelFolder } from './run';

const USAGE = `usage: webmoe serve --model <dir> [--port N] [--host 127.0.0.1] [--id NAME] [--context N] [--quant q4] [--verbose]
  Serves the model at http://<host>:<port>/v1 (OpenAI's chat completions API) on Dawn (npm webgpu).
  <dir>: a converted webmoe folder, or a Hugging Face checkpoint converted with --quant (as webmoe run does).
  --port 0 picks a free port; the address is printed once the model is loaded. --id: the model's name in
  the API (default: the folder's name). --context: the KV cache's size in positions (default: the engine's).`;

const SPEC = {
  model: { type: 'string' }, port: { type: 'number' }, host: { type: 'string' }, id: { type: 'string' }, context: { type: 'number' },
  quant: { type: 'string' }, verbose: { type: 'flag' }, help: { type: 'flag' },
} as const;

/** Request bodies beyond this are refused (413) before they are parsed. */
const MAX_BODY_BYTES = 16 << 20;

type Webmoe = typeof import('webmoe');

class HttpError extends Error {
  constructor(readonly status: number, readonly body: OpenAIErrorBody) {
    super(body.error.message);
  }
}

const openaiError = (status: number, message: string, code: string, param: string | null = null) =>
  new HttpError(status, { error: { message, type: status >= 500 ? 'server_error' : 'invalid_request_error', code, param } });

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (b: Buffer) => {
      size += b.byteLength;
      if (size > MAX_BODY_BYTES) {
        reject(openaiError(413, `the request body is over ${MAX_BODY_BYTES} bytes`, 'request_too_large'));
        req.destroy();
      } else parts.push(b);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function createApiServer(webmoe: Webmoe, engine: Engine, log: (s: string) => void) {
  const created = Math.floor(Date.now() / 1000);
  const modelEntry = { id: engine.model.id, object: 'model', created, owned_by: 'webmoe', max_model_len: engine.model.contextLength };
  const asHttp = (e: unknown): { status: number; body: OpenAIErrorBody } => (e instanceof HttpError ? e : webmoe.httpErrorOf(e));

  async function completions(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const text = await readBody(req);
    let params: Record<string, unknown>;
    try {
      params = JSON.parse(text) as Record<string, unknown>;
    } catch (e) {
      throw openaiError(400, `the request body is not JSON: ${e instanceof Error ? e.message : String(e)}`, 'invalid_json');
    }
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw openaiError(400, 'the request body must be a JSON object', 'invalid_request');
    if (params.model !== undefined && params.model !== engine.model.id) {
      throw openaiError(404, `The model ${JSON.stringify(params.model)} does not exist; this server has ${JSON.stringify(engine.model.id)}`, 'model_not_found', 'model');
    }
    delete params.signal;
    // A client that goes away stops its generation (or leaves the queue before it starts).
    const controller = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    const request = { ...params, signal: controller.signal } as unknown as ChatCompletionCreateParams;
    if (!params.stream) {
      sendJson(res, 200, await engine.chat.completions.create({ ...request, stream: false }));
      return;
    }
    const stream = await engine.chat.completions.create({ ...request, stream: true });
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    res.flushHeaders();
    const event = (data: string) => res.write(`data: ${data}\n\n`);
    try {
      for await (const chunk of stream as AsyncIterable<ChatCompletionChunk>) event(JSON.stringify(chunk));
    } catch (e) {
      if (controller.signal.aborted) return;
      // Past the headers, a failure travels as an event (as vLLM sends it); the remote backend raises it.
      event(JSON.stringify(asHttp(e).body));
    }
    event('[DONE]');
    res.end();
  }

  return createServer((req, res) => {
    res.setHeader('access-control-allow-origin', '*');
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '');
    const route = `${req.method} ${path}`;
    const handle = async () => {
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { 'access-control-allow-methods': 'GET, POST, OPTIONS', 'access-control-allow-headers': 'authorization, content-type' });
        res.end();
      } else if (route === 'GET /v1/models') sendJson(res, 200, { object: 'list', data: [modelEntry] });
      else if (route === `GET /v1/models/${engine.model.id}`) sendJson(res, 200, modelEntry);
      else if (path.startsWith('/v1/models/') && req.method === 'GET') throw openaiError(404, `The model ${JSON.stringify(decodeURIComponent(path.slice(11)))} does not exist`, 'model_not_found', 'model');
      else if (route === 'POST /v1/chat/completions') await completions(req, res);
      else throw openaiError(404, `no route ${route}; this server has GET /v1/models and POST /v1/chat/completions`, 'unknown_url');
    };
    handle().catch((e: unknown) => {
      if (res.destroyed) return; // the client left, which aborted the request: no one to answer
      const { status, body } = asHttp(e);
      if (status >= 500) log(`${route}: ${body.error.message}`);
      if (!res.headersSent) sendJson(res, status, body);
      else res.end();
    });
  });
}

export async function serveCommand(argv: string[]): Promise<void> {
  const o = parseCommandArgs(argv, SPEC, USAGE);
  if (!o) return;
  if (typeof o.model !== 'string') throw new UsageError(`--model is required\n${USAGE}`);
  const port = Number(o.port ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port must be 0 … 65535 (got ${String(o.port)})`);
  const log = (s: string) => process.stderr.write(`${s}\n`);
  await ensureVulkanLoader(log);
  const folder = await resolveModelFolder(o.model, String(o.quant ?? 'q4'), log);
  const gpu = await nodeGpu(log);
  const { module: webmoe } = await loadRepoModule<Webmoe>('/packages/webmoe/src/index.ts');
  const t0 = performance.now();
  // The folder is on disk already: nothing is kept in a cache (shards are still checked against the manifest).
  const discard = { get: async () => undefined, set: async () => {}, del: async () => {}, keys: async () => [] };
  const engine = await webmoe.createEngine({
    model: folderUrl(folder),
    modelId: typeof o.id === 'string' ? o.id : basename(folder),
    fetch: fileFetch,
    cache: new webmoe.ModelCache({ store: discard, storage: null }),
    gpu,
    ...(typeof o.context === 'number' ? { contextLength: o.context } : {}),
    ...(o.verbose ? { onProgress: (p: LoadProgress) => log(`${p.phase} ${p.shardsDone}/${p.shardsTotal}`) } : {}),
  });
  log(`loaded ${engine.model.id} (context ${engine.model.contextLength}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const server = createApiServer(webmoe, engine, log);
  const host = typeof o.host === 'string' ? o.host : '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`webmoe serve: http://${host.includes(':') ? `[${host}]` : host}:${bound}/v1 serves ${engine.model.id}\n`);
  const stop = () => {
    server.close();
    void engine.dispose().finally(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  await new Promise(() => undefined);
}
