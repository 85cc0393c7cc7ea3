// The model's tokenizer (tokenizer.json through @huggingface/tokenizers) and chat format, plus the
// per-token byte view the streaming detokenizer needs. The chat format follows the model family: V2/V3
// ship a Jinja chat_template in tokenizer_config.json (rendered through @huggingface/jinja), V4 ships none
// and has its own encoder (chat-encoding-v4.ts).
import { ByteLevelDecoder, Tokenizer } from '@huggingface/tokenizers';
import { WebmoeError } from '../errors';
import type { AnyModelConfig } from '../model/config';
import { ChatTemplate, chatTemplateSource, type TemplateMessage } from './chat-template';
import { ChatEncodingV4 } from './chat-encoding-v4';
import { V4_REPLY_MARKUP } from './chat-tokens-v4';
import { ByteLevelDetokenizer, WindowedDetokenizer, type Detokenizer } from './detokenizer';
import { toolsPromptV3, type ToolDefinition } from './tools-v3';

export type ModelFamily = AnyModelConfig['family'];

export interface TokenizerOptions {
  /** More end-of-sequence ids (generation_config.json may list several); tokenizer_config's eos_token is always one. */
  readonly extraEosTokenIds?: readonly number[];
  /**
   * The model family (model/config.ts, from config.json's model_type), which picks the chat format:
   * 'v3' (default, also V2) the Jinja chat_template, which must then be present; 'v4' DeepSeek-V4's encoder.
   */
  readonly family?: ModelFamily;
}

export interface ChatRenderOptions {
  /** Append the prefix the assistant's reply starts with. Default true. */
  readonly addGenerationPrompt?: boolean;
  /** V4 only: thinking mode, the reply starts with its reasoning (chat-encoding-v4.ts). Default false. */
  readonly thinking?: boolean;
  /** V4 only: 'max' adds DeepSeek's maximum-effort instruction in thinking mode. */
  readonly reasoningEffort?: 'high' | 'max';
  /** Tool definitions the model may call (text/tools-v3.ts for V2/V3 templates that do not render them). */
  readonly tools?: readonly ToolDefinition[];
  /**
   * The last message is an assistant turn to continue: the prompt ends with its text, unclosed, where the
   * reply would start. Not in thinking mode.
   */
  readonly continueFinal?: boolean;
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** tokenizer_config.json writes special tokens either as a string or as an AddedToken object. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObject(v) && typeof v.content === 'string') return v.content;
  return undefined;
}

const utf8 = new TextEncoder();

/** The messages with `text` at the end of the first system message (one is added when there is none). */
function withSystemText(messages: readonly TemplateMessage[], text: string): TemplateMessage[] {
  const first = messages[0];
  if (first?.role === 'system') return [{ ...first, content: first.content ? `${first.content}\n\n${text}` : text }, ...messages.slice(1)];
  return [{ role: 'system', content: text }, ...messages];
}

export class TextTokenizer {
  /** Ids that end generation. */
  readonly eosTokenIds: ReadonlySet<number>;
  readonly bosTokenId: number | undefined;
  readonly family: ModelFamily;
  private readonly chat: ChatTemplate | ChatEncodingV4;
  private readonly special = new Set<number>();
  /** Special tokens that the detokenizer prints all the same: the markup a V4 reply's parser needs. */
  private readonly printedSpecial = new Set<number>();
  private readonly added = new Map<number, string>();
  private readonly byteDecoder: Record<string, number> | null;
  private readonly bytesCache = new Map<number, Uint8Array | null>();

  private constructor(
    private readonly tok: Tokenizer,
    config: Json,
    options: TokenizerOptions,
  ) {
    for (const [id, t] of tok.get_added_tokens_decoder()) {
      this.added.set(id, t.content);
      if (t.special) this.special.add(id);
    }
    const specialStrings: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token']) {
      const s = tokenString(config[key]);
      if (s !== undefined) specialStrings[key] = s;
    }
    const eosString = specialStrings.eos_token;
    if (eosString === undefined) throw new WebmoeError('model-format', 'tokenizer_config.json: eos_token is missing');
    const eos = tok.token_to_id(eosString);
    if (eos === undefined) throw new WebmoeError('model-format', `tokenizer_config.json: eos_token ${JSON.stringify(eosString)} is not a token of tokenizer.json`);
    this.eosTokenIds = new Set([eos, ...(options.extraEosTokenIds ?? [])]);
    this.bosTokenId = specialStrings.bos_token === undefined ? undefined : tok.token_to_id(specialStrings.bos_token);
    this.family = options.family ?? 'v3';
    this.chat = this.family === 'v4' ? new ChatEncodingV4() : new ChatTemplate(chatTemplateSource(config), specialStrings);
    if (this.family === 'v4') {
      for (const s of V4_REPLY_MARKUP) {
        const id = tok.token_to_id(s);
        if (id !== undefined && this.special.has(id)) this.printedSpecial.add(id);
      }
    }
    this.byteDecoder = tok.decoder instanceof ByteLevelDecoder ? tok.decoder.byte_decoder : null;
  }

  /** Builds the tokenizer from the parsed tokenizer.json and tokenizer_config.json. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown, options: TokenizerOptions = {}): TextTokenizer {
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model) || !Array.isArray(tokenizerJson.added_tokens)) {
      throw new WebmoeError('model-format', 'tokenizer.json: expected an object with "model" and "added_tokens"');
    }
    if (!isObject(tokenizerConfig)) throw new WebmoeError('model-format', 'tokenizer_config.json: expected a JSON object');
    if (options.family !== 'v4') chatTemplateSource(tokenizerConfig); // fail on a missing template before the (slow) vocabulary build
    let tok: Tokenizer;
    try {
      tok = new Tokenizer(tokenizerJson, tokenizerConfig);
    } catch (e) {
      throw new WebmoeError('model-format', `tokenizer.json: ${(e as Error).message}`, { cause: e });
    }
    return new TextTokenizer(tok, tokenizerConfig, options);
  }

  /** Plain text → ids. Adds no BOS: chat templates write it themselves. Special-token text maps to its id. */
  encode(text: string): number[] {
    return text ? this.tok.encode(text, { add_special_tokens: false }).ids : [];
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    return ids.length ? this.tok.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? true }) : '';
  }

  tokenId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  isSpecial(id: number): boolean {
    return this.special.has(id);
  }

  /** Whether every token stands for a byte string (tokenBytes): what constrained decoding needs. */
  get byteLevel(): boolean {
    return this.byteDecoder !== null;
  }

  /** The prompt text for a conversation, in the model's chat format (which writes BOS itself). */
  renderChat(messages: readonly TemplateMessage[], options: ChatRenderOptions = {}): string {
    if (options.continueFinal) {
      const last = messages[messages.length - 1];
      if (last?.role !== 'assistant' || typeof last.content !== 'string') throw new WebmoeError('invalid-request', 'continuing a reply needs a last message with role assistant and text content');
      if (options.thinking) throw new WebmoeError('invalid-request', 'a final assistant message cannot be continued in thinking mode');
      return this.renderChat(messages.slice(0, -1), { ...options, continueFinal: false, addGenerationPrompt: true }) + last.content;
    }
    const addGenerationPrompt = options.addGenerationPrompt ?? true;
    const tools = options.tools?.length ? options.tools : undefined;
    if (this.chat instanceof ChatEncodingV4) {
      return this.chat.render(messages, { addGenerationPrompt, thinking: options.thinking ?? false, ...(options.reasoningEffort ? { reasoningEffort: options.reasoningEffort } : {}), ...(tools ? { tools } : {}) });
    }
    if (options.thinking) throw new WebmoeError('invalid-request', 'thinking mode needs a DeepSeek-V4 model; this model (V2/V3) has no thinking mode in its chat template');
    if (tools && !this.chat.usesTools) return this.chat.render(withSystemText(messages, toolsPromptV3(tools)), { addGenerationPrompt });
    return this.chat.render(messages, { addGenerationPrompt, ...(tools ? { tools } : {}) });
  }

  encodeChat(messages: readonly TemplateMessage[], options: ChatRenderOptions = {}): number[] {
    return this.encode(this.renderChat(messages, options));
  }

  /**
   * A streaming detokenizer that skips special tokens (as decode does by default), except a V4 model's
   * reply markup (`</think>`, DSML), which its reply parser needs whether or not the vocabulary marks it
   * special. Byte-level tokenizers get the exact byte path; others (or `windowed: true`) decode a sliding window.
   */
  createDetokenizer(options: { windowed?: boolean } = {}): Detokenizer {
    if (this.byteDecoder && !options.windowed) return new ByteLevelDetokenizer((id) => this.tokenBytes(id));
    return new WindowedDetokenizer((ids) => this.decode(ids.filter((id) => !this.skipped(id)), { skipSpecialTokens: false }));
  }

  /** Whether the detokenizer prints nothing for this token. */
  private skipped(id: number): boolean {
    return this.special.has(id) && !this.printedSpecial.has(id);
  }

  /** The bytes a token stands for in a byte-level vocabulary; null for special tokens. */
  tokenBytes(id: number): Uint8Array | null {
    let b = this.bytesCache.get(id);
    if (b !== undefined) return b;
    if (this.skipped(id)) b = null;
    else {
      const added = this.added.get(id);
      const piece = added ?? this.tok.id_to_token(id);
      if (piece === undefined) b = null;
      else if (added !== undefined) b = utf8.encode(added);
      else b = this.pieceBytes(piece);
    }
    this.bytesCache.set(id, b);
    return b;
  }

  private pieceBytes(piece: string): Uint8Array {
    const map = this.byteDecoder!;
    const chars = [...piece];
    const out = new Uint8Array(chars.length);
    for (let i = 0; i < chars.length; i++) {
      const v = map[chars[i]];
      // Not a byte-level piece (hand-added vocabulary entry): its text is its bytes, as the Rust decoder does.
      if (v === undefined) return utf8.encode(piece);
      out[i] = v;
    }
    return out;
  }
}
