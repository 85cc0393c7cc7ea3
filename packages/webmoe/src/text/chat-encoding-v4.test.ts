// DeepSeek-V4's chat format. Every expected prompt is written out by hand from the format's rules (the
// header of chat-encoding-v4.ts and DeepSeek's published example), not produced by the encoder.
import { describe, expect, it } from 'vitest';
import type { ChatTemplate, TemplateMessage } from './chat-template';
import { ChatEncodingV4, encodeChatV4, type ChatEncodingV4Options, type ToolDefinitionV4 } from './chat-encoding-v4';
import { parseReplyV4 } from './chat-reply-v4';
import { pythonJson } from './python-json';

const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';
const USER = '<｜User｜>';
const ASSISTANT = '<｜Assistant｜>';

const chat = { addGenerationPrompt: true, thinking: false } as const;
const thinking = { addGenerationPrompt: true, thinking: true } as const;

const encode = (messages: TemplateMessage[], options: ChatEncodingV4Options) => encodeChatV4(messages, options);

const greeting: TemplateMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: 'Hello' },
  { role: 'assistant', content: 'Hi there!', reasoning_content: 'The user greets me.' },
  { role: 'user', content: '1+1?' },
];

const weatherTool: ToolDefinitionV4 = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Weather of a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
  },
};

/** The tools section for [weatherTool], as DeepSeek's encoder writes it (after a blank line). */
const WEATHER_TOOLS_SECTION = `

## Tools

You have access to a set of tools to help answer the user's question. You can invoke tools by writing a "<｜DSML｜tool_calls>" block like the following:

<｜DSML｜tool_calls>
<｜DSML｜invoke name="$TOOL_NAME">
<｜DSML｜parameter name="$PARAMETER_NAME" string="true|false">$PARAMETER_VALUE</｜DSML｜parameter>
...
</｜DSML｜invoke>
<｜DSML｜invoke name="$TOOL_NAME2">
...
</｜DSML｜invoke>
</｜DSML｜tool_calls>

String parameters should be specified as is and set \`string="true"\`. For all other types (numbers, booleans, arrays, objects), pass the value in JSON format and set \`string="false"\`.

If thinking_mode is enabled (triggered by <think>), you MUST output your complete reasoning inside <think>...</think> BEFORE any tool calls or final response.

Otherwise, output directly after </think> with tool calls or final response.

### Available Tool Schemas

{"name": "get_weather", "description": "Weather of a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]}}

You MUST strictly follow the above defined tool name and parameter schemas to invoke tool calls.
`;

const agent: TemplateMessage[] = [
  { role: 'system', content: 'You are a helpful assistant.' },
  { role: 'user', content: "What's the weather in Paris?" },
  {
    role: 'assistant', content: null, reasoning_content: 'I should call get_weather.',
    tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "days": 2}' } }],
  },
  { role: 'tool', tool_call_id: 'call_1', content: '{"temp": 21}' },
  { role: 'assistant', content: 'It is 21 °C in Paris.', reasoning_content: 'I have the data.' },
  { role: 'user', content: 'Thanks!' },
];

const AGENT_PROMPT = `${BOS}You are a helpful assistant.${WEATHER_TOOLS_SECTION}`
  + `<｜User｜>What's the weather in Paris?<｜Assistant｜><think>I should call get_weather.</think>\n\n`
  + '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="get_weather">\n'
  + '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n'
  + '<｜DSML｜parameter name="days" string="false">2</｜DSML｜parameter>\n'
  + '</｜DSML｜invoke>\n</｜DSML｜tool_calls><｜end▁of▁sentence｜>'
  + '<｜User｜><tool_result>{"temp": 21}</tool_result><｜Assistant｜><think>I have the data.</think>It is 21 °C in Paris.<｜end▁of▁sentence｜>'
  + '<｜User｜>Thanks!<｜Assistant｜><think>';

describe('V4 prompt encoding: turns and modes', () => {
  it("renders DeepSeek's example exactly (thinking mode, earlier reasoning dropped)", () => {
    expect(encode(greeting, thinking)).toBe(
      '<｜begin▁of▁sentence｜>You are a helpful assistant.<｜User｜>Hello<｜Assistant｜></think>Hi there!<｜end▁of▁sentence｜><｜User｜>1+1?<｜Assistant｜><think>',
    );
  });

  it('ends every user turn with </think> in chat mode and never writes reasoning', () => {
    expect(encode(greeting, chat)).toBe(
      `${BOS}You are a helpful assistant.${USER}Hello${ASSISTANT}</think>Hi there!${EOS}${USER}1+1?${ASSISTANT}</think>`,
    );
  });

  it('renders a multi-turn conversation without a system message', () => {
    const messages: TemplateMessage[] = [
      { role: 'user', content: 'a' }, { role: 'assistant', content: 'b' },
      { role: 'user', content: 'c' }, { role: 'assistant', content: 'd' }, { role: 'user', content: 'e' },
    ];
    expect(encode(messages, chat)).toBe(`${BOS}${USER}a${ASSISTANT}</think>b${EOS}${USER}c${ASSISTANT}</think>d${EOS}${USER}e${ASSISTANT}</think>`);
  });

  it('writes the reasoning of the reply after the last user turn in thinking mode', () => {
    const messages: TemplateMessage[] = [
      ...greeting.slice(1),
      { role: 'assistant', content: '2', reasoning_content: 'One plus one is two.' },
    ];
    expect(encode(messages, thinking)).toBe(
      `${BOS}${USER}Hello${ASSISTANT}</think>Hi there!${EOS}${USER}1+1?${ASSISTANT}<think>One plus one is two.</think>2${EOS}`,
    );
  });

  it('keeps earlier reasoning when asked to', () => {
    expect(encode(greeting.slice(1), { ...thinking, keepReasoning: true })).toBe(
      `${BOS}${USER}Hello${ASSISTANT}<think>The user greets me.</think>Hi there!${EOS}${USER}1+1?${ASSISTANT}<think>`,
    );
  });

  it('leaves out the generation prompt when addGenerationPrompt is false', () => {
    expect(encode(greeting.slice(0, 2), { ...chat, addGenerationPrompt: false })).toBe(`${BOS}You are a helpful assistant.${USER}Hello`);
  });

  it('renders developer messages as user turns, dropped before the last user turn in thinking mode', () => {
    expect(encode([{ role: 'system', content: 'S' }, { role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], chat))
      .toBe(`${BOS}S${USER}Be brief.${USER}Hi${ASSISTANT}</think>`);
    const later: TemplateMessage[] = [
      { role: 'developer', content: 'Be brief.' }, { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' }, { role: 'user', content: 'Bye' },
    ];
    expect(encode(later, thinking)).toBe(`${BOS}${USER}Hi${ASSISTANT}</think>Hello${EOS}${USER}Bye${ASSISTANT}<think>`);
    expect(encode([{ role: 'system', content: 'S' }, { role: 'developer', content: 'Do X' }], thinking)).toBe(`${BOS}S${USER}Do X${ASSISTANT}<think>`);
  });

  it('renders latest_reminder with its own token', () => {
    const messages: TemplateMessage[] = [
      { role: 'system', content: 'S' }, { role: 'latest_reminder', content: 'Today is Monday.' }, { role: 'user', content: 'q' },
    ];
    expect(encode(messages, chat)).toBe(`${BOS}S<｜latest_reminder｜>Today is Monday.${USER}q${ASSISTANT}</think>`);
  });

  it('puts the maximum-effort instruction first in thinking mode only', () => {
    const effort = 'Reasoning Effort: Absolute maximum with no shortcuts permitted.\n'
      + 'You MUST be very thorough in your thinking and comprehensively decompose the problem to resolve the root cause, rigorously stress-testing your logic against all potential paths, edge cases, and adversarial scenarios.\n'
      + 'Explicitly write out your entire deliberation process, documenting every intermediate step, considered alternative, and rejected hypothesis to ensure absolutely no assumption is left unchecked.\n\n';
    const q: TemplateMessage[] = [{ role: 'user', content: 'q' }];
    expect(encode(q, { ...thinking, reasoningEffort: 'max' })).toBe(`${BOS}${effort}${USER}q${ASSISTANT}<think>`);
    expect(encode(q, { ...thinking, reasoningEffort: 'high' })).toBe(`${BOS}${USER}q${ASSISTANT}<think>`);
    expect(encode(q, { ...chat, reasoningEffort: 'max' })).toBe(`${BOS}${USER}q${ASSISTANT}</think>`);
  });

  it("appends a system message's response_format", () => {
    const messages: TemplateMessage[] = [{ role: 'system', content: 'S', response_format: { type: 'json_object' } }, { role: 'user', content: 'q' }];
    expect(encode(messages, chat)).toBe(
      `${BOS}S\n\n## Response Format:\n\nYou MUST strictly adhere to the following schema to reply:\n{"type": "json_object"}${USER}q${ASSISTANT}</think>`,
    );
  });
});

describe('V4 prompt encoding: tools', () => {
  it('renders tools, DSML tool calls and tool results, keeping all reasoning when tools are present', () => {
    expect(encode(agent, { ...thinking, tools: [weatherTool] })).toBe(AGENT_PROMPT);
    // The same tools given on the system message itself.
    const onMessage = [{ ...agent[0], tools: [weatherTool] }, ...agent.slice(1)];
    expect(encode(onMessage, thinking)).toBe(AGENT_PROMPT);
  });

  it('adds an empty system message for tools when the conversation has none', () => {
    expect(encode([{ role: 'user', content: 'q' }], { ...chat, tools: [weatherTool] })).toBe(`${BOS}${WEATHER_TOOLS_SECTION}${USER}q${ASSISTANT}</think>`);
  });

  it('merges tool results into one user turn in the order of the calls, with the next user message', () => {
    const messages: TemplateMessage[] = [
      { role: 'user', content: 'Compare' },
      {
        role: 'assistant', content: '', tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'f', arguments: '{"x": 1}' } },
          { id: 'c2', type: 'function', function: { name: 'g', arguments: '{}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c2', content: 'G' },
      { role: 'tool', tool_call_id: 'c1', content: 'F' },
      { role: 'user', content: 'and?' },
    ];
    expect(encode(messages, chat)).toBe(
      `${BOS}${USER}Compare${ASSISTANT}</think>\n\n<｜DSML｜tool_calls>\n`
      + '<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="x" string="false">1</｜DSML｜parameter>\n</｜DSML｜invoke>\n'
      + '<｜DSML｜invoke name="g">\n\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>'
      + `${EOS}${USER}<tool_result>F</tool_result>\n\n<tool_result>G</tool_result>\n\nand?${ASSISTANT}</think>`,
    );
  });

  it('joins consecutive user messages with a blank line', () => {
    expect(encode([{ role: 'user', content: 'one' }, { role: 'user', content: 'two' }], chat)).toBe(`${BOS}${USER}one\n\ntwo${ASSISTANT}</think>`);
  });

  it('writes arguments that are not JSON as one string parameter, and accepts an arguments object', () => {
    const call = (args: unknown): TemplateMessage[] => [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: '', tool_calls: [{ type: 'function', function: { name: 'f', arguments: args } }] },
    ];
    const block = (params: string) => `\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name="f">\n${params}\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>${EOS}`;
    expect(encode(call('not json'), chat)).toBe(`${BOS}${USER}q${ASSISTANT}</think>${block('<｜DSML｜parameter name="arguments" string="true">not json</｜DSML｜parameter>')}`);
    expect(encode(call({ on: true, tags: ['a', 'b'] }), chat)).toBe(`${BOS}${USER}q${ASSISTANT}</think>${block(
      '<｜DSML｜parameter name="on" string="false">true</｜DSML｜parameter>\n<｜DSML｜parameter name="tags" string="false">["a", "b"]</｜DSML｜parameter>',
    )}`);
  });
});

describe('V4 prompt encoding: errors', () => {
  const fails = (messages: TemplateMessage[], options: ChatEncodingV4Options, field: string, message: RegExp) => {
    let error: unknown;
    try {
      encode(messages, options);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ name: 'WebmoeError', code: 'invalid-request', detail: { field } });
    expect((error as Error).message).toMatch(message);
  };

  it('names the message and field it cannot render', () => {
    fails([{ role: 'narrator', content: 'x' }], chat, 'messages[0].role', /messages\[0\]\.role must be one of/);
    fails([{ role: 'developer', content: '' }], chat, 'messages[0].content', /must not be empty/);
    fails([{ role: 'user', content: 'q', task: 'title' }], chat, 'messages[0].task', /task tokens are not supported/);
    fails([{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: '[1]' } }] }], chat,
      'messages[0].tool_calls[0].function.arguments', /must be a JSON object/);
    fails([{ role: 'assistant', content: '', tool_calls: [{ function: {} }] }], chat, 'messages[0].tool_calls[0].function.name', /must be a string/);
    fails([{ role: 'user', content: 'q' }, { role: 'assistant', content: 'a', reasoning_content: 7 }], chat,
      'messages[1].reasoning_content', /must be a string/);
    fails([{ ...agent[0], tools: [weatherTool] }], { ...chat, tools: [weatherTool] }, 'tools', /both as an option and in messages\[0\]\.tools/);
    fails([{ role: 'system', content: 'S', tools: [{ function: { description: 'no name' } }] }], chat, 'messages[0].tools[0]', /must be an object with a name/);
    fails([{ role: 'user', content: 'q' }], { ...thinking, reasoningEffort: 'low' as 'high' }, 'reasoningEffort', /'high' or 'max'/);
  });
});

describe('V4 reply parsing', () => {
  it('splits reasoning and content in thinking mode', () => {
    expect(parseReplyV4(`Let me think.</think>The answer is 2.${EOS}`, { thinking: true }))
      .toEqual({ reasoningContent: 'Let me think.', content: 'The answer is 2.', toolCalls: [], ended: true });
  });

  it('takes everything as content in chat mode', () => {
    expect(parseReplyV4(`Hi!${EOS}`, { thinking: false })).toEqual({ reasoningContent: '', content: 'Hi!', toolCalls: [], ended: true });
  });

  it('accepts a reply without its end-of-sentence token, and one that stops while reasoning', () => {
    expect(parseReplyV4('Hi', { thinking: false })).toEqual({ reasoningContent: '', content: 'Hi', toolCalls: [], ended: false });
    expect(parseReplyV4('Thinking about', { thinking: true })).toEqual({ reasoningContent: 'Thinking about', content: '', toolCalls: [], ended: false });
    expect(parseReplyV4(`Hmm${EOS}`, { thinking: true })).toEqual({ reasoningContent: 'Hmm', content: '', toolCalls: [], ended: true });
  });

  it('reads DSML tool calls into OpenAI tool calls with JSON arguments', () => {
    const reply = 'Need weather.</think>\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name="get_weather">\n'
      + '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n'
      + '<｜DSML｜parameter name="opts" string="false">{"units": ["C", "F"], "hourly": true}</｜DSML｜parameter>\n'
      + '</｜DSML｜invoke>\n<｜DSML｜invoke name="now">\n\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>' + EOS;
    expect(parseReplyV4(reply, { thinking: true })).toEqual({
      reasoningContent: 'Need weather.',
      content: '',
      toolCalls: [
        { type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris", "opts": {"units": ["C", "F"], "hourly": true}}' } },
        { type: 'function', function: { name: 'now', arguments: '{}' } },
      ],
      ended: true,
    });
  });

  it('round-trips the assistant turns of an encoded conversation', () => {
    const prompt = encode(agent, { ...thinking, tools: [weatherTool] });
    const marker = `${ASSISTANT}<think>`;
    const turns = prompt.split(marker).slice(1).map((s) => s.split(USER)[0]).filter((s) => s);
    expect(turns).toHaveLength(2);
    const first = parseReplyV4(turns[0], { thinking: true });
    expect(first).toMatchObject({ reasoningContent: 'I should call get_weather.', content: '', ended: true });
    expect(first.toolCalls.map((t) => t.function.name)).toEqual(['get_weather']);
    expect(JSON.parse(first.toolCalls[0].function.arguments)).toEqual({ city: 'Paris', days: 2 });
    expect(parseReplyV4(turns[1], { thinking: true })).toEqual({ reasoningContent: 'I have the data.', content: 'It is 21 °C in Paris.', toolCalls: [], ended: true });
  });

  it('round-trips string values with quotes, line breaks and DSML-like text, and non-string values', () => {
    const args = { text: 'He said "hi"\nthen left </tag>', n: 1.5, flags: [true, null], nested: { k: 'v' } };
    const messages: TemplateMessage[] = [
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'Calling.', tool_calls: [{ id: 'x', type: 'function', function: { name: 'note', arguments: JSON.stringify(args) } }] },
    ];
    const prompt = encode(messages, chat);
    const reply = prompt.slice(prompt.indexOf(`${ASSISTANT}</think>`) + `${ASSISTANT}</think>`.length);
    const parsed = parseReplyV4(reply, { thinking: false });
    expect(parsed.content).toBe('Calling.');
    expect(parsed.toolCalls).toHaveLength(1);
    expect(JSON.parse(parsed.toolCalls[0].function.arguments)).toEqual(args);
    expect(parsed.toolCalls[0].function.arguments).toBe('{"text": "He said \\"hi\\"\\nthen left </tag>", "n": 1.5, "flags": [true, null], "nested": {"k": "v"}}');
  });

  it('rejects malformed replies, naming the problem', () => {
    const fails = (text: string, t: boolean, message: RegExp) => {
      expect(() => parseReplyV4(text, { thinking: t })).toThrow(message);
    };
    const call = '\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="a" string="true">1</｜DSML｜parameter>\n';
    fails(`${call}</｜DSML｜tool_calls>${EOS}`, false, /DSML tool calls: expected "<\/｜DSML｜invoke>\\n" at offset/);
    fails(`${call}<｜DSML｜parameter name="a" string="true">2</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>`, false, /parameter "a" of f is given twice/);
    fails(`${call.replace('string="true"', 'string="yes"')}</｜DSML｜invoke>\n</｜DSML｜tool_calls>`, false, /string="true"> or string="false">/);
    fails(`Hi${EOS}more`, false, /unexpected text after the end-of-sentence token/);
    fails(`plan${call}</｜DSML｜invoke>\n</｜DSML｜tool_calls>${EOS}`, true, /tool calls before <\/think>/);
    fails(`a<think>b${EOS}`, false, /the content contains <think>/);
    fails(`${call}`, false, /DSML tool calls: expected/);
  });

  it('reports where in the reply the problem is', () => {
    expect(() => parseReplyV4(`ok</think>a<think>b`, { thinking: true })).toThrow(expect.objectContaining({ code: 'model-output', detail: { offset: 11 } }));
  });
});

describe('ChatEncodingV4', () => {
  it("has ChatTemplate's render interface, with defaults that a call's options override", () => {
    const asTemplate: Pick<ChatTemplate, 'render'> = new ChatEncodingV4({ thinking: true });
    const q: TemplateMessage[] = [{ role: 'user', content: 'q' }];
    expect(asTemplate.render(q, { addGenerationPrompt: true })).toBe(`${BOS}${USER}q${ASSISTANT}<think>`);
    expect(new ChatEncodingV4({ thinking: true }).render(q, { addGenerationPrompt: true, thinking: false })).toBe(`${BOS}${USER}q${ASSISTANT}</think>`);
  });

  it('parses replies in the mode of its defaults', () => {
    expect(new ChatEncodingV4({ thinking: true }).parseReply(`r</think>c${EOS}`)).toMatchObject({ reasoningContent: 'r', content: 'c' });
    expect(() => new ChatEncodingV4().parseReply(`r</think>c${EOS}`)).toThrow(/the content contains <\/think>/);
  });
});

describe('pythonJson', () => {
  it("writes JSON with Python's separators", () => {
    expect(pythonJson({ a: [1, 2.5, 'é'], b: { c: null, d: true }, e: 'line\n"q"' })).toBe('{"a": [1, 2.5, "é"], "b": {"c": null, "d": true}, "e": "line\\n\\"q\\""}');
    expect(pythonJson([])).toBe('[]');
    expect(pythonJson({})).toBe('{}');
    expect(pythonJson({ skip: undefined, keep: 0 })).toBe('{"keep": 0}');
  });
});
