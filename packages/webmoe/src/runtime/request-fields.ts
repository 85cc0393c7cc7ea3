// Every field of a chat-completions request is either implemented (checked in chat-request.ts) or refused
// here by name: a field webmoe would silently ignore makes an app believe it got what it asked for.
import { WebmoeError } from '../errors';

/** Fields chat-request.ts reads and checks. */
const IMPLEMENTED = new Set([
  'messages', 'model', 'stream', 'stream_options', 'signal', 'max_tokens', 'max_completion_tokens', 'temperature', 'top_p', 'top_k', 'min_p', 'n',
  'stop', 'seed', 'presence_penalty', 'frequency_penalty', 'repetition_penalty', 'logit_bias', 'user', 'thinking', 'reasoning_effort',
  'logprobs', 'top_logprobs', 'response_format', 'tools', 'tool_choice', 'parallel_tool_calls',
]);

interface Refusal {
  /** Values that ask for nothing webmoe lacks (null and undefined always do). */
  readonly harmless?: (v: unknown) => boolean;
  readonly why: string;
}

const isFalse = (v: unknown) => v === false;

/** The rest of OpenAI's request fields, with the values that still mean "nothing asked". */
const REFUSED: Readonly<Record<string, Refusal>> = {
  functions: { why: 'is not supported (OpenAI replaced it with tools)' },
  function_call: { harmless: (v) => v === 'none', why: 'is not supported (OpenAI replaced it with tool_choice)' },
  store: { harmless: isFalse, why: 'is not supported: webmoe stores no completions' },
  metadata: { why: 'is not supported: webmoe stores no completions' },
  service_tier: { harmless: (v) => v === 'auto' || v === 'default', why: 'is not supported: there is one tier, this device' },
  modalities: { harmless: (v) => Array.isArray(v) && v.every((m) => m === 'text'), why: 'is not supported: only text' },
  audio: { why: 'is not supported: only text' },
  prediction: { why: 'is not supported (predicted outputs)' },
  web_search_options: { why: 'is not supported: the model runs offline' },
  verbosity: { why: 'is not supported' },
  prompt_cache_key: { why: 'is not supported (the KV cache of the previous request is reused automatically)' },
  safety_identifier: { why: 'is not supported' },
};

/** Throws invalid-request naming the first field that is unknown or asks for something webmoe does not do. */
export function refuseUnsupportedFields(params: object): void {
  for (const [name, value] of Object.entries(params)) {
    if (IMPLEMENTED.has(name)) continue;
    const r = REFUSED[name];
    if (!r) throw new WebmoeError('invalid-request', `unknown request field ${JSON.stringify(name)}`, { detail: { field: name } });
    if (value === null || value === undefined || r.harmless?.(value)) continue;
    throw new WebmoeError('invalid-request', `${name} ${r.why} (got ${JSON.stringify(value)})`, { detail: { field: name } });
  }
}
