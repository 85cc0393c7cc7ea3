// A reply's message fields from the generated text, while it streams and once it is done. V2/V3 replies
// are content, and with tools V3's tool-call block (text/tools-v3.ts, streamed call by call); DeepSeek-V4
// replies hold their reasoning (thinking mode), content and tool calls in one text, split by
// text/chat-reply-v4.ts.
import { WebmoeError, isWebmoeError } from '../errors';
import { ReplyStreamV4, parseReplyV4, type ReplyDeltaV4, type ReplyToolCallV4 } from '../text/chat-reply-v4';
import type { ReplyFormat } from './chat-request';
import type { GenerationResult } from './conversation';
import { ToolReplyStreamV3, type ToolReplyDelta } from '../text/tools-v3';
import type { ChatCompletionTokenLogprob } from './openai-types';
export type { ReplyFormat } from './chat-request';

/** A piece of a tool call: its name first (with its index), then its arguments in pieces. */
export interface ToolCallDelta {
  readonly index: number;
  readonly name?: string;
  readonly arguments?: string;
}

/** A piece of the reply as a chunk's delta carries it, with the log-probabilities of the tokens sampled since the last piece (when asked). */
export type ReplyDelta = ({ readonly content: string } | { readonly reasoning_content: string } | { readonly tool_calls: readonly ToolCallDelta[] }) & {
  readonly logprobs?: readonly ChatCompletionTokenLogprob[];
};

/** The assistant message's fields (tool calls without ids: completions.ts gives them theirs). */
export interface ReplyFields {
  readonly content: string;
  /** V4 thinking mode only. */
  readonly reasoning_content?: string;
  /** When the reply has tool calls. */
  readonly tool_calls?: readonly ReplyToolCallV4[];
}

/** A finished reply: the generation's figures and the message; plain data, so that it crosses to the page. */
export interface ReplyResult extends Omit<GenerationResult, 'text'> {
  readonly message: ReplyFields;
}

export class ReplySplitter {
  private readonly v4: { readonly stream: ReplyStreamV4; readonly thinking: boolean } | null;
  private readonly v3Tools: ToolReplyStreamV3 | null;
  /** Keep the first tool call only (parallel_tool_calls: false). */
  private readonly single: boolean;

  constructor(
    format: ReplyFormat,
    private readonly onDelta: (d: ReplyDelta) => void,
  ) {
    this.v4 = format.kind === 'v4' ? { stream: new ReplyStreamV4({ thinking: format.thinking }), thinking: format.thinking } : null;
    this.v3Tools = format.kind === 'text' && format.tools ? new ToolReplyStreamV3() : null;
    this.single = format.single ?? false;
  }

  /** The next piece of the reply's text. */
  push(text: string): void {
    if (this.v4) for (const d of this.v4.stream.push(text)) this.emit(d);
    else if (this.v3Tools) this.emitV3(this.v3Tools.push(text));
    else if (text) this.onDelta({ content: text });
  }

  /**
   * The reply is done: sends what was held back and returns the message. Throws WebmoeError('model-output')
   * when the reply breaks its format (V4's, or V3's tool calls); `detail` has the reply's raw text and figures.
   */
  finish(r: GenerationResult): ReplyResult {
    const { text, ...figures } = r;
    const v4 = this.v4;
    if (!v4 && !this.v3Tools) return { ...figures, message: { content: text } };
    let content: string;
    let calls: ReplyToolCallV4[];
    let reasoning: string | undefined;
    try {
      if (v4) {
        for (const d of v4.stream.flush()) this.emit(d);
        const parsed = parseReplyV4(text, { thinking: v4.thinking });
        ({ content, toolCalls: calls } = parsed);
        if (v4.thinking) reasoning = parsed.reasoningContent;
      } else {
        const parsed = this.v3Tools!.finish();
        this.emitV3(parsed.deltas);
        content = parsed.content;
        calls = parsed.calls.map((c) => ({ type: 'function', function: c }));
      }
    } catch (e) {
      if (!isWebmoeError(e, 'model-output')) throw e;
      const cut = r.finishReason === 'length' ? ' (max_tokens or the context cut the reply short)' : '';
      throw new WebmoeError('model-output', `${e.message}${cut}; the reply's text is in detail.text`, { cause: e, detail: { ...e.detail, text, ...figures } });
    }
    if (this.single) calls = calls.slice(0, 1);
    const toolCalls = calls.length > 0;
    return {
      ...figures,
      ...(toolCalls ? { finishReason: 'tool_calls' as const } : {}),
      message: {
        content,
        ...(reasoning !== undefined ? { reasoning_content: reasoning } : {}),
        ...(toolCalls ? { tool_calls: calls } : {}),
      },
    };
  }

  private emit(d: ReplyDeltaV4): void {
    this.onDelta(d.field === 'content' ? { content: d.text } : { reasoning_content: d.text });
  }

  private emitV3(deltas: readonly ToolReplyDelta[]): void {
    for (const d of deltas) {
      if ('content' in d) {
        if (d.content) this.onDelta({ content: d.content });
      } else if (!this.single || d.call.index === 0) this.onDelta({ tool_calls: [d.call] });
    }
  }
}
