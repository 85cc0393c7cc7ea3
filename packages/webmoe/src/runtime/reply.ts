// A reply's message fields from the generated text, while it streams and once it is done. V2/V3 replies
// are all content; DeepSeek-V4 replies hold their reasoning (thinking mode), content and tool calls in
// one text, split by text/chat-reply-v4.ts.
import { WebmoeError, isWebmoeError } from '../errors';
import { ReplyStreamV4, parseReplyV4, type ReplyDeltaV4, type ReplyToolCallV4 } from '../text/chat-reply-v4';
import type { ReplyFormat } from './chat-request';
import type { GenerationResult } from './conversation';
import type { ChatCompletionTokenLogprob } from './openai-types';
export type { ReplyFormat } from './chat-request';

/** A piece of the reply as a chunk's delta carries it, with the log-probabilities of the tokens sampled since the last piece (when asked). */
export type ReplyDelta = ({ readonly content: string } | { readonly reasoning_content: string }) & { readonly logprobs?: readonly ChatCompletionTokenLogprob[] };

/** The assistant message's fields (tool calls without ids: completions.ts gives them theirs). */
export interface ReplyFields {
  readonly content: string;
  /** V4 thinking mode only. */
  readonly reasoning_content?: string;
  /** V4 only, when the reply has tool calls. */
  readonly tool_calls?: readonly ReplyToolCallV4[];
}

/** A finished reply: the generation's figures and the message; plain data, so that it crosses to the page. */
export interface ReplyResult extends Omit<GenerationResult, 'text'> {
  readonly message: ReplyFields;
}

export class ReplySplitter {
  private readonly v4: { readonly stream: ReplyStreamV4; readonly thinking: boolean } | null;

  constructor(
    format: ReplyFormat,
    private readonly onDelta: (d: ReplyDelta) => void,
  ) {
    this.v4 = format.kind === 'v4' ? { stream: new ReplyStreamV4({ thinking: format.thinking }), thinking: format.thinking } : null;
  }

  /** The next piece of the reply's text. */
  push(text: string): void {
    if (!this.v4) {
      if (text) this.onDelta({ content: text });
      return;
    }
    for (const d of this.v4.stream.push(text)) this.emit(d);
  }

  /**
   * The reply is done: sends what was held back and returns the message. Throws WebmoeError('model-output')
   * when a V4 reply breaks its format; `detail` has the reply's raw text and figures.
   */
  finish(r: GenerationResult): ReplyResult {
    const { text, ...figures } = r;
    const v4 = this.v4;
    if (!v4) return { ...figures, message: { content: text } };
    for (const d of v4.stream.flush()) this.emit(d);
    let parsed;
    try {
      parsed = parseReplyV4(text, { thinking: v4.thinking });
    } catch (e) {
      if (!isWebmoeError(e, 'model-output')) throw e;
      const cut = r.finishReason === 'length' ? ' (max_tokens or the context cut the reply short)' : '';
      throw new WebmoeError('model-output', `${e.message}${cut}; the reply's text is in detail.text`, { cause: e, detail: { ...e.detail, text, ...figures } });
    }
    const toolCalls = parsed.toolCalls.length > 0;
    return {
      ...figures,
      ...(toolCalls ? { finishReason: 'tool_calls' as const } : {}),
      message: {
        content: parsed.content,
        ...(v4.thinking ? { reasoning_content: parsed.reasoningContent } : {}),
        ...(toolCalls ? { tool_calls: parsed.toolCalls } : {}),
      },
    };
  }

  private emit(d: ReplyDeltaV4): void {
    this.onDelta(d.field === 'content' ? { content: d.text } : { reasoning_content: d.text });
  }
}
