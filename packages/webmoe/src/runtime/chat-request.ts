// Checking an OpenAI-shaped request and turning it into prompt ids and settings, before it queues:
// bad input and prompts that cannot fit fail at once, naming the field.
import { WebmoeError } from '../errors';
import type { TemplateMessage } from '../text/chat-template';
import { V4_ROLES } from '../text/chat-encoding-v4';
import type { ChatRenderOptions, ModelFamily, TextTokenizer } from '../text/tokenizer';
import type { ChatCompletionCreateParamsBase, ChatMessage, ReasoningEffort } from './openai-types';
import { MAX_BIAS_ENTRIES } from '../kernels/sample';
import { refuseUnsupportedFields } from './request-fields';
import type { SamplingRequest } from './sampling';
import type { Generator, SamplingPenalties } from '../executor/generator';
import { MAX_TOP_LOGPROBS } from '../kernels/logprobs';
import { tokenGrammar, type TokenGrammar } from '../text/token-mask';
import { replyGrammar, responseFormat, toolsRequest } from './structured-output';

/**
 * How to read a request's reply: text (V2/V3; with `tools`, V3's tool-call markers are parsed), or V4's
 * format in the mode the prompt was rendered in. `single`: keep only the first tool call.
 */
export type ReplyFormat =
  | { readonly kind: 'text'; readonly tools?: boolean; readonly single?: boolean }
  | { readonly kind: 'v4'; readonly thinking: boolean; readonly single?: boolean };

export interface PreparedRequest {
  readonly ids: readonly number[];
  readonly maxTokens: number;
  readonly stop: readonly string[];
  readonly sampling: SamplingRequest;
  readonly reply: ReplyFormat;
  /** Constrained decoding (response_format, forced tool calls): the grammar the reply's tokens follow. */
  readonly grammar?: TokenGrammar;
  /** A final assistant message being continued: its text, which the prompt ends with and the grammar starts from. */
  readonly prefix?: string;
}

/** The roles each family's chat format takes; V2/V3 templates know 'developer' by its older name 'system'. */
const ROLES: Record<ModelFamily, readonly string[]> = {
  v3: ['system', 'developer', 'user', 'assistant', 'tool'],
  v4: V4_ROLES,
};

const EFFORTS: readonly ReasoningEffort[] = ['none', 'minimal', 'low', 'medium', 'high', 'xhigh', 'max'];

function bad(message: string): WebmoeError {
  return new WebmoeError('invalid-request', message);
}

function templateMessage(m: ChatMessage, i: number, family: ModelFamily): TemplateMessage {
  if (typeof m !== 'object' || m === null) throw bad(`messages[${i}] must be an object`);
  const roles = ROLES[family];
  if (!roles.includes(m.role)) throw bad(`messages[${i}].role must be one of ${roles.join(', ')} (got ${JSON.stringify(m.role)})`);
  let content: string | null;
  if (typeof m.content === 'string') content = m.content;
  else if (m.content === null || m.content === undefined) {
    if (!(m.role === 'assistant' && Array.isArray(m.tool_calls))) throw bad(`messages[${i}].content is missing`);
    content = null;
  } else if (Array.isArray(m.content)) {
    content = m.content
      .map((p, j) => {
        if (p?.type !== 'text' || typeof p.text !== 'string') throw bad(`messages[${i}].content[${j}]: only text parts are supported`);
        return p.text;
      })
      .join('');
  } else throw bad(`messages[${i}].content must be a string or a list of text parts`);
  // DeepSeek-V3's template writes an assistant turn's tool calls only when its content is none.
  if (family === 'v3' && m.role === 'assistant' && Array.isArray(m.tool_calls) && m.tool_calls.length && !content) content = null;
  // OpenAI's 'developer' is the newer name of 'system'; V2/V3 templates only know the latter. V4's format
  // has a developer turn of its own.
  return { ...m, role: m.role === 'developer' && family === 'v3' ? 'system' : m.role, content };
}

/**
 * Thinking mode from DeepSeek's `thinking` switch, else from `reasoning_effort` (any level but 'none'
 * turns it on); off by default. V4 knows the efforts 'high' and 'max' (DeepSeek's API maps the others to high).
 */
function thinkingMode(params: ChatCompletionCreateParamsBase, family: ModelFamily): Pick<ChatRenderOptions, 'thinking' | 'reasoningEffort'> {
  const t = params.thinking as unknown;
  const type = (t as { type?: unknown } | null)?.type;
  if (t != null && (typeof t !== 'object' || (type !== 'enabled' && type !== 'disabled'))) {
    throw bad(`thinking must be {"type": "enabled"} or {"type": "disabled"} (got ${JSON.stringify(t)})`);
  }
  const effort = params.reasoning_effort;
  if (effort != null && !EFFORTS.includes(effort)) throw bad(`reasoning_effort must be one of ${EFFORTS.join(', ')} (got ${JSON.stringify(effort)})`);
  const thinking = t != null ? type === 'enabled' : effort != null && effort !== 'none';
  if (thinking && family !== 'v4') {
    const field = t != null ? 'thinking' : 'reasoning_effort';
    throw bad(`${field}: thinking mode needs a DeepSeek-V4 model; this model (V2/V3) has none`);
  }
  return thinking ? { thinking, reasoningEffort: effort === 'max' ? 'max' : 'high' } : { thinking };
}

/** The messages with response_format on the first system message (one is added when there is none). */
function withResponseFormat(messages: TemplateMessage[], rf: unknown): TemplateMessage[] {
  const first = messages[0];
  if (first?.role === 'system') return [{ ...first, response_format: rf }, ...messages.slice(1)];
  return [{ role: 'system', content: '', response_format: rf }, ...messages];
}

function optionalNumber(name: string, v: unknown, ok: (x: number) => boolean, range: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !ok(v)) throw bad(`${name} must be ${range} (got ${JSON.stringify(v)})`);
  return v;
}


function logitBias(v: unknown, vocab: number | undefined): [number, number][] {
  if (v === undefined || v === null) return [];
  if (typeof v !== 'object' || Array.isArray(v)) throw bad('logit_bias must be an object mapping token ids to numbers');
  const entries = Object.entries(v as Record<string, unknown>).map(([key, b]): [number, number] => {
    const id = Number(key);
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(id) || (vocab !== undefined && id >= vocab)) {
      throw bad(`logit_bias: ${JSON.stringify(key)} is not a token id${vocab !== undefined ? ` (0 … ${vocab - 1})` : ''}`);
    }
    if (typeof b !== 'number' || !(b >= -100 && b <= 100)) throw bad(`logit_bias[${key}] must be between -100 and 100 (got ${JSON.stringify(b)})`);
    return [id, b];
  });
  if (entries.length > MAX_BIAS_ENTRIES) throw bad(`logit_bias holds ${entries.length} tokens; at most ${MAX_BIAS_ENTRIES}`);
  return entries.sort((a, b) => a[0] - b[0]);
}

/** The request's penalties and bias, or undefined when it sets none that change anything. */
function penalties(params: ChatCompletionCreateParamsBase, vocab: number | undefined): SamplingPenalties | undefined {
  const range = (x: number) => x >= -2 && x <= 2;
  const presence = optionalNumber('presence_penalty', params.presence_penalty, range, 'between -2 and 2') ?? 0;
  const frequency = optionalNumber('frequency_penalty', params.frequency_penalty, range, 'between -2 and 2') ?? 0;
  const repetition = optionalNumber('repetition_penalty', params.repetition_penalty, (x) => x > 0 && x <= 100, 'in (0, 100]') ?? 1;
  const bias = logitBias(params.logit_bias, vocab).filter(([, b]) => b !== 0);
  if (presence === 0 && frequency === 0 && repetition === 1 && bias.length === 0) return undefined;
  return { logitBias: bias, presence, frequency, repetition };
}

function checkCompatibilityFields(params: ChatCompletionCreateParamsBase): void {
  if (params.user != null && typeof params.user !== 'string') throw bad('user must be a string');
  const so = params.stream_options as unknown;
  if (so != null) {
    if (typeof so !== 'object' || Object.keys(so).some((k) => k !== 'include_usage')) throw bad('stream_options takes only include_usage');
    const inc = (so as { include_usage?: unknown }).include_usage;
    if (inc != null && typeof inc !== 'boolean') throw bad('stream_options.include_usage must be a boolean');
  }
}

/** Top alternatives to report per token, or undefined when the request does not ask for logprobs. */
function logprobsRequest(params: ChatCompletionCreateParamsBase, backend: Pick<Generator, 'takeLogprobs'>): number | undefined {
  const on = params.logprobs;
  if (on != null && typeof on !== 'boolean') throw bad(`logprobs must be a boolean (got ${JSON.stringify(on)})`);
  const top = optionalNumber('top_logprobs', params.top_logprobs, (x) => Number.isInteger(x) && x >= 0 && x <= MAX_TOP_LOGPROBS, `a whole number 0 … ${MAX_TOP_LOGPROBS}`);
  if (top !== undefined && !on) throw bad('top_logprobs needs logprobs: true');
  if (!on) return undefined;
  if (!backend.takeLogprobs) throw bad('logprobs: this backend cannot report log-probabilities');
  return top ?? 0;
}

/** The backend's limits: its context, its vocabulary (token ids in the request stay below it), and whether it reports logprobs. */
export function prepareRequest(params: ChatCompletionCreateParamsBase, tokenizer: TextTokenizer, backend: Pick<Generator, 'contextLength' | 'vocabSize' | 'takeLogprobs'>): PreparedRequest {
  const { contextLength, vocabSize } = backend;
  if (typeof params !== 'object' || params === null) throw bad('the request must be an object');
  refuseUnsupportedFields(params);
  if (!Array.isArray(params.messages) || params.messages.length === 0) throw bad('messages must be a non-empty list');
  checkCompatibilityFields(params);
  optionalNumber('n', params.n, (x) => x === 1, '1 (one choice per request)');
  const temperature = optionalNumber('temperature', params.temperature, (x) => x >= 0 && x <= 2, 'between 0 and 2');
  const top_p = optionalNumber('top_p', params.top_p, (x) => x > 0 && x <= 1, 'in (0, 1]');
  const top_k = optionalNumber('top_k', params.top_k, (x) => Number.isInteger(x) && x >= 0, 'a whole number ≥ 0');
  const min_p = optionalNumber('min_p', params.min_p, (x) => x >= 0 && x <= 1, 'between 0 and 1');
  const seed = optionalNumber('seed', params.seed, Number.isSafeInteger, 'an integer');
  const pen = penalties(params, vocabSize);
  const logprobs = logprobsRequest(params, backend);
  const maxName = params.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const requested = optionalNumber(maxName, params.max_completion_tokens ?? params.max_tokens, (x) => Number.isInteger(x) && x >= 1, 'a whole number ≥ 1');
  const stopList = params.stop == null ? [] : typeof params.stop === 'string' ? [params.stop] : params.stop;
  if (!Array.isArray(stopList) || stopList.some((s) => typeof s !== 'string')) throw bad('stop must be a string or a list of strings');

  const family = tokenizer.family;
  const mode = thinkingMode(params, family);
  const format = responseFormat(params.response_format);
  const tools = toolsRequest(params, family);
  const constrained = replyGrammar(format, tools, family);
  if (constrained && mode.thinking) throw bad('response_format and forced tool calls are not supported in thinking mode yet');
  let messages = params.messages.map((m, i) => templateMessage(m, i, family));
  const last = messages[messages.length - 1];
  const continueFinal = last.role === 'assistant';
  if (continueFinal && (last.content === null || Array.isArray(last.tool_calls))) throw bad(`messages[${messages.length - 1}]: a final assistant message is continued, so it must hold text and no tool_calls`);
  // V4's format writes the response format into the system prompt (chat-encoding-v4.ts).
  if (format && family === 'v4') messages = withResponseFormat(messages, params.response_format);
  const ids = tokenizer.encodeChat(messages, { ...mode, ...(tools.tools.length ? { tools: tools.tools } : {}), ...(continueFinal ? { continueFinal } : {}) });
  const prefix = continueFinal ? (last.content as string) : undefined;
  let grammar: TokenGrammar | undefined;
  if (constrained) {
    if (vocabSize === undefined) throw bad('response_format: this backend does not say its vocabulary size, which constrained decoding needs');
    grammar = tokenGrammar(tokenizer, vocabSize, constrained.key, constrained.grammar);
  }
  if (ids.length >= contextLength) {
    throw new WebmoeError('context-overflow', `The prompt is ${ids.length} tokens but the context holds ${contextLength}; shorten the conversation.`, {
      detail: { promptTokens: ids.length, contextLength },
    });
  }
  if (requested !== undefined && ids.length + requested > contextLength) {
    throw new WebmoeError(
      'context-overflow',
      `The prompt (${ids.length} tokens) plus ${maxName} (${requested}) exceeds the context of ${contextLength} tokens; ask for at most ${contextLength - ids.length}.`,
      { detail: { promptTokens: ids.length, requestedTokens: requested, contextLength } },
    );
  }
  const maxTokens = requested ?? contextLength - ids.length;
  if (grammar) {
    const need = grammar.minTokens(prefix);
    if (need === null) throw bad('the final assistant message does not start a reply in the requested format (response_format or tool_choice)');
    if (need > maxTokens) throw bad(`${requested !== undefined ? maxName : 'the context'} leaves ${maxTokens} tokens; the requested format needs at least ${need}`);
  }
  const single = tools.single ? { single: true } : {};
  return {
    ids,
    maxTokens,
    stop: stopList,
    sampling: { temperature, top_p, top_k, min_p, seed, penalties: pen, logprobs },
    reply: family === 'v4' ? { kind: 'v4', thinking: mode.thinking ?? false, ...single } : { kind: 'text', ...(tools.tools.length ? { tools: true } : {}), ...single },
    ...(grammar ? { grammar } : {}),
    ...(prefix !== undefined ? { prefix } : {}),
  };
}
