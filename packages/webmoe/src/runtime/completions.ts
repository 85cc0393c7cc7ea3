// engine.chat.completions.create for both engines: OpenAI-shaped results and chunk streams on top of a
// RequestRunner, which is the only thing the in-process and Worker engines do differently.
import { WebmoeError } from '../errors';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionChunkToolCall,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsBase,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
  ChatCompletionMessage,
  ChatCompletionMessageToolCall,
  ChatCompletionTokenLogprob,
  ChoiceLogprobs,
} from './openai-types';
import { PushStream } from './push-stream';
import type { ReplyDelta, ReplyFields, ReplyResult, ToolCallDelta } from './reply';

export interface RequestRunner {
  /**
   * Checks and queues one request. Rejects at once for a bad request or a prompt past the context; else
   * resolves when accepted, with the generation's outcome still to come (wrapped so it does not flatten).
   * `onDelta` gets each piece of the reply as soon as it is final.
   */
  start(params: ChatCompletionCreateParamsBase, onDelta: (d: ReplyDelta) => void, signal: AbortSignal): Promise<{ readonly result: Promise<ReplyResult> }>;
}

export interface ChatCompletions {
  create(params: ChatCompletionCreateParamsStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(params: ChatCompletionCreateParamsNonStreaming): Promise<ChatCompletion>;
  create(params: ChatCompletionCreateParams): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

function choiceLogprobs(content: readonly ChatCompletionTokenLogprob[] | undefined): ChoiceLogprobs | null {
  return content ? { content: [...content], refusal: null } : null;
}

let counter = 0;
function uniqueSuffix(): string {
  return `${Date.now().toString(36)}${(counter++).toString(36)}`;
}

/** A streamed piece of call `index`: the first (with the name) carries the id the final message gives it. */
function toolCallChunk(c: ToolCallDelta, suffix: string): ChatCompletionChunkToolCall {
  if (c.name === undefined) return { index: c.index, function: { arguments: c.arguments ?? '' } };
  return { index: c.index, id: callId(suffix, c.index), type: 'function', function: { name: c.name, arguments: c.arguments ?? '' } };
}

function callId(suffix: string, index: number): string {
  return `call_${suffix}_${index}`;
}

/** The assistant message, its tool calls (if any) given ids unique per completion. */
function assistantMessage(m: ReplyFields, suffix: string): ChatCompletionMessage {
  const { tool_calls, ...fields } = m;
  if (!tool_calls?.length) return { role: 'assistant', ...fields, refusal: null };
  const calls: ChatCompletionMessageToolCall[] = tool_calls.map((c, i) => ({ id: callId(suffix, i), type: c.type, function: { ...c.function } }));
  return { role: 'assistant', ...fields, refusal: null, tool_calls: calls };
}

/**
 * An AbortSignal that fires when the caller's does, or when we cancel (the consumer stopped iterating);
 * `unlink` detaches it from the caller's signal, which may outlive many requests.
 */
function linkedController(outer?: AbortSignal): { controller: AbortController; unlink: () => void } {
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  outer?.addEventListener('abort', onAbort, { once: true });
  return { controller, unlink: () => outer?.removeEventListener('abort', onAbort) };
}

export function createChatCompletions(modelId: () => string, runner: RequestRunner): ChatCompletions {
  async function create(params: ChatCompletionCreateParams): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>> {
    if (params?.signal?.aborted) throw new WebmoeError('aborted', 'the request was aborted before it started');
    const { controller, unlink } = linkedController(params?.signal);
    const suffix = uniqueSuffix();
    const id = `chatcmpl-${suffix}`;
    const created = Math.floor(Date.now() / 1000);
    const model = modelId();

    if (!params.stream) {
      let r: ReplyResult;
      try {
        r = await (await runner.start(params, () => {}, controller.signal)).result;
      } finally {
        unlink();
      }
      const message = assistantMessage(r.message, suffix);
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message, finish_reason: r.finishReason, logprobs: choiceLogprobs(r.logprobs) }],
        usage: r.usage,
        timings: r.timings,
      };
    }

    let sentLogprobs = 0;
    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], extra: Partial<ChatCompletionChunk> & { finish_reason?: ReplyResult['finishReason']; logprobs?: readonly ChatCompletionTokenLogprob[] } = {}): ChatCompletionChunk => {
      const { finish_reason = null, logprobs, ...rest } = extra;
      sentLogprobs += logprobs?.length ?? 0;
      return { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason, logprobs: choiceLogprobs(logprobs) }], ...rest };
    };
    const stream = new PushStream<ChatCompletionChunk>(() => controller.abort());
    let first = true;
    // V3 replies stream their calls piece by piece (reply.ts); V4's come whole at the end.
    let streamedCalls = false;
    let started;
    try {
      started = await runner.start(
        params,
        ({ logprobs, ...piece }) => {
          const delta = 'tool_calls' in piece ? { tool_calls: piece.tool_calls.map((c) => toolCallChunk(c, suffix)) } : piece;
          if ('tool_calls' in piece) streamedCalls = true;
          stream.push(chunk(first ? { role: 'assistant', ...delta } : delta, logprobs ? { logprobs } : {}));
          first = false;
        },
        controller.signal,
      );
    } catch (e) {
      unlink();
      throw e;
    }
    started.result.then(
      (r) => {
        const calls = assistantMessage(r.message, suffix).tool_calls;
        if (calls && !streamedCalls) {
          stream.push(chunk({ ...(first ? { role: 'assistant' as const } : {}), tool_calls: calls.map((c, index) => ({ index, ...c })) }));
          first = false;
        }
        const rest = r.logprobs?.slice(sentLogprobs);
        stream.push(chunk(first ? { role: 'assistant' } : {}, { finish_reason: r.finishReason, usage: r.usage, timings: r.timings, ...(rest ? { logprobs: rest } : {}) }));
        stream.end();
      },
      (e) => stream.fail(e),
    ).finally(unlink);
    return stream;
  }
  return { create } as ChatCompletions;
}
