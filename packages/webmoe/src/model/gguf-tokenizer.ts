// The tokenizer of a GGUF file (tokenizer.ggml.*, docs/gguf.md#tokenizer) as the Hugging Face files the
// engine reads: a byte-level BPE tokenizer.json (vocabulary from the tokens, merges, the pre-tokenizer
// named by tokenizer.ggml.pre, control tokens as special added tokens) and a tokenizer_config.json with
// the BOS/EOS tokens and the chat template. The reverse direction writes test files.
import { WebmoeError } from '../errors';
import { ggufValue, type GgufHeader, type GgufValue } from './gguf';

/** llama.cpp's token types. */
const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4 } as const;

/** Split patterns of the pre-tokenizers webmoe knows, by tokenizer.ggml.pre, each followed by a byte-level step. */
const PRE_SPLITS: Readonly<Record<string, readonly string[]>> = {
  'deepseek-v3': [
    '\\p{N}{1,3}',
    '[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+',
    "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| ?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
  ],
  'deepseek-llm': [
    '[\r\n]',
    '\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-\u1f7dᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-\u1fd3ῖ-\u1fdbῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ\u{10400}-\u{1044f}\u{104b0}-\u{104d3}\u{104d8}-\u{104fb}\u{10c80}-\u{10cb2}\u{10cc0}-\u{10cf2}\u{118a0}-\u{118df}\u{1e900}-\u{1e943}]+',
    '\\s?[!-/:-~！-／：-～‘-‟　-。]+',
    '\\s+$',
    '[一-龥ࠀ-一가-퟿]+',
    '\\p{N}+',
  ],
  'gpt-2': ["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"],
};

export interface TokenizerFiles {
  'tokenizer.json': unknown;
  'tokenizer_config.json': unknown;
}

function fail(source: string, key: string, message: string): never {
  throw new WebmoeError('model-format', `${source}: metadata ${key} ${message}`, { detail: { file: source, field: key } });
}

function strings(header: Pick<GgufHeader, 'metadata'>, key: string, source: string): string[] {
  const v = ggufValue(header, key);
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) fail(source, key, 'is missing or not an array of strings');
  return v as string[];
}

/** The tokenizer files of a GGUF file, or null when it has no tokenizer. */
export function ggufTokenizer(header: Pick<GgufHeader, 'metadata'>, source: string): TokenizerFiles | null {
  const model = ggufValue(header, 'tokenizer.ggml.model');
  if (model === undefined) return null;
  if (model !== 'gpt2') fail(source, 'tokenizer.ggml.model', `is ${JSON.stringify(model)}; webmoe reads byte-level BPE tokenizers ("gpt2"), which DeepSeek's models use`);
  const tokens = strings(header, 'tokenizer.ggml.tokens', source);
  const merges = strings(header, 'tokenizer.ggml.merges', source);
  const types = (ggufValue(header, 'tokenizer.ggml.token_type') as number[] | undefined) ?? [];
  const pre = String(ggufValue(header, 'tokenizer.ggml.pre') ?? 'gpt-2');
  const splits = PRE_SPLITS[pre === 'default' ? 'gpt-2' : pre];
  if (!splits) fail(source, 'tokenizer.ggml.pre', `is ${JSON.stringify(pre)}; webmoe knows ${Object.keys(PRE_SPLITS).join(', ')}`);
  const vocab: Record<string, number> = {};
  tokens.forEach((t, i) => {
    if (!Object.hasOwn(vocab, t)) vocab[t] = i;
  });
  const added = tokens.flatMap((content, id) => {
    const type = types[id];
    if (type !== TOKEN_TYPE.CONTROL && type !== TOKEN_TYPE.USER_DEFINED && type !== TOKEN_TYPE.UNKNOWN) return [];
    return [{ id, content, single_word: false, lstrip: false, rstrip: false, normalized: type === TOKEN_TYPE.USER_DEFINED, special: type !== TOKEN_TYPE.USER_DEFINED }];
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        ...splits.map((Regex) => ({ type: 'Split', pattern: { Regex }, behavior: 'Isolated', invert: false })),
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
  const tokenAt = (key: string) => {
    const id = ggufValue(header, key);
    if (id === undefined) return null;
    if (typeof id !== 'number' || !(id >= 0 && id < tokens.length)) fail(source, key, `is ${String(id)}, not a token id below ${tokens.length}`);
    return tokens[id];
  };
  const config: Record<string, unknown> = {
    add_bos_token: ggufValue(header, 'tokenizer.ggml.add_bos_token') ?? true,
    add_eos_token: ggufValue(header, 'tokenizer.ggml.add_eos_token') ?? false,
    bos_token: tokenAt('tokenizer.ggml.bos_token_id'),
    eos_token: tokenAt('tokenizer.ggml.eos_token_id'),
    pad_token: tokenAt('tokenizer.ggml.padding_token_id'),
    clean_up_tokenization_spaces: false,
    model_max_length: 131072,
    tokenizer_class: 'LlamaTokenizerFast',
  };
  const template = ggufValue(header, 'tokenizer.chat_template');
  if (typeof template === 'string') config.chat_template = template;
  return { 'tokenizer.json': tokenizer, 'tokenizer_config.json': config };
}

/**
 * tokenizer.ggml.* metadata of a Hugging Face byte-level BPE tokenizer (for test files; `pre` names its
 * pre-tokenizer as llama.cpp would).
 */
export function tokenizerToGguf(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown>, pre: string): Record<string, GgufValue> {
  const model = tokenizerJson.model as { vocab: Record<string, number>; merges: (string | [string, string])[] };
  const added = (tokenizerJson.added_tokens as { id: number; content: string; special: boolean }[]) ?? [];
  const n = Math.max(...Object.values(model.vocab), ...added.map((a) => a.id)) + 1;
  const tokens = Array.from({ length: n }, (_, i) => `[PAD${i}]`);
  const types = new Array<number>(n).fill(TOKEN_TYPE.NORMAL);
  for (const [t, i] of Object.entries(model.vocab)) tokens[i] = t;
  for (const a of added) {
    tokens[a.id] = a.content;
    types[a.id] = a.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  }
  const content = (v: unknown) => (typeof v === 'string' ? v : (v as { content?: string } | null)?.content);
  const idOf = (v: unknown) => tokens.indexOf(content(v) ?? '\u0000');
  const out: Record<string, GgufValue> = {
    'tokenizer.ggml.model': 'gpt2',
    'tokenizer.ggml.pre': pre,
    'tokenizer.ggml.tokens': tokens,
    'tokenizer.ggml.token_type': types,
    'tokenizer.ggml.merges': model.merges.map((m) => (Array.isArray(m) ? m.join(' ') : m)),
  };
  if (idOf(tokenizerConfig.bos_token) >= 0) out['tokenizer.ggml.bos_token_id'] = idOf(tokenizerConfig.bos_token);
  if (idOf(tokenizerConfig.eos_token) >= 0) out['tokenizer.ggml.eos_token_id'] = idOf(tokenizerConfig.eos_token);
  if (typeof tokenizerConfig.add_bos_token === 'boolean') out['tokenizer.ggml.add_bos_token'] = tokenizerConfig.add_bos_token;
  if (typeof tokenizerConfig.chat_template === 'string') out['tokenizer.chat_template'] = tokenizerConfig.chat_template;
  return out;
}
