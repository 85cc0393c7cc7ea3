// engine.chat.completions.create for both engines: OpenAI-shaped results and chunk streams on top of a
// RequestRunner, which is the only thing the in-process and Worker engines do differently.
import { WebmoeError } from '../errors';
import type { GenerationResult } from './conversation';
import type {
  ChatCompletion,
  ChatCompletionChunk,
  ChatCompletionCreateParams,
  ChatCompletionCreateParamsBase,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionCreateParamsStreaming,
} from './openai-types';
import { PushStream } from './push-stream';

export interface RequestRunner {
  /**
   * Checks and queues one request. Rejects at once for a bad request or a prompt past the context; else
   * resolves when accepted, with the generation's outcome still to come (wrapped so it does not flatten).
   */
  start(params: ChatCompletionCreateParamsBase, onText: (text: string) => void, signal: AbortSignal): Promise<{ readonly result: Promise<GenerationResult> }>;
}

export interface ChatCompletions {
  create(params: ChatCompletionCreateParamsStreaming): Promise<AsyncIterable<ChatCompletionChunk>>;
  create(params: ChatCompletionCreateParamsNonStreaming): Promise<ChatCompletion>;
  create(params: ChatCompletionCreateParams): Promise<ChatCompletion | AsyncIterable<ChatCompletionChunk>>;
}

let counter = 0;
function completionId(): string {
  return `chatcmpl-${Date.now().toString(36)}${(counter++).toString(36)}`;
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
    const id = completionId();
    const created = Math.floor(Date.now() / 1000);
    const model = modelId();

    if (!params.stream) {
      let r: GenerationResult;
      try {
        r = await (await runner.start(params, () => {}, controller.signal)).result;
      } finally {
        unlink();
      }
      return {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: r.text }, finish_reason: r.finishReason, logprobs: null }],
        usage: r.usage,
        timings: r.timings,
      };
    }

    const chunk = (delta: ChatCompletionChunk['choices'][0]['delta'], extra: Partial<ChatCompletionChunk> & { finish_reason?: GenerationResult['finishReason'] } = {}): ChatCompletionChunk => {
      const { finish_reason = null, ...rest } = extra;
      return { id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, finish_reason, logprobs: null }], ...rest };
    };
    const stream = new PushStream<ChatCompletionChunk>(() => controller.abort());
    let first = true;
    let started;
    try {
      started = await runner.start(
        params,
        (text) => {
          stream.push(chunk(first ? { role: 'assistant', content: text } : { content: text }));
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
        stream.push(chunk(first ? { role: 'assistant' } : {}, { finish_reason: r.finishReason, usage: r.usage, timings: r.timings }));
        stream.end();
      },
      (e) => stream.fail(e),
    ).finally(unlink);
    return stream;
  }
  return { create } as ChatCompletions;
}
