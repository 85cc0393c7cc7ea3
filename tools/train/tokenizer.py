"""Byte-level BPE tokenizer, trained here and written as a Hugging Face tokenizer.json.

Layout of the ids (like DeepSeek-V3: BOS 0, EOS 1, chat markers at the top of the vocabulary):
  0 BOS, 1 EOS, 2..257 the 256 bytes (GPT-2 byte-to-unicode characters, in byte order),
  258.. one token per merge, then <｜User｜> and <｜Assistant｜>.
Pre-tokenization is GPT-2's regex, written out as a Split so that the JS library and this file split
identically; the ByteLevel step after it only maps bytes to characters.

  /usr/bin/python3 tools/train/tokenizer.py --out DIR [--vocab 3072]
"""
import argparse
import json
import os
import sys
from collections import Counter, defaultdict

import regex

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import ASSISTANT, BOS, EOS, SPECIAL_TOKENS, USER, load_verses, tokenizer_corpus  # noqa: E402

PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
PRE_TOKENIZE = regex.compile(PATTERN)
FIRST_BYTE_ID = 2


def bytes_to_unicode():
    """GPT-2's map from each byte to a printable character (printable Latin-1 maps to itself)."""
    keep = list(range(ord('!'), ord('~') + 1)) + list(range(ord('¡'), ord('¬') + 1)) + list(range(ord('®'), ord('ÿ') + 1))
    chars, n = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + n)
            n += 1
    return chars


BYTE_CHAR = bytes_to_unicode()
CHAR_BYTE = {c: b for b, c in BYTE_CHAR.items()}


def to_symbols(word):
    return ''.join(BYTE_CHAR[b] for b in word.encode('utf-8'))


def train_merges(texts, n_merges):
    """Classic BPE on pre-token counts: repeatedly merge the most frequent adjacent pair."""
    counts = Counter()
    for t in texts:
        counts.update(PRE_TOKENIZE.findall(t))
    words = [list(to_symbols(w)) for w in counts]
    freq = list(counts.values())
    pairs = Counter()
    where = defaultdict(set)
    for i, w in enumerate(words):
        for a, b in zip(w, w[1:]):
            pairs[a, b] += freq[i]
            where[a, b].add(i)
    merges = []
    for _ in range(n_merges):
        if not pairs:
            break
        # Highest count; ties go to the lexicographically smallest pair so that runs are reproducible.
        best = min(pairs, key=lambda p: (-pairs[p], p))
        if pairs[best] < 2:
            break
        merges.append(best)
        a, b = best
        merged = a + b
        for i in list(where[best]):
            w = words[i]
            for x, y in zip(w, w[1:]):
                pairs[x, y] -= freq[i]
                if pairs[x, y] == 0:
                    del pairs[x, y]
            out, j = [], 0
            while j < len(w):
                if j + 1 < len(w) and w[j] == a and w[j + 1] == b:
                    out.append(merged)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for x, y in zip(out, out[1:]):
                pairs[x, y] += freq[i]
                where[x, y].add(i)
        del where[best]
    return merges


class Tokenizer:
    def __init__(self, vocab, merges):
        self.vocab = vocab
        self.inv = {i: t for t, i in vocab.items()}
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.specials = {t: vocab[t] for t in SPECIAL_TOKENS}
        self.split_specials = regex.compile('(' + '|'.join(regex.escape(t) for t in SPECIAL_TOKENS) + ')')
        self.cache = {}

    @classmethod
    def train(cls, texts, vocab_size):
        n_merges = vocab_size - FIRST_BYTE_ID - 256 - 2
        merges = train_merges(texts, n_merges)
        if len(merges) != n_merges:
            raise ValueError(f'corpus gave only {len(merges)} merges, {n_merges} wanted')
        vocab = {BOS: 0, EOS: 1}
        for b in range(256):
            vocab[BYTE_CHAR[b]] = FIRST_BYTE_ID + b
        for a, b in merges:
            vocab[a + b] = len(vocab)
        vocab[USER] = len(vocab)
        vocab[ASSISTANT] = len(vocab)
        return cls(vocab, merges)

    @classmethod
    def load(cls, path):
        with open(path, encoding='utf-8') as f:
            j = json.load(f)
        merges = [tuple(m.split(' ')) if isinstance(m, str) else tuple(m) for m in j['model']['merges']]
        return cls(j['model']['vocab'], merges)

    def bpe(self, word):
        if word in self.cache:
            return self.cache[word]
        syms = list(to_symbols(word))
        while len(syms) > 1:
            rank, pos = min((self.ranks.get((syms[k], syms[k + 1]), 1 << 30), k) for k in range(len(syms) - 1))
            if rank == 1 << 30:
                break
            syms[pos:pos + 2] = [syms[pos] + syms[pos + 1]]
        ids = [self.vocab[s] for s in syms]
        self.cache[word] = ids
        return ids

    def encode(self, text):
        """Ids for text; special-token strings in it become their ids (as the HF added-token splitter does)."""
        ids = []
        for part in self.split_specials.split(text):
            if part in self.specials:
                ids.append(self.specials[part])
            elif part:
                for w in PRE_TOKENIZE.findall(part):
                    ids.extend(self.bpe(w))
        return ids

    def decode(self, ids):
        out, buf = [], bytearray()
        for i in ids:
            t = self.inv[int(i)]
            if t in self.specials:
                out.append(buf.decode('utf-8', errors='replace'))
                buf = bytearray()
                out.append(t)
            else:
                buf.extend(CHAR_BYTE[c] for c in t)
        out.append(buf.decode('utf-8', errors='replace'))
        return ''.join(out)

    def tokenizer_json(self):
        merges = sorted(self.ranks, key=self.ranks.get)
        return {
            'version': '1.0',
            'truncation': None,
            'padding': None,
            'added_tokens': [
                {'id': self.vocab[t], 'content': t, 'single_word': False, 'lstrip': False, 'rstrip': False,
                 'normalized': False, 'special': True}
                for t in SPECIAL_TOKENS
            ],
            'normalizer': None,
            'pre_tokenizer': {'type': 'Sequence', 'pretokenizers': [
                {'type': 'Split', 'pattern': {'Regex': PATTERN}, 'behavior': 'Isolated', 'invert': False},
                {'type': 'ByteLevel', 'add_prefix_space': False, 'trim_offsets': True, 'use_regex': False},
            ]},
            'post_processor': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': False, 'use_regex': True},
            'decoder': {'type': 'ByteLevel', 'add_prefix_space': True, 'trim_offsets': True, 'use_regex': True},
            'model': {
                'type': 'BPE', 'dropout': None, 'unk_token': None, 'continuing_subword_prefix': None,
                'end_of_word_suffix': None, 'fuse_unk': False, 'byte_fallback': False, 'ignore_merges': False,
                'vocab': self.vocab,
                'merges': [f'{a} {b}' for a, b in merges],
            },
        }


# DeepSeek-V3's template without the tool-call branches (this vocabulary has no tool tokens): system
# prompts joined first after BOS, then <｜User｜>… and <｜Assistant｜>…<｜end▁of▁sentence｜> turns.
CHAT_TEMPLATE = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(system_prompt='', is_first_sp=true) %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}"
    "{%- if ns.is_first_sp %}{% set ns.system_prompt = ns.system_prompt + message['content'] %}"
    "{% set ns.is_first_sp = false %}"
    "{%- else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}"
    "{%- endif %}{%- endfor %}"
    "{{bos_token}}{{ns.system_prompt}}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'user' %}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' %}{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{%- endif %}"
    "{%- endfor -%}"
    "{% if add_generation_prompt %}{{'<｜Assistant｜>'}}{% endif %}"
)


def render_chat(messages, add_generation_prompt=True):
    """Python rendering of CHAT_TEMPLATE (checked against @huggingface/jinja by check_tokenizer.mjs)."""
    system = '\n\n'.join(m['content'] for m in messages if m['role'] == 'system')
    out = BOS + system
    for m in messages:
        if m['role'] == 'user':
            out += USER + m['content']
        elif m['role'] == 'assistant':
            out += ASSISTANT + m['content'] + EOS
    return out + (ASSISTANT if add_generation_prompt else '')


def tokenizer_config(tok):
    def added(t):
        return {'__type': 'AddedToken', 'content': t, 'lstrip': False, 'normalized': True, 'rstrip': False, 'single_word': False}
    return {
        'add_bos_token': True,
        'add_eos_token': False,
        'bos_token': added(BOS),
        'clean_up_tokenization_spaces': False,
        'eos_token': added(EOS),
        'legacy': True,
        'model_max_length': 131072,
        'pad_token': added(EOS),
        'sp_model_kwargs': {},
        'unk_token': None,
        'tokenizer_class': 'LlamaTokenizerFast',
        'added_tokens_decoder': {
            str(tok.vocab[t]): {'content': t, 'lstrip': False, 'normalized': False, 'rstrip': False,
                                'single_word': False, 'special': True}
            for t in SPECIAL_TOKENS
        },
        'chat_template': CHAT_TEMPLATE,
    }


def save(tok, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, 'tokenizer.json'), 'w', encoding='utf-8') as f:
        json.dump(tok.tokenizer_json(), f, ensure_ascii=False)
    with open(os.path.join(out_dir, 'tokenizer_config.json'), 'w', encoding='utf-8') as f:
        json.dump(tokenizer_config(tok), f, ensure_ascii=False, indent=2)


SAMPLE_TEXTS = [
    'In the beginning God created the heaven and the earth.',
    "And Jesus said unto them, I'll go; they've seen it, we're here, it's 3:16 and 144000 more.",
    '  leading spaces,\ttabs\n\nnewlines   and trailing   ',
    'Ünïcödé: naïve café, 中文, emoji 🙂 and Ωmega',
    'Genesis 1:1 Psalms 23:1-6 (KJV) "quoted" [brackets] {braces} $100 & 50%!?',
    BOS + USER + 'Tell me about light.' + ASSISTANT + 'And God said, Let there be light.' + EOS,
    'text with' + EOS + 'special tokens inside' + USER,
]


def samples(out_dir):
    """JSON for check_tokenizer.mjs: Python encodings of SAMPLE_TEXTS and a rendered chat."""
    tok = Tokenizer.load(os.path.join(out_dir, 'tokenizer.json'))
    messages = [{'role': 'system', 'content': 'You are a scribe.'}, {'role': 'user', 'content': 'Hello'},
                {'role': 'assistant', 'content': 'Peace be unto thee.'}, {'role': 'user', 'content': 'Speak of love.'}]
    psalms = '\n'.join(v[3] for v in load_verses() if v[0] == 'Psalms')  # a long text: about 60000 tokens
    cases = [{'text': t, 'ids': tok.encode(t), 'decoded': tok.decode(tok.encode(t))} for t in SAMPLE_TEXTS + [psalms]]
    print(json.dumps({'cases': cases, 'chat': {'messages': messages, 'rendered': render_chat(messages)}}, ensure_ascii=False))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', required=True, help='folder for tokenizer.json and tokenizer_config.json')
    ap.add_argument('--vocab', type=int, default=3072)
    ap.add_argument('--samples', action='store_true', help='print sample encodings of the tokenizer in --out as JSON')
    args = ap.parse_args()
    if args.samples:
        samples(args.out)
        return
    verses = load_verses()
    tok = Tokenizer.train(tokenizer_corpus(verses), args.vocab)
    save(tok, args.out)
    sample = verses[0][3]
    ids = tok.encode(sample)
    assert tok.decode(ids) == sample
    n_bytes = sum(len(v[3]) + 1 for v in verses)
    n_tokens = sum(len(tok.encode(v[3])) for v in verses)
    print(f'vocab {len(tok.vocab)}; {n_tokens} tokens for {n_bytes} bytes of verses ({n_bytes / n_tokens:.2f} bytes/token)')
    print(f'{sample!r} -> {ids}')


if __name__ == '__main__':
    main()
