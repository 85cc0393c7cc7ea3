"""Training text: the King James Bible from Debian's bible-kjv-text package (public domain).

The package stores the text compressed in its own format; its `bible` program (package bible-kjv)
prints it. Documents mix plain passages with chat-formatted examples so that a chat prompt rendered
with the DeepSeek template gets a verse-like reply.
"""
import random
import re
import subprocess

BOS = '<｜begin▁of▁sentence｜>'
EOS = '<｜end▁of▁sentence｜>'
USER = '<｜User｜>'
ASSISTANT = '<｜Assistant｜>'
SPECIAL_TOKENS = [BOS, EOS, USER, ASSISTANT]

# Words too common to make a "tell me about" prompt worth answering with a verse.
STOPWORDS = set('''
    about above after again against also among because before being between could every their there these
    those thou thee thine thy unto upon shall should which while whom whose would with without within
    hath have doth said saith which where when what then them they this that from into were your yours
    shalt wilt hast didst even also behold neither nor things thing other others until like
'''.split())


def load_verses():
    """[(book, chapter, verse, text)] for all 31102 verses, in canonical order."""
    raw = subprocess.run(['bible', '-l100000', 'gen1:1-rev22:21'], check=True, capture_output=True,
                         text=True, env={'COLUMNS': '100000'}).stdout
    verses = []
    book, chapter = None, None
    for line in raw.splitlines():
        if not line.strip():
            continue
        m = re.match(r'^  (\d+) (.*)$', line)
        if m:
            verses.append((book, chapter, int(m.group(1)), ' '.join(m.group(2).split())))
            continue
        m = re.match(r'^(.+) (\d+)$', line)
        if not m:
            raise ValueError(f'unexpected line from bible: {line!r}')
        book, chapter = m.group(1), int(m.group(2))
    if len(verses) != 31102:
        raise ValueError(f'expected 31102 verses, got {len(verses)}')
    return verses


def split_verse(text, rng):
    """(first part, rest) at a word boundary near the middle, preferring a punctuation break."""
    words = text.split(' ')
    if len(words) < 4:
        return None
    lo, hi = max(1, len(words) // 3), max(2, (2 * len(words)) // 3)
    punct = [i for i in range(lo, hi) if words[i - 1][-1] in ',;:']
    cut = rng.choice(punct) if punct else rng.randint(lo, hi)
    return ' '.join(words[:cut]), ' '.join(words[cut:])


def keyword(text, rng):
    words = [w.strip('.,;:?!()\'').lower() for w in text.split()]
    words = [w for w in words if len(w) >= 5 and w.isalpha() and w not in STOPWORDS]
    return rng.choice(words) if words else None


# Books whose verses no training document contains: held-out text for perplexity and MTP acceptance
# (fixtures/trained/heldout.txt). Their words still shaped the tokenizer's merges.
HELD_OUT_BOOKS = ('Ruth', 'Philemon', 'Jude')

ABOUT_TEMPLATES = ['Tell me about {w}.', 'What is {w}?', '{W}', 'Speak of {w}.', 'What does the Bible say about {w}?']


def chat(user, reply):
    return f'{BOS}{USER}{user}{ASSISTANT}{reply}{EOS}'


def documents(verses, seed=0):
    """[(book, document)]: documents (strings with special tokens inline, each starting with BOS) and the book
    their verses come from, in a shuffled order."""
    rng = random.Random(seed)
    docs = []
    # Plain passages: runs of 2-8 consecutive verses of one chapter, covering the whole text once.
    i = 0
    while i < len(verses):
        n = rng.randint(2, 8)
        run = [v for v in verses[i:i + n] if (v[0], v[1]) == verses[i][:2]]
        docs.append((run[0][0], BOS + ' '.join(v[3] for v in run)))
        i += len(run)
    for book, ch, vn, text in verses:
        kind = rng.random()
        if kind < 0.3:
            docs.append((book, chat(f'{book} {ch}:{vn}', text)))
        elif kind < 0.75:
            parts = split_verse(text, rng)
            if parts:
                docs.append((book, chat(parts[0], parts[1])))
        else:
            w = keyword(text, rng)
            if w:
                t = rng.choice(ABOUT_TEMPLATES)
                docs.append((book, chat(t.format(w=w, W=w.capitalize()), text)))
    rng.shuffle(docs)
    return docs


def held_out_text(verses):
    """The held-out books as plain text: their verses in order, separated by single spaces as in the training
    passages (no newline: the training text has none)."""
    return ' '.join(v[3] for v in verses if v[0] in HELD_OUT_BOOKS)


def tokenizer_corpus(verses):
    """Plain text the BPE merges are learned from: every verse and every reference."""
    for book, ch, vn, text in verses:
        yield text
        yield f'{book} {ch}:{vn}'
