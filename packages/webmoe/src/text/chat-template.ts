// The model's own chat template (tokenizer_config.json `chat_template`, Jinja) rendered with
// @huggingface/jinja, so that prompts match what the model was trained on without per-model code.
import { Template } from '@huggingface/jinja';
import { WebmoeError } from '../errors';

/** One message as the template sees it: content already flattened to a string (or null for tool calls). */
export interface TemplateMessage {
  readonly role: string;
  readonly content: string | null;
  readonly [key: string]: unknown;
}

export interface ChatTemplateOptions {
  /** Append the prefix the assistant's reply starts with (DeepSeek: `<｜Assistant｜>`). */
  readonly addGenerationPrompt: boolean;
  /** Tool definitions, for templates that render them (usesTools). */
  readonly tools?: readonly unknown[];
}

/** Special-token strings the template may reference (bos_token, eos_token, ...). */
export type SpecialTokenStrings = Readonly<Record<string, string>>;

export class ChatTemplate {
  private readonly template: Template;
  /** Whether the template reads a `tools` variable (DeepSeek-V3's does not: the caller describes them). */
  readonly usesTools: boolean;

  constructor(
    source: string,
    private readonly specialTokens: SpecialTokenStrings,
  ) {
    this.usesTools = /\btools\b/.test(source);
    try {
      this.template = new Template(source);
    } catch (e) {
      throw new WebmoeError('model-format', `tokenizer_config.json: chat_template does not parse: ${(e as Error).message}`, { cause: e });
    }
  }

  render(messages: readonly TemplateMessage[], options: ChatTemplateOptions): string {
    try {
      const tools = options.tools?.length ? { tools: options.tools } : {};
      return this.template.render({ ...this.specialTokens, messages, add_generation_prompt: options.addGenerationPrompt, ...tools });
    } catch (e) {
      // Templates reject conversations they do not support (raise_exception, missing fields): the caller's input.
      throw new WebmoeError('invalid-request', `the chat template rejected the messages: ${(e as Error).message}`, { cause: e });
    }
  }
}

/**
 * tokenizer_config.json holds either one template string or a list of named templates; the default one
 * is what chat uses.
 */
export function chatTemplateSource(config: Record<string, unknown>): string {
  const t = config.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as { name?: unknown; template?: unknown }[];
    const def = named.find((x) => x?.name === 'default') ?? named[0];
    if (typeof def?.template === 'string') return def.template;
  }
  throw new WebmoeError('model-format', 'tokenizer_config.json: chat_template is missing or not a string (or list of {name, template})');
}
