// The model's tokenizer (tokenizer.json through @huggingface/tokenizers) and chat template
// (tokenizer_config.json through @huggingface/jinja), plus the per-token byte view the streaming
// detokenizer needs.
import { ByteLevelDecoder, Tokenizer } from '@huggingface/tokenizers';
import { WebmoeError } from '../errors';
import { ChatTemplate, chatTemplateSource, type TemplateMessage } from './chat-template';
import { ByteLevelDetokenizer, WindowedDetokenizer, type Detokenizer } from './detokenizer';

export interface TokenizerOptions {
  /** More end-of-sequence ids (generation_config.json may list several); tokenizer_config's eos_token is always one. */
  readonly extraEosTokenIds?: readonly number[];
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

export class TextTokenizer {
  /** Ids that end generation. */
  readonly eosTokenIds: ReadonlySet<number>;
  readonly bosTokenId: number | undefined;
  private readonly template: ChatTemplate;
  private readonly special = new Set<number>();
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
    this.template = new ChatTemplate(chatTemplateSource(config), specialStrings);
    this.byteDecoder = tok.decoder instanceof ByteLevelDecoder ? tok.decoder.byte_decoder : null;
  }

  /** Builds the tokenizer from the parsed tokenizer.json and tokenizer_config.json. */
  static fromJson(tokenizerJson: unknown, tokenizerConfig: unknown, options: TokenizerOptions = {}): TextTokenizer {
    if (!isObject(tokenizerJson) || !isObject(tokenizerJson.model) || !Array.isArray(tokenizerJson.added_tokens)) {
      throw new WebmoeError('model-format', 'tokenizer.json: expected an object with "model" and "added_tokens"');
    }
    if (!isObject(tokenizerConfig)) throw new WebmoeError('model-format', 'tokenizer_config.json: expected a JSON object');
    chatTemplateSource(tokenizerConfig); // fail on a missing template before the (slow) vocabulary build
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

  /** The prompt text for a conversation, per the model's chat template (which writes BOS itself). */
  renderChat(messages: readonly TemplateMessage[], options: { addGenerationPrompt?: boolean } = {}): string {
    return this.template.render(messages, { addGenerationPrompt: options.addGenerationPrompt ?? true });
  }

  encodeChat(messages: readonly TemplateMessage[], options: { addGenerationPrompt?: boolean } = {}): number[] {
    return this.encode(this.renderChat(messages, options));
  }

  /**
   * A streaming detokenizer that skips special tokens (as decode does by default). Byte-level
   * tokenizers get the exact byte path; others (or `windowed: true`) decode a sliding window.
   */
  createDetokenizer(options: { windowed?: boolean } = {}): Detokenizer {
    if (this.byteDecoder && !options.windowed) return new ByteLevelDetokenizer((id) => this.tokenBytes(id));
    return new WindowedDetokenizer((ids) => this.decode(ids));
  }

  /** The bytes a token stands for in a byte-level vocabulary; null for special tokens. */
  private tokenBytes(id: number): Uint8Array | null {
    let b = this.bytesCache.get(id);
    if (b !== undefined) return b;
    if (this.special.has(id)) b = null;
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
