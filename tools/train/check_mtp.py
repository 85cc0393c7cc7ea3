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
Chained drafts (--depth, default 3; docs/speculative.md): from the first --chains windows, a prompt of
--prompt tokens and the main model's greedy continuation of --gen tokens, the text a greedy speculative
decoder produces and verifies. At each position of the continuation the module drafts d1 from (h_i, t_{i+1})
and then, fed its own output (before shared_head.norm) and d_j at the next position, d_{j+1}: what the engine
drafts at depth > 1. Printed: P(draft j accepted | drafts 1 … j-1 were) and the expected tokens per step at
depth k, 1 + sum over j <= k of P(drafts 1 … j all accepted).
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


def mtp_input(model, h, next_ids):
    """The module's block input from hidden states h [1, t, d] and the tokens after them [1, t]."""
    m = model.mtp_modules()[0]
    return m.eh_proj(torch.cat([m.enorm(model.model.embed_tokens(next_ids)), m.hnorm(h)], dim=-1))


def greedy_continuation(model, prompt, n):
    ids = list(prompt)
    for _ in range(n):
        ids.append(int(model(torch.tensor([ids]))[0, -1].argmax()))
    return ids


@torch.no_grad()
def measure_chains(folder, text, depth, chains, prompt_len, gen):
    """Greedy chained-draft acceptance per depth over the main model's own greedy continuations."""
    model, config = load_hf(folder, torch.float32, mtp=True)
    model.eval()
    if not model.mtp_modules():
        return None
    m = model.mtp_modules()[0]
    tok = Tokenizer.load(os.path.join(folder, 'tokenizer.json'))
    ids = tok.encode(text)
    # reached[j]: positions whose drafts 1 … j were all accepted (reached[0]: positions drafted at all).
    reached = [0] * (depth + 1)
    for w in windows(ids, config['bos_token_id'], prompt_len)[:chains]:
        if len(w) < prompt_len:
            continue
        seq = greedy_continuation(model, w, gen + depth)
        x = torch.tensor([seq])
        h = model.hidden(x)
        rows = mtp_input(model, h[:, :-1], x[:, 1:])
        out = m(rows, model.rotations(rows.shape[1]))
        draft = model.lm_head(m.shared_head.norm(out))[0].argmax(-1)
        # Positions i whose t_{i+1} the main model chose and whose drafts all have text to compare with.
        for i in range(len(w) - 2, len(seq) - depth - 1):
            reached[0] += 1
            d, prev, chain = int(draft[i]), out[:, i:i + 1], rows[:, :i + 1]
            for j in range(1, depth + 1):
                if d != seq[i + 1 + j]:
                    break
                reached[j] += 1
                if j == depth:
                    break
                chain = torch.cat([chain, mtp_input(model, prev, torch.tensor([[d]]))], dim=1)
                prev = m(chain, model.rotations(chain.shape[1]))[:, -1:]
                d = int(model.lm_head(m.shared_head.norm(prev))[0, 0].argmax())
    return {
        'chained_positions': reached[0],
        'chained_acceptance': [reached[j] / reached[j - 1] if reached[j - 1] else None for j in range(1, depth + 1)],
        'tokens_per_step': [1 + sum(reached[j] for j in range(1, k + 1)) / reached[0] for k in range(1, depth + 1)],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('folder', help='HF folder (config.json, model.safetensors, tokenizer.json)')
    ap.add_argument('text', help='plain text file')
    ap.add_argument('--window', type=int, default=128, help='tokens per window, BOS included (the trained length)')
    ap.add_argument('--depth', type=int, default=3, help='deepest chained draft measured (0: none)')
    ap.add_argument('--chains', type=int, default=24, help='windows whose greedy continuations the chains are measured on')
    ap.add_argument('--prompt', type=int, default=48, help='prompt tokens per continuation, BOS included')
    ap.add_argument('--gen', type=int, default=64, help='greedy tokens per continuation')
    args = ap.parse_args()
    torch.set_num_threads(1)
    with open(args.text, encoding='utf-8') as f:
        text = f.read()
    out = measure(args.folder, text, args.window)
    if args.depth > 0:
        out.update(measure_chains(args.folder, text, args.depth, args.chains, args.prompt, args.gen) or {})
    print(json.dumps(out))


if __name__ == '__main__':
    main()
