import { describe, expect, it } from 'vitest';
import { TextTokenizer } from './tokenizer';
import { readV3TokenizerFiles } from '../../test-support/v3-files-node';

const files = readV3TokenizerFiles();
const tok = TextTokenizer.fromJson(files.tokenizerJson, files.tokenizerConfig);

/** Special-token ids straight from tokenizer.json's added_tokens, not through the tokenizer library. */
function specialId(content: string): number {
  const t = (files.tokenizerJson.added_tokens as { id: number; content: string }[]).find((x) => x.content === content);
  if (!t) throw new Error(`${content} not in tokenizer.json`);
  return t.id;
}
const BOS = '<｜begin▁of▁sentence｜>';
const EOS = '<｜end▁of▁sentence｜>';
const USER = '<｜User｜>';
const ASSISTANT = '<｜Assistant｜>';

describe('DeepSeek-V3 tokenizer and chat template', () => {
  it('encodes plain text to the known ids, without a BOS', () => {
    expect(tok.encode('How are you doing?')).toEqual([4117, 477, 440, 4843, 33]);
    expect(tok.bosTokenId).toBe(0);
    expect([...tok.eosTokenIds]).toEqual([1]);
  });

  it('renders and encodes a multi-turn conversation as the template specifies, with one BOS', () => {
    const system = 'You are a helpful assistant.\nAnswer briefly.';
    const u1 = 'How are you doing?';
    const a1 = 'Fine, thanks! 日本語 and 🤖 work too.';
    const u2 = 'Tell me about Paris in 2 sentences.';
    const messages = [
      { role: 'system', content: system },
      { role: 'user', content: u1 },
      { role: 'assistant', content: a1 },
      { role: 'user', content: u2 },
    ];
    // By hand, per docs/architecture-v3.md#chat-template: BOS, system, then <｜User｜>…<｜Assistant｜>…<｜end▁of▁sentence｜>.
    const text = tok.renderChat(messages);
    expect(text).toBe(`${BOS}${system}${USER}${u1}${ASSISTANT}${a1}${EOS}${USER}${u2}${ASSISTANT}`);
    const expected = [
      specialId(BOS), ...tok.encode(system),
      specialId(USER), 4117, 477, 440, 4843, 33,
      specialId(ASSISTANT), ...tok.encode(a1), specialId(EOS),
      specialId(USER), ...tok.encode(u2),
      specialId(ASSISTANT),
    ];
    const ids = tok.encodeChat(messages);
    expect(ids).toEqual(expected);
    expect(ids.filter((i) => i === 0)).toHaveLength(1);
    expect(ids[0]).toBe(0);
    // Without the generation prompt the trailing <｜Assistant｜> goes away, nothing else changes.
    expect(tok.encodeChat(messages, { addGenerationPrompt: false })).toEqual(expected.slice(0, -1));
  });

  it('joins several system messages with a blank line', () => {
    const text = tok.renderChat([
      { role: 'system', content: 'A' },
      { role: 'system', content: 'B' },
      { role: 'user', content: 'hi' },
    ]);
    expect(text).toBe(`${BOS}A\n\nB${USER}hi${ASSISTANT}`);
  });

  it('rejects a malformed tokenizer.json with a model-format error naming the file', () => {
    expect(() => TextTokenizer.fromJson({}, files.tokenizerConfig)).toThrow(/tokenizer\.json/);
    expect(() => TextTokenizer.fromJson(files.tokenizerJson, { ...files.tokenizerConfig, chat_template: undefined })).toThrow(/chat_template/);
  });
});

describe('incremental detokenizer', () => {
  const text = 'Grüße, naïve café! 🤖🦄 日本語のテキスト. Ελληνικά 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ok';
  const ids = tok.encode(text);

  it('the test text really splits characters across tokens', () => {
    const broken = ids.filter((id) => tok.decode([id]).includes('\uFFFD'));
    expect(broken.length).toBeGreaterThan(2);
  });

  for (const windowed of [false, true]) {
    it(`${windowed ? 'windowed' : 'byte-level'}: never emits a broken character and concatenates to the text`, () => {
      const d = tok.createDetokenizer({ windowed });
      const pieces = ids.map((id) => d.push(id));
      pieces.push(d.flush());
      for (const p of pieces) expect(p).not.toContain('\uFFFD');
      expect(pieces.join('')).toBe(text);
      expect(pieces.join('')).toBe(tok.decode(ids));
    });
  }

  it('skips special tokens and prints the non-special added ones like decode does', () => {
    const seq = [0, ...tok.encode('Hi'), specialId(USER), ...tok.encode(' there'), 1];
    for (const windowed of [false, true]) {
      const d = tok.createDetokenizer({ windowed });
      const out = seq.map((id) => d.push(id)).join('') + d.flush();
      expect(out).toBe(tok.decode(seq));
      expect(out).toBe(`Hi${USER} there`);
    }
  });

  it('flush turns an unfinished character into U+FFFD instead of dropping it', () => {
    const robot = tok.encode('🤖');
    expect(robot.length).toBeGreaterThan(1);
    const d = tok.createDetokenizer();
    expect(d.push(robot[0])).toBe('');
    expect(d.flush()).toBe('\uFFFD');
  });
});
