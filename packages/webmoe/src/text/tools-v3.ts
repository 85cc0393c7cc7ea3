// Tool calls in DeepSeek-V3's chat format (docs/chat-api.md#tools). The model's chat template renders the
// calls of earlier assistant turns and the tool results; a model writes a call as
//
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
//   ```json
//   ARGS
//   ```<｜tool▁call▁end｜>[\n<｜tool▁call▁begin｜>…<｜tool▁call▁end｜>]<｜tool▁calls▁end｜>
//
// The template names no tool definitions (DeepSeek's server put them in the prompt), so a template without
// a `tools` variable gets them in its system prompt, described in these same markers.
import { WebmoeError } from '../errors';
import { compileSchema, anyOf, literal, seq, type GrammarNode } from './json-grammar';
import { StopStringFilter } from './stop-strings';

export const V3_TOOL = {
  callsBegin: '<｜tool▁calls▁begin｜>',
  callsEnd: '<｜tool▁calls▁end｜>',
  callBegin: '<｜tool▁call▁begin｜>',
  callEnd: '<｜tool▁call▁end｜>',
  sep: '<｜tool▁sep｜>',
  argsOpen: '\n```json\n',
  argsClose: '\n```',
} as const;

/** An OpenAI tool definition as the request carries it (checked by the runtime). */
export interface ToolDefinition {
  readonly type: 'function';
  readonly function: { readonly name: string; readonly description?: string; readonly parameters?: Readonly<Record<string, unknown>>; readonly strict?: boolean | null };
}

/** The system-prompt section that lists the tools and shows the call format. */
export function toolsPromptV3(tools: readonly ToolDefinition[]): string {
  const list = tools.map((t) => {
    const f = t.function;
    return `### ${f.name}\n${f.description ? `${f.description}\n` : ''}Parameters (JSON Schema): ${JSON.stringify(f.parameters ?? { type: 'object', properties: {} })}`;
  });
  const example = `${V3_TOOL.callsBegin}${V3_TOOL.callBegin}function${V3_TOOL.sep}TOOL_NAME${V3_TOOL.argsOpen}{"argument": "value"}${V3_TOOL.argsClose}${V3_TOOL.callEnd}${V3_TOOL.callsEnd}`;
  return `## Tools\n\nYou can call these tools:\n\n${list.join('\n\n')}\n\nTo call tools, reply with one block like this (one ${V3_TOOL.callBegin}…${V3_TOOL.callEnd} per call; the arguments are a JSON object):\n${example}`;
}

/** The grammar of a reply that is exactly one call to one of `tools` (tool_choice 'required' or a named function). */
export function forcedCallGrammarV3(tools: readonly ToolDefinition[], path: (i: number) => string): GrammarNode {
  return seq(
    literal(`${V3_TOOL.callsBegin}${V3_TOOL.callBegin}function${V3_TOOL.sep}`),
    anyOf(tools.map((t, i) => seq(
      literal(`${t.function.name}${V3_TOOL.argsOpen}`),
      compileSchema(t.function.parameters ?? { type: 'object' }, path(i)),
      literal(`${V3_TOOL.argsClose}${V3_TOOL.callEnd}${V3_TOOL.callsEnd}`),
    ))),
  );
}

/** A piece of a reply with tool calls: content, or part of call `index` (its name first, then its arguments in pieces). */
export type ToolReplyDelta =
  | { readonly content: string }
  | { readonly call: { readonly index: number; readonly name?: string; readonly arguments?: string } };

export interface ParsedToolCall {
  readonly name: string;
  readonly arguments: string;
}

const enum P { Content, Between, Type, Name, Args, CallEnd }

/**
 * Splits a V3 reply into content and tool calls as it streams: push() returns what is final so far (a
 * marker split across pieces waits for the next), finish() the whole message (WebmoeError 'model-output'
 * when a call is cut off or malformed). Text after the calls block is content, as before it.
 */
export class ToolReplyStreamV3 {
  private phase = P.Content;
  /** Finds the marker that ends the content or a call's arguments, across pieces. */
  private marker = new StopStringFilter([V3_TOOL.callsBegin]);
  /** Text inside the block that is not yet a whole element. */
  private buf = '';
  private content = '';
  private readonly calls: { name: string; arguments: string }[] = [];

  push(text: string): ToolReplyDelta[] {
    const out: ToolReplyDelta[] = [];
    let next: string | null = text;
    while (next !== null) next = this.advance(next, out);
    return out;
  }

  /** Takes `text` in the current phase; returns what is left for the next phase, or null when it needs more. */
  private advance(text: string, out: ToolReplyDelta[]): string | null {
    if (this.phase === P.Content || this.phase === P.Args) {
      const r = this.marker.push(text);
      if (r.text && this.phase === P.Content) this.emitContent(r.text, out);
      else if (r.text) {
        const index = this.calls.length - 1;
        this.calls[index].arguments += r.text;
        out.push({ call: { index, arguments: r.text } });
      }
      if (!r.stopped) return null;
      this.phase = this.phase === P.Content ? P.Between : P.CallEnd;
      return r.rest ?? '';
    }
    const b = (this.buf += text);
    const take = (n: number, phase: P) => {
      this.buf = '';
      this.phase = phase;
      return b.slice(n);
    };
    switch (this.phase) {
      case P.Between: {
        const t = b.replace(/^\s+/, '');
        if (t.startsWith(V3_TOOL.callBegin)) return take(b.length - t.length + V3_TOOL.callBegin.length, P.Type);
        if (t.startsWith(V3_TOOL.callsEnd)) {
          this.marker = new StopStringFilter([V3_TOOL.callsBegin]);
          return take(b.length - t.length + V3_TOOL.callsEnd.length, P.Content);
        }
        if (t && !V3_TOOL.callBegin.startsWith(t) && !V3_TOOL.callsEnd.startsWith(t)) throw malformed(`expected ${V3_TOOL.callBegin} or ${V3_TOOL.callsEnd}`, t);
        return null;
      }
      case P.Type: {
        const i = b.indexOf(V3_TOOL.sep);
        if (i < 0) return null;
        if (b.slice(0, i) !== 'function') throw malformed('a tool call of a type other than function', b.slice(0, i));
        return take(i + V3_TOOL.sep.length, P.Name);
      }
      case P.Name: {
        const i = b.indexOf(V3_TOOL.argsOpen);
        if (i < 0) return null;
        const name = b.slice(0, i);
        if (!name || /\s/.test(name)) throw malformed('a tool call without a valid name', name);
        this.calls.push({ name, arguments: '' });
        out.push({ call: { index: this.calls.length - 1, name } });
        this.marker = new StopStringFilter([V3_TOOL.argsClose]);
        return take(i + V3_TOOL.argsOpen.length, P.Args);
      }
      default: {
        if (b.startsWith(V3_TOOL.callEnd)) return take(V3_TOOL.callEnd.length, P.Between);
        if (b && !V3_TOOL.callEnd.startsWith(b)) throw malformed(`expected ${V3_TOOL.callEnd} after the arguments`, b);
        return null;
      }
    }
  }

  private emitContent(s: string, out: ToolReplyDelta[]): void {
    this.content += s;
    out.push({ content: s });
  }

  /** The rest of the reply; throws when a call is unfinished or its arguments are not a JSON object. */
  finish(): { deltas: ToolReplyDelta[]; content: string; calls: ParsedToolCall[] } {
    const deltas: ToolReplyDelta[] = [];
    if (this.phase === P.Content) {
      const rest = this.marker.flush();
      if (rest) this.emitContent(rest, deltas);
    } else if (this.phase !== P.Between || this.buf.trim()) {
      throw malformed('the reply ends inside a tool call', this.buf);
    }
    for (const c of this.calls) {
      let v: unknown;
      try {
        v = JSON.parse(c.arguments);
      } catch {
        throw malformed(`the arguments of ${c.name} are not JSON`, c.arguments);
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw malformed(`the arguments of ${c.name} are not a JSON object`, c.arguments);
    }
    return { deltas, content: this.content, calls: this.calls.map((c) => ({ ...c })) };
  }
}

function malformed(what: string, near: string): WebmoeError {
  return new WebmoeError('model-output', `the reply's tool calls are malformed: ${what} (near ${JSON.stringify(near.slice(0, 80))})`);
}
