// Errors across HTTP, both ways: the status and OpenAI-shaped body `webmoe serve` answers a WebmoeError
// with, and the WebmoeError the remote backend raises for any OpenAI-compatible server's error reply
// (webmoe's own, vLLM's, SGLang's, OpenAI's). See docs/runtimes.md.
import { WebmoeError, type WebmoeErrorCode } from '../errors';

/** OpenAI's error body: `{ error: { message, type, code, param } }`. */
export interface OpenAIErrorBody {
  readonly error: { readonly message: string; readonly type: string; readonly code: string | null; readonly param: string | null };
}

/** OpenAI's own codes for the two failures every client knows; other errors carry webmoe's code. */
const OPENAI_CODES: Partial<Record<WebmoeErrorCode, string>> = { 'context-overflow': 'context_length_exceeded' };

/** Codes a webmoe server sends that mean the same on the client side. */
const PASSED_ON: ReadonlySet<string> = new Set<WebmoeErrorCode>([
  'invalid-request', 'context-overflow', 'model-output', 'model-format', 'integrity', 'device-lost', 'gpu-validation',
  'gpu-out-of-memory', 'no-adapter', 'insufficient-limits', 'internal',
]);

/** What `webmoe serve` answers a failed request with. */
export function httpErrorOf(e: unknown): { status: number; body: OpenAIErrorBody } {
  const err = e instanceof WebmoeError ? e : new WebmoeError('internal', e instanceof Error ? e.message : String(e));
  const clientSide = err.code === 'invalid-request' || err.code === 'context-overflow';
  const field = err.detail?.field;
  return {
    status: clientSide ? 400 : 500,
    body: {
      error: {
        message: err.message,
        type: clientSide ? 'invalid_request_error' : 'server_error',
        code: OPENAI_CODES[err.code] ?? err.code,
        param: typeof field === 'string' ? field : null,
      },
    },
  };
}

/** The error body's fields, whatever shape the server used (OpenAI's, a bare message, plain text). */
function errorFields(body: unknown): { message?: string; code?: string; type?: string } {
  const e = (body as { error?: unknown } | null)?.error ?? body;
  if (typeof e === 'string') return { message: e };
  if (typeof e !== 'object' || e === null) return {};
  const r = e as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined);
  return { message: str(r.message) ?? str(r.detail), code: str(r.code), type: str(r.type) };
}

/** The WebmoeError for an HTTP error reply (`body`: its parsed JSON, or its text). */
export function errorFromHttp(status: number, body: unknown, url: string): WebmoeError {
  const f = errorFields(body);
  const message = `${url}: HTTP ${status}${f.message ? `: ${f.message}` : ''}`;
  const detail = { status, url, ...(f.code ? { serverCode: f.code } : {}) };
  let code: WebmoeErrorCode;
  if (f.code && PASSED_ON.has(f.code)) code = f.code as WebmoeErrorCode;
  // vLLM and SGLang say it in words: "This model's maximum context length is 4096 tokens…".
  else if (status === 413 || f.code === 'context_length_exceeded' || /context length|too many tokens|context window/i.test(f.message ?? '')) code = 'context-overflow';
  else if (status >= 400 && status < 500 && status !== 408 && status !== 429) code = 'invalid-request';
  else if (status >= 500 && status !== 502 && status !== 503 && status !== 504) code = 'internal';
  else code = 'network';
  return new WebmoeError(code, message, { detail });
}
