// The request fields that shape a reply rather than sample it: response_format (JSON by constrained
// decoding), tools and tool_choice. Checked here, before the request queues; docs/chat-api.md.
import { WebmoeError } from '../errors';
import { ANY_OBJECT, anyOf, compileSchema, type GrammarNode } from '../text/json-grammar';
import type { ModelFamily } from '../text/tokenizer';
import { forcedCallGrammarV3, type ToolDefinition } from '../text/tools-v3';

function bad(message: string, field: string): WebmoeError {
  return new WebmoeError('invalid-request', message, { detail: { field } });
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** What response_format asks: nothing (text), or a grammar and a key that names it for caching. */
export interface ResponseFormat {
  readonly key: string;
  readonly grammar: () => GrammarNode;
}

export function responseFormat(v: unknown): ResponseFormat | null {
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw bad(`response_format must be an object (got ${JSON.stringify(v)})`, 'response_format');
  switch (v.type) {
    case 'text':
      return null;
    case 'json_object':
      return { key: 'json_object', grammar: () => ANY_OBJECT };
    case 'json_schema': {
      const js = v.json_schema;
      if (!isObject(js)) throw bad('response_format.json_schema must be an object {name, schema, strict?}', 'response_format.json_schema');
      if (typeof js.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(js.name)) {
        throw bad('response_format.json_schema.name must be 1 to 64 letters, digits, _ or -', 'response_format.json_schema.name');
      }
      if (js.strict != null && typeof js.strict !== 'boolean') throw bad('response_format.json_schema.strict must be a boolean', 'response_format.json_schema.strict');
      const unknown = Object.keys(js).filter((k) => !['name', 'schema', 'strict', 'description'].includes(k));
      if (unknown.length) throw bad(`response_format.json_schema: unknown field(s) ${unknown.join(', ')}`, 'response_format.json_schema');
      const schema = js.schema ?? {};
      // Compiled now so that an unsupported keyword fails the request at once.
      const node = compileSchema(schema, 'response_format.json_schema.schema');
      return { key: `json_schema:${JSON.stringify(schema)}`, grammar: () => node };
    }
    default:
      throw bad(`response_format.type must be text, json_object or json_schema (got ${JSON.stringify(v.type)})`, 'response_format.type');
  }
}

export type ToolChoice = 'none' | 'auto' | 'required' | { readonly name: string };

export interface ToolsRequest {
  /** The tools the prompt lists: none when tool_choice is 'none'. */
  readonly tools: readonly ToolDefinition[];
  readonly choice: ToolChoice;
  /** Keep only the first call of a reply (parallel_tool_calls: false). */
  readonly single: boolean;
  /** The grammar of a forced call ('required' or a named function); null when the model chooses. */
  readonly forced: ResponseFormat | null;
}

function toolDefinitions(v: unknown): ToolDefinition[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw bad('tools must be a list of {type: "function", function: {name, description?, parameters?}}', 'tools');
  const names = new Set<string>();
  return v.map((t, i) => {
    const where = `tools[${i}]`;
    if (!isObject(t) || t.type !== 'function' || !isObject(t.function)) throw bad(`${where} must be {type: "function", function: {...}}`, where);
    const f = t.function;
    if (typeof f.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(f.name)) throw bad(`${where}.function.name must be 1 to 64 letters, digits, _ or -`, `${where}.function.name`);
    if (names.has(f.name)) throw bad(`${where}.function.name ${JSON.stringify(f.name)} is given twice`, `${where}.function.name`);
    names.add(f.name);
    if (f.description != null && typeof f.description !== 'string') throw bad(`${where}.function.description must be a string`, `${where}.function.description`);
    if (f.parameters != null && !isObject(f.parameters)) throw bad(`${where}.function.parameters must be a JSON Schema object`, `${where}.function.parameters`);
    if (f.strict != null && typeof f.strict !== 'boolean') throw bad(`${where}.function.strict must be a boolean`, `${where}.function.strict`);
    const unknown = Object.keys(f).filter((k) => !['name', 'description', 'parameters', 'strict'].includes(k));
    if (unknown.length) throw bad(`${where}.function: unknown field(s) ${unknown.join(', ')}`, `${where}.function`);
    return t as unknown as ToolDefinition;
  });
}

function toolChoice(v: unknown, tools: readonly ToolDefinition[]): ToolChoice {
  if (v === undefined || v === null) return tools.length ? 'auto' : 'none';
  if (v === 'none' || v === 'auto' || v === 'required') {
    if (v !== 'none' && !tools.length) throw bad(`tool_choice ${JSON.stringify(v)} needs tools`, 'tool_choice');
    return v;
  }
  const name = isObject(v) && v.type === 'function' && isObject(v.function) ? v.function.name : undefined;
  if (typeof name !== 'string') throw bad(`tool_choice must be none, auto, required or {type: "function", function: {name}} (got ${JSON.stringify(v)})`, 'tool_choice');
  if (!tools.some((t) => t.function.name === name)) throw bad(`tool_choice names ${JSON.stringify(name)}, which is not in tools`, 'tool_choice');
  return { name };
}

export function toolsRequest(params: { tools?: unknown; tool_choice?: unknown; parallel_tool_calls?: unknown }, family: ModelFamily): ToolsRequest {
  const all = toolDefinitions(params.tools);
  const choice = toolChoice(params.tool_choice, all);
  const p = params.parallel_tool_calls;
  if (p != null && typeof p !== 'boolean') throw bad('parallel_tool_calls must be a boolean', 'parallel_tool_calls');
  if (choice === 'none') return { tools: [], choice, single: p === false, forced: null };
  let forced: ResponseFormat | null = null;
  if (choice !== 'auto') {
    if (family === 'v4') throw bad('tool_choice "required" or a named function is not supported for DeepSeek-V4 models yet (use "auto")', 'tool_choice');
    const pick = choice === 'required' ? all : all.filter((t) => t.function.name === choice.name);
    const node = forcedCallGrammarV3(pick, (i) => `tools[${all.indexOf(pick[i])}].function.parameters`);
    forced = { key: `tools:${JSON.stringify(pick)}`, grammar: () => node };
  }
  return { tools: all, choice, single: p === false, forced };
}

/** The reply's grammar: a forced call, else the response format, else nothing. With tools on 'auto', a JSON reply or a call. */
export function replyGrammar(format: ResponseFormat | null, tools: ToolsRequest, family: ModelFamily): ResponseFormat | null {
  if (tools.forced) return tools.forced;
  if (!format || tools.choice !== 'auto') return format;
  if (family === 'v4') throw bad('response_format with tools is not supported for DeepSeek-V4 models yet', 'response_format');
  const anyCall = toolsRequest({ tools: tools.tools, tool_choice: 'required' }, family).forced!;
  return { key: `${format.key}|${anyCall.key}`, grammar: () => anyOf([format.grammar(), anyCall.grammar()]) };
}
