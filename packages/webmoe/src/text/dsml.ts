// DeepSeek-V4's tool-call markup (DSML), written into assistant turns of a prompt and read back from a
// model's reply:
//
//   <｜DSML｜tool_calls>
//   <｜DSML｜invoke name="get_weather">
//   <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
//   <｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>
//   </｜DSML｜invoke>
//   </｜DSML｜tool_calls>
//
// One invoke per call, one parameter per top-level key of the call's arguments. A string value is written
// as is with string="true"; any other value as Python-style JSON (python-json.ts) with string="false". A call
// without arguments has an empty line where its parameters would be.
import { WebmoeError } from '../errors';
import { V4 } from './chat-tokens-v4';
import { pythonJson } from './python-json';

const TAG = {
  open: `<${V4.dsml}tool_calls>`,
  close: `</${V4.dsml}tool_calls>`,
  invoke: `<${V4.dsml}invoke name="`,
  invokeEnd: `</${V4.dsml}invoke>`,
  param: `<${V4.dsml}parameter name="`,
  paramEnd: `</${V4.dsml}parameter>`,
} as const;

/** What the encoder renders: a tool's name and its arguments as an object. */
export interface DsmlInvoke {
  readonly name: string;
  readonly args: Readonly<Record<string, unknown>>;
}

/** What the parser returns: the tool's name and its arguments as JSON text (an object), as OpenAI's tool_calls carry them. */
export interface DsmlToolCall {
  readonly name: string;
  readonly arguments: string;
}

/** The `<｜DSML｜tool_calls>` block for one assistant turn (without the blank line the turn puts before it). */
export function renderToolCalls(calls: readonly DsmlInvoke[]): string {
  const invokes = calls.map((call) => {
    const params = Object.entries(call.args).map(([key, value]) => {
      const isString = typeof value === 'string';
      return `${TAG.param}${key}" string="${isString}">${isString ? value : pythonJson(value)}${TAG.paramEnd}`;
    });
    return `${TAG.invoke}${call.name}">\n${params.join('\n')}\n${TAG.invokeEnd}`;
  });
  return `${TAG.open}\n${invokes.join('\n')}\n${TAG.close}`;
}

/** A position in a reply being parsed; every failure names what was expected and where. */
class Cursor {
  constructor(private readonly text: string, public at: number) {}

  fail(what: string): never {
    const seen = JSON.stringify(this.text.slice(this.at, this.at + 40));
    throw new WebmoeError('model-output', `DSML tool calls: expected ${what} at offset ${this.at}, found ${seen}`, { detail: { offset: this.at } });
  }

  startsWith(s: string): boolean {
    return this.text.startsWith(s, this.at);
  }

  expect(s: string, what = JSON.stringify(s)): void {
    if (!this.startsWith(s)) this.fail(what);
    this.at += s.length;
  }

  /** The text up to the next `end`, moving past `end`. */
  until(end: string, what: string): string {
    const i = this.text.indexOf(end, this.at);
    if (i < 0) this.fail(what);
    const s = this.text.slice(this.at, i);
    this.at = i + end.length;
    return s;
  }
}

/**
 * Parses the block that starts at `from` (at its `<｜DSML｜tool_calls>`). Returns the calls, their
 * arguments rebuilt as JSON text (string parameters quoted, the others inserted as written), and the
 * offset just past `</｜DSML｜tool_calls>`. Throws WebmoeError('model-output') naming the offset of the
 * first deviation from the layout above, or a parameter given twice.
 */
export function parseToolCalls(text: string, from: number): { calls: DsmlToolCall[]; end: number } {
  const c = new Cursor(text, from);
  c.expect(`${TAG.open}\n`);
  const calls: DsmlToolCall[] = [];
  while (!c.startsWith(TAG.close)) {
    c.expect(TAG.invoke, `${JSON.stringify(TAG.invoke)} or ${JSON.stringify(TAG.close)}`);
    const name = c.until('">\n', 'the end of the invoke tag');
    const args = new Map<string, string>();
    if (!c.startsWith(TAG.param)) c.expect('\n', 'a parameter or the empty line of a call without arguments');
    while (c.startsWith(TAG.param)) {
      c.expect(TAG.param);
      const key = c.until('" string="', `the string="…" attribute of a parameter of ${name}`);
      const isString = c.startsWith('true">');
      if (!isString && !c.startsWith('false">')) c.fail('string="true"> or string="false">');
      c.expect(isString ? 'true">' : 'false">');
      const value = c.until(TAG.paramEnd, `the end of parameter ${key}`);
      if (args.has(key)) throw new WebmoeError('model-output', `DSML tool calls: parameter "${key}" of ${name} is given twice`, { detail: { offset: c.at } });
      args.set(key, isString ? pythonJson(value) : value);
      c.expect('\n');
    }
    c.expect(`${TAG.invokeEnd}\n`);
    calls.push({ name, arguments: `{${[...args].map(([k, v]) => `${pythonJson(k)}: ${v}`).join(', ')}}` });
  }
  c.expect(TAG.close);
  return { calls, end: c.at };
}
