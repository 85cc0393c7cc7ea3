// Splitting a DeepSeek-V4 reply (the text generated after the prompt of chat-encoding-v4.ts) into its
// reasoning, its content and its tool calls:
//
//   thinking mode:  {reasoning}</think>{content}[\n\n<｜DSML｜tool_calls>…</｜DSML｜tool_calls>]<｜end▁of▁sentence｜>
//   chat mode:      {content}[\n\n<｜DSML｜tool_calls>…</｜DSML｜tool_calls>]<｜end▁of▁sentence｜>
//
// A reply may stop early (a length limit) or reach the caller without its end-of-sentence token (a
// detokenizer that skips special tokens): then `ended` is false and the text so far is split by the same
// rules; a reply that stops inside its reasoning is all reasoning. An unfinished tool-call block is an
// error like a malformed one.
import { WebmoeError } from '../errors';
import { V4 } from './chat-tokens-v4';
import { parseToolCalls, type DsmlToolCall } from './dsml';
import { StopStringFilter } from './stop-strings';

/** A tool call in OpenAI's shape (ids are the caller's to assign). */
export interface ReplyToolCallV4 {
  readonly type: 'function';
  readonly function: DsmlToolCall;
}

export interface ParsedReplyV4 {
  /** The text before `</think>` (thinking mode); '' in chat mode. */
  readonly reasoningContent: string;
  readonly content: string;
  readonly toolCalls: ReplyToolCallV4[];
  /** Whether the reply ended with `<｜end▁of▁sentence｜>`. */
  readonly ended: boolean;
}

const TOOL_CALLS = `\n\n<${V4.dsml}tool_calls>`;
/** Strings that cannot occur inside reasoning or content: their presence means the split went wrong. */
const FORBIDDEN = [V4.bos, V4.eos, V4.thinkStart, V4.thinkEnd, V4.dsml];

function bad(message: string, offset: number): WebmoeError {
  return new WebmoeError('model-output', `V4 reply: ${message}`, { detail: { offset } });
}

/** The earliest of `stops` at or after `from`: its index (text.length when none) and which one. */
function firstOf(text: string, from: number, stops: readonly string[]): { at: number; stop: string | null } {
  let best = { at: text.length, stop: null as string | null };
  for (const s of stops) {
    const i = text.indexOf(s, from);
    if (i >= 0 && i < best.at) best = { at: i, stop: s };
  }
  return best;
}

/**
 * Splits `text`, the model's output after the prompt. `thinking` must be the mode the prompt was encoded
 * in. Throws WebmoeError('model-output') naming the problem and its offset when the text does not
 * follow the layout above: tool calls before `</think>`, malformed DSML, text after the tool calls or
 * after the end-of-sentence token, or a special string inside the reasoning or the content.
 */
export function parseReplyV4(text: string, options: { readonly thinking: boolean }): ParsedReplyV4 {
  let at = 0;
  let reasoningContent = '';
  if (options.thinking) {
    const r = firstOf(text, 0, [V4.thinkEnd, TOOL_CALLS, V4.eos]);
    if (r.stop === TOOL_CALLS) throw bad(`tool calls before ${V4.thinkEnd}`, r.at);
    reasoningContent = text.slice(0, r.at);
    if (r.stop !== V4.thinkEnd) {
      // Stopped while still reasoning: everything so far is reasoning.
      const ended = r.stop === V4.eos;
      if (ended && r.at + V4.eos.length !== text.length) throw bad('unexpected text after the end-of-sentence token', r.at + V4.eos.length);
      return checked({ reasoningContent, content: '', toolCalls: [], ended }, 0);
    }
    at = r.at + V4.thinkEnd.length;
  }
  const contentStart = at;
  const c = firstOf(text, at, [V4.eos, TOOL_CALLS]);
  const content = text.slice(at, c.at);
  const toolCalls: ReplyToolCallV4[] = [];
  at = c.at;
  if (c.stop === TOOL_CALLS) {
    const parsed = parseToolCalls(text, at + 2);
    toolCalls.push(...parsed.calls.map((f) => ({ type: 'function' as const, function: f })));
    at = parsed.end;
  }
  const ended = text.startsWith(V4.eos, at);
  if (ended) at += V4.eos.length;
  if (at !== text.length) throw bad(`unexpected text after the ${ended ? 'end-of-sentence token' : 'tool calls'}`, at);
  return checked({ reasoningContent, content, toolCalls, ended }, contentStart);
}

function checked(r: ParsedReplyV4, contentStart: number): ParsedReplyV4 {
  for (const [field, s, start] of [['reasoning', r.reasoningContent, 0], ['content', r.content, contentStart]] as const) {
    const hit = FORBIDDEN.find((t) => s.includes(t));
    if (hit) throw bad(`the ${field} contains ${hit}`, start + s.indexOf(hit));
  }
  return r;
}

/** A piece of a reply's reasoning or content, in the field names of DeepSeek's API. */
export interface ReplyDeltaV4 {
  readonly field: 'reasoning_content' | 'content';
  readonly text: string;
}

/**
 * The streaming side of parseReplyV4: a reply's text arrives in pieces and its reasoning and content go
 * out as soon as they are certain. A marker (`</think>`, the start of the tool calls) that arrives split
 * across pieces is held back until it is complete; the tool-call block is held back whole, for
 * parseReplyV4 to read once the reply is done. When parseReplyV4 accepts the whole text, each field's
 * pieces concatenate to what it returns.
 */
export class ReplyStreamV4 {
  /** The field being written; null inside the tool calls. */
  private field: ReplyDeltaV4['field'] | null;
  /** Finds the marker that ends the field, across pieces. */
  private marker: StopStringFilter;

  constructor(options: { readonly thinking: boolean }) {
    this.field = options.thinking ? 'reasoning_content' : 'content';
    this.marker = new StopStringFilter([options.thinking ? V4.thinkEnd : TOOL_CALLS]);
  }

  push(text: string): ReplyDeltaV4[] {
    const out: ReplyDeltaV4[] = [];
    while (this.field) {
      const r = this.marker.push(text);
      if (r.text) out.push({ field: this.field, text: r.text });
      if (!r.stopped) break;
      if (this.field === 'reasoning_content') {
        this.field = 'content';
        this.marker = new StopStringFilter([TOOL_CALLS]);
      } else this.field = null;
      text = r.rest ?? '';
    }
    return out;
  }

  /** The end of the reply: what was held back because it might have begun a marker. */
  flush(): ReplyDeltaV4[] {
    const text = this.field ? this.marker.flush() : '';
    return this.field && text ? [{ field: this.field, text }] : [];
  }
}
