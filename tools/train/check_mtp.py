"""Held-out figures of an exported model: the main model's loss and perplexity over a text, and the MTP
module's draft quality on the same text.

  /usr/bin/python3 tools/train/check_mtp.py fixtures/trained/hf fixtures/trained/heldout.txt [--window 128]

The text is tokenized without special tokens and cut into windows of --window tokens, each BOS followed by
window - 1 text tokens; every text token is scored, from BOS and the tokens before it in its window (the
windowing of `webmoe eval`, so the two perplexities are comparable). MTP figures, per window position i
with t_{i+2} inside the window (teacher forcing, as a verifier sees accepted text):
- top-1 accuracy: argmax of the draft from (h_i, t_{i+1}) equals the text's t_{i+2};
- greedy acceptance: that argmax equals the main model's argmax at position i + 1, which is what a greedy
  speculative decoder accepts.
"""
import argparse
import json
import math
import os
import sys

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from check_golden import load_hf  # noqa: E402
from tokenizer import Tokenizer  # noqa: E402


def windows(ids, bos, window):
    step = window - 1
    return [[bos] + ids[i:i + step] for i in range(0, len(ids), step)]


@torch.no_grad()
def measure(folder, text, window):
    model, config = load_hf(folder, torch.float32, mtp=True)
    model.eval()
    tok = Tokenizer.load(os.path.join(folder, 'tokenizer.json'))
    ids = tok.encode(text)
    nll, scored = 0.0, 0
    hits, agree, drafted = 0, 0, 0
    has_mtp = len(model.mtp_modules()) > 0
    for w in windows(ids, config['bos_token_id'], window):
        x = torch.tensor([w])
        h = model.hidden(x[:, :-1]) if len(w) > 1 else None
        if h is None:
            continue
        logits = model.head(h)
        nll += float(F.cross_entropy(logits[0], x[0, 1:], reduction='sum'))
        scored += len(w) - 1
        if has_mtp and len(w) > 2:
            draft = model.mtp_logits(h[:, :-1], x[:, 1:-1])[0].argmax(-1)
            hits += int((draft == x[0, 2:]).sum())
            agree += int((draft == logits[0, 1:].argmax(-1)).sum())
            drafted += len(w) - 2
    out = {'model': folder, 'tokens': len(ids), 'window': window, 'scored': scored,
           'loss': nll / scored, 'perplexity': math.exp(nll / scored)}
    if has_mtp:
        out.update({'drafts': drafted, 'mtp_top1_accuracy': hits / drafted, 'mtp_greedy_acceptance': agree / drafted})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('folder', help='HF folder (config.json, model.safetensors, tokenizer.json)')
    ap.add_argument('text', help='plain text file')
    ap.add_argument('--window', type=int, default=128, help='tokens per window, BOS included (the trained length)')
    args = ap.parse_args()
    torch.set_num_threads(1)
    with open(args.text, encoding='utf-8') as f:
        text = f.read()
    print(json.dumps(measure(args.folder, text, args.window)))


if __name__ == '__main__':
    main()
