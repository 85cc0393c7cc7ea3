// DeepSeek-V4's chat format. V4 ships no Jinja chat template: DeepSeek defines its prompts with a Python
// encoder (encoding/encoding_dsv4.py in the model repository). This renders the same strings from
// OpenAI-shaped messages:
//
//   <｜begin▁of▁sentence｜>{system}
//   <｜User｜>{user}<｜Assistant｜></think>{reply}<｜end▁of▁sentence｜>      an earlier turn
//   <｜User｜>{user}<｜Assistant｜><think>                                  the generation prompt, thinking mode
//   <｜User｜>{user}<｜Assistant｜></think>                                 the generation prompt, chat mode
//
// (one string, no line breaks between turns). The rules, in the order they apply:
// - Tools (OpenAI format) belong to the first system message; `options.tools` puts them there, adding an
//   empty system message when the conversation has none. A system or developer message renders its
//   tools and response_format after its text, each after a blank line.
// - Tool results: V4 has no tool role. Each `tool` message becomes `<tool_result>{content}</tool_result>`
//   inside a user turn: results following one another share one turn, a user message right after them
//   joins it, all separated by blank lines, and results are put in the order of the assistant's calls.
//   Consecutive user messages are joined the same way.
// - developer messages are user turns. latest_reminder messages render as `<｜latest_reminder｜>{text}`.
// - An assistant turn is [{reasoning}</think>]{content}[\n\n{DSML tool calls}]<｜end▁of▁sentence｜>
//   (dsml.ts). In thinking mode the reasoning part is written for the turn after the last user turn, and
//   for every turn when earlier reasoning is kept; the user turn before it then ends with <think>, every
//   other one with </think>. Chat mode never writes reasoning.
// - Earlier reasoning is dropped in thinking mode (and developer messages before the last user turn with
//   it), unless the caller asks to keep it or any message carries tools: an agent's plan must survive
//   its tool round trips.
// - reasoningEffort 'max' in thinking mode puts a fixed instruction before the first message.
import { WebmoeError } from '../errors';
import type { ChatTemplateOptions, TemplateMessage } from './chat-template';
import { V4 } from './chat-tokens-v4';
import { parseReplyV4, type ParsedReplyV4 } from './chat-reply-v4';
import { renderToolCalls, type DsmlInvoke } from './dsml';
import { pythonJson } from './python-json';

/** The message roles this format renders. */
export const V4_ROLES: readonly string[] = ['system', 'developer', 'user', 'assistant', 'tool', 'latest_reminder'];

/** An OpenAI tool definition: `{type: 'function', function: {name, description, parameters}}`. */
export interface ToolDefinitionV4 {
  readonly type?: string;
  readonly function: Readonly<Record<string, unknown>>;
}

export interface ChatEncodingV4Options extends ChatTemplateOptions {
  /** Thinking mode: the reply starts with its reasoning, after `<think>`. Default false (chat mode). */
  readonly thinking?: boolean;
  /** 'max' prefixes the prompt with DeepSeek's maximum-effort instruction (thinking mode only); 'high' is the default behaviour. */
  readonly reasoningEffort?: 'high' | 'max';
  /** Tool definitions, rendered into the first system message. */
  readonly tools?: readonly ToolDefinitionV4[];
  /** Keep earlier turns' reasoning_content in thinking mode. Default false; always true when tools are present. */
  readonly keepReasoning?: boolean;
}

type Block = { readonly type: 'text'; readonly text: string } | { readonly type: 'tool_result'; readonly callId: string; readonly content: string };

interface Turn {
  readonly role: 'system' | 'developer' | 'user' | 'assistant' | 'latest_reminder';
  readonly content: string;
  /** user: text and tool results, joined by blank lines. */
  readonly blocks?: Block[];
  readonly reasoning?: string;
  readonly calls?: DsmlInvoke[];
  /** assistant: its calls' ids, to order the results that answer them. */
  readonly callIds?: string[];
  readonly tools?: readonly Readonly<Record<string, unknown>>[];
  readonly responseFormat?: unknown;
}

const TOOLS_SECTION_HEAD = `## Tools

You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "<${V4.dsml}tool_calls>" block like the following:

<${V4.dsml}tool_calls>
<${V4.dsml}invoke name="$TOOL_NAME">
<${V4.dsml}parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</${V4.dsml}parameter>
...
</${V4.dsml}invoke>
<${V4.dsml}invoke name="$TOOL_NAME2">
...
</${V4.dsml}invoke>
</${V4.dsml}tool_calls>

String parameters should be specified as is and set \`string="true"\`. For all other types (numbers, booleans, arrays, objects), pass the value in JSON format and set \`string="false"\`.

If thinking_mode is enabled (triggered by ${V4.thinkStart}), you MUST output your complete reasoning inside ${V4.thinkStart}...${V4.thinkEnd} BEFORE any tool calls or final response.

Otherwise, output directly after ${V4.thinkEnd} with tool calls or final response.

### Available Tool Schemas

`;
const TOOLS_SECTION_TAIL = `

You MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.
`;
const RESPONSE_FORMAT_HEAD = '## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n';
const REASONING_EFFORT_MAX = 'Reasoning Effort: Absolute maximum with no shortcuts permitted.\n'
  + 'You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial scenarios.\n'
  + 'Explicitly write out your entire deliberation process, documenting every intermediate step, considered alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n';

function bad(message: string, field: string): WebmoeError {
  return new WebmoeError('invalid-request', message, { detail: { field } });
}

function optionalString(m: TemplateMessage, key: string, where: string): string | undefined {
  const v = m[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(`${where}.${key} must be a string`, `${where}.${key}`);
  return v;
}

function toolFunctions(v: unknown, where: string): Readonly<Record<string, unknown>>[] {
  if (!Array.isArray(v)) throw bad(`${where} must be a list of tool definitions`, where);
  return v.map((t, j) => {
    const f = (t as ToolDefinitionV4 | null)?.function;
    if (typeof f !== 'object' || f === null || typeof f.name !== 'string') throw bad(`${where}[${j}].function must be an object with a name`, `${where}[${j}]`);
    return f;
  });
}

/** An OpenAI tool call's name and arguments (a JSON object as text, or already an object). */
function invoke(v: unknown, where: string): { call: DsmlInvoke; id: string } {
  const tc = v as { id?: unknown; function?: { name?: unknown; arguments?: unknown } } | null;
  const f = tc?.function;
  if (typeof f?.name !== 'string') throw bad(`${where}.function.name must be a string`, `${where}.function.name`);
  let args: unknown = f.arguments ?? {};
  if (typeof args === 'string') {
    // Arguments that are not JSON travel as one string parameter, as DeepSeek's encoder does.
    try {
      args = JSON.parse(args);
    } catch {
      args = { arguments: args };
    }
  }
  if (typeof args !== 'object' || args === null || Array.isArray(args)) throw bad(`${where}.function.arguments must be a JSON object`, `${where}.function.arguments`);
  return { call: { name: f.name, args: args as Record<string, unknown> }, id: typeof tc?.id === 'string' ? tc.id : '' };
}

/** Checks one message and brings it to a Turn; tool messages become user turns holding one result. */
function toTurn(m: TemplateMessage, i: number): Turn {
  const where = `messages[${i}]`;
  if (m.task !== undefined) throw bad(`${where}.task: DeepSeek's internal task tokens are not supported`, `${where}.task`);
  const content = optionalString(m, 'content', where) ?? '';
  const tools = m.tools === undefined || m.tools === null ? undefined : toolFunctions(m.tools, `${where}.tools`);
  const responseFormat = m.response_format ?? undefined;
  switch (m.role) {
    case 'system':
      return { role: 'system', content, tools, responseFormat };
    case 'developer':
      if (!content) throw bad(`${where}.content must not be empty for role developer`, `${where}.content`);
      return { role: 'developer', content, tools, responseFormat };
    case 'user':
      return { role: 'user', content, blocks: [{ type: 'text', text: content }] };
    case 'tool':
      return { role: 'user', content: '', blocks: [{ type: 'tool_result', callId: optionalString(m, 'tool_call_id', where) ?? '', content }] };
    case 'latest_reminder':
      return { role: 'latest_reminder', content };
    case 'assistant': {
      const raw = m.tool_calls ?? [];
      if (!Array.isArray(raw)) throw bad(`${where}.tool_calls must be a list`, `${where}.tool_calls`);
      const parsed = raw.map((tc, j) => invoke(tc, `${where}.tool_calls[${j}]`));
      return { role: 'assistant', content, reasoning: optionalString(m, 'reasoning_content', where), calls: parsed.map((p) => p.call), callIds: parsed.map((p) => p.id) };
    }
    default:
      throw bad(`${where}.role must be one of ${V4_ROLES.join(', ')} (got ${JSON.stringify(m.role)})`, `${where}.role`);
  }
}

/** Joins consecutive user turns (tool results are user turns by now) into one. */
function mergeUserTurns(turns: readonly Turn[]): Turn[] {
  const out: Turn[] = [];
  for (const t of turns) {
    const last = out[out.length - 1];
    if (t.role === 'user' && last?.role === 'user') out[out.length - 1] = { ...last, blocks: [...last.blocks!, ...t.blocks!] };
    else out.push(t);
  }
  return out;
}

/** Puts the tool results of each user turn in the order of the calls of the latest assistant turn with calls. */
function orderToolResults(turns: readonly Turn[]): Turn[] {
  let order = new Map<string, number>();
  return turns.map((t) => {
    if (t.role === 'assistant' && t.callIds?.length) order = new Map(t.callIds.map((id, k): [string, number] => [id, k]).filter(([id]) => id));
    if (t.role !== 'user' || order.size === 0) return t;
    const results = t.blocks!.filter((b) => b.type === 'tool_result');
    if (results.length < 2) return t;
    const rank = (b: Block) => (b.type === 'tool_result' ? order.get(b.callId) ?? 0 : 0);
    const sorted = [...results].sort((a, b) => rank(a) - rank(b));
    let k = 0;
    return { ...t, blocks: t.blocks!.map((b) => (b.type === 'tool_result' ? sorted[k++] : b)) };
  });
}

function lastUserIndex(turns: readonly Turn[]): number {
  for (let i = turns.length - 1; i >= 0; i--) if (turns[i].role === 'user' || turns[i].role === 'developer') return i;
  return -1;
}

/** Before the last user turn: assistant turns lose their reasoning, developer turns go. */
function dropEarlierReasoning(turns: readonly Turn[]): Turn[] {
  const last = lastUserIndex(turns);
  return turns.flatMap((t, i): Turn[] => {
    if (i >= last || t.role === 'user' || t.role === 'system' || t.role === 'latest_reminder') return [t];
    return t.role === 'assistant' ? [{ ...t, reasoning: undefined }] : [];
  });
}

function systemExtras(t: Turn): string {
  let s = '';
  if (t.tools?.length) s += `\n\n${TOOLS_SECTION_HEAD}${t.tools.map(pythonJson).join('\n')}${TOOLS_SECTION_TAIL}`;
  if (t.responseFormat !== undefined) s += `\n\n${RESPONSE_FORMAT_HEAD}${pythonJson(t.responseFormat)}`;
  return s;
}

function renderBlock(b: Block): string {
  return b.type === 'text' ? b.text : `<tool_result>${b.content}</tool_result>`;
}

/**
 * The prompt for `messages` in DeepSeek-V4's format, starting with BOS. Throws WebmoeError('invalid-request')
 * naming the message and field that cannot be rendered.
 */
export function encodeChatV4(messages: readonly TemplateMessage[], options: ChatEncodingV4Options): string {
  const thinking = options.thinking ?? false;
  if (options.reasoningEffort !== undefined && options.reasoningEffort !== 'high' && options.reasoningEffort !== 'max') {
    throw bad(`reasoningEffort must be 'high' or 'max' (got ${JSON.stringify(options.reasoningEffort)})`, 'reasoningEffort');
  }
  let turns = messages.map(toTurn);
  if (options.tools?.length) {
    const tools = toolFunctions(options.tools, 'tools');
    if (turns[0]?.role === 'system') {
      if (turns[0].tools) throw bad('tools are given both as an option and in messages[0].tools', 'tools');
      turns[0] = { ...turns[0], tools };
    } else turns.unshift({ role: 'system', content: '', tools });
  }
  turns = orderToolResults(mergeUserTurns(turns));
  const keep = (options.keepReasoning ?? false) || turns.some((t) => t.tools?.length);
  if (thinking && !keep) turns = dropEarlierReasoning(turns);

  const lastUser = lastUserIndex(turns);
  let prompt = V4.bos;
  turns.forEach((t, i) => {
    if (i === 0 && thinking && options.reasoningEffort === 'max') prompt += REASONING_EFFORT_MAX;
    switch (t.role) {
      case 'system':
        prompt += t.content + systemExtras(t);
        break;
      case 'developer':
        prompt += V4.user + t.content + systemExtras(t);
        break;
      case 'user':
        prompt += V4.user + t.blocks!.map(renderBlock).join('\n\n');
        break;
      case 'latest_reminder':
        prompt += V4.latestReminder + t.content;
        break;
      case 'assistant': {
        const reasoning = thinking && (keep || i > lastUser) ? (t.reasoning ?? '') + V4.thinkEnd : '';
        const calls = t.calls?.length ? `\n\n${renderToolCalls(t.calls)}` : '';
        prompt += reasoning + t.content + calls + V4.eos;
        break;
      }
    }
    // A user turn hands over to the assistant when an assistant turn (or a reminder) follows, or at the
    // end as the generation prompt.
    const next = turns[i + 1]?.role;
    const handsOver = next === undefined ? options.addGenerationPrompt : next === 'assistant' || next === 'latest_reminder';
    if (handsOver && (t.role === 'user' || t.role === 'developer')) {
      prompt += V4.assistant + (thinking && (keep || i >= lastUser) ? V4.thinkStart : V4.thinkEnd);
    }
  });
  return prompt;
}

/**
 * DeepSeek-V4's chat format with the interface of ChatTemplate (text/chat-template.ts), so that the runtime
 * can pick one by model family (config.json model_type `deepseek_v4`), plus the parser for the replies.
 * `defaults` apply to every call; a call's options override them.
 */
export class ChatEncodingV4 {
  constructor(private readonly defaults: Omit<ChatEncodingV4Options, 'addGenerationPrompt'> = {}) {}

  render(messages: readonly TemplateMessage[], options: ChatEncodingV4Options): string {
    return encodeChatV4(messages, { ...this.defaults, ...options });
  }

  /** Splits a reply generated after a prompt of render() with the same thinking setting. */
  parseReply(text: string, options: { readonly thinking?: boolean } = {}): ParsedReplyV4 {
    return parseReplyV4(text, { thinking: options.thinking ?? this.defaults.thinking ?? false });
  }
}
