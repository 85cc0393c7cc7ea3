"""Exports a training checkpoint in the Hugging Face layout and computes the engine's reference output.

  /usr/bin/python3 tools/train/export.py --ckpt WORK/ckpt.pt --tokenizer WORK/tok \
      --out fixtures/trained/hf --greedy fixtures/trained/greedy.json

Weights are rounded to BF16 (round-to-nearest-even), as released checkpoints store them; the router's
e_score_correction_bias stays F32. greedy.json is computed in float64 from the weights as read back
from the written model.safetensors, so it is exactly what an engine loading that file should produce
(up to its own arithmetic).
"""
import argparse
import json
import os
import shutil
import sys

os.environ.setdefault('OMP_NUM_THREADS', '1')
os.environ.setdefault('OPENBLAS_NUM_THREADS', '1')

import torch  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_io  # noqa: E402
from check_golden import load_hf  # noqa: E402
from data import held_out_text, load_verses  # noqa: E402
from model import greedy  # noqa: E402
from tokenizer import Tokenizer, render_chat  # noqa: E402

# Chosen among a dozen candidate prompts for the widest top-2 logit margins (0.16 over the first 16 steps,
# 0.087 over 32) and no EOS within 32 tokens, so quantized conversions can be held to the same tokens.
GREEDY_MESSAGES = [{'role': 'user', 'content': 'Hello'}]
GREEDY_TOKENS = 32


def export_hf(ckpt, tokenizer_dir, out):
    os.makedirs(out, exist_ok=True)
    tensors = {}
    for name, t in ckpt['model'].items():
        tensors[name] = t.float() if name.endswith('e_score_correction_bias') else t.to(torch.bfloat16)
    # The release layout gives each MTP module its own copies of the embedding and the output head; training
    # shares the main ones.
    n = ckpt['config']['num_hidden_layers']
    for k in range(n, n + ckpt['config'].get('num_nextn_predict_layers', 0)):
        tensors[f'model.layers.{k}.embed_tokens.weight'] = tensors['model.embed_tokens.weight']
        tensors[f'model.layers.{k}.shared_head.head.weight'] = tensors['lm_head.weight']
    safetensors_io.write(os.path.join(out, 'model.safetensors'), tensors)
    with open(os.path.join(out, 'config.json'), 'w') as f:
        json.dump(ckpt['config'], f, indent=2)
        f.write('\n')
    for name in ('tokenizer.json', 'tokenizer_config.json'):
        shutil.copy(os.path.join(tokenizer_dir, name), os.path.join(out, name))


def reference(out, messages, n):
    model, _ = load_hf(out, torch.float64)
    model.eval()
    tok = Tokenizer.load(os.path.join(out, 'tokenizer.json'))
    prompt = tok.encode(render_chat(messages))
    ids, margins, routes = greedy(model, prompt, n)
    eos = ids.index(1) if 1 in ids else None
    # Top-5 logits per step, from the same float64 runs, so tests can check values and not just argmax.
    top, seq = [], list(prompt)
    with torch.no_grad():
        for t in ids:
            v, i = model(torch.tensor([seq]))[0, -1].topk(5)
            top.append([[int(a), float(b)] for a, b in zip(i, v)])
            seq.append(t)
    return {
        'description': 'Greedy continuation computed in float64 by tools/train/model.py from the BF16 weights of '
                       'hf/model.safetensors. tokens[i] = argmax of the logits after the prompt and tokens[:i]; '
                       'generation does not stop at EOS (id 1), eos_at says where the first one is. '
                       'margins[i] = top-1 minus top-2 logit; route_margins[i] = smallest gap between a chosen and '
                       'a rejected group or expert (biased sigmoid scores) over the tokens processed at step i.',
        'messages': messages,
        'prompt_text': render_chat(messages),
        'prompt': prompt,
        'tokens': ids,
        'text': tok.decode(ids),
        'reply': tok.decode(ids[:eos] if eos is not None else ids),
        'eos_at': eos,
        'margins': margins,
        'route_margins': routes,
        'top5': top,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--ckpt', required=True)
    ap.add_argument('--tokenizer', required=True)
    ap.add_argument('--out', required=True, help='HF folder to write')
    ap.add_argument('--greedy', required=True, help='greedy.json to write')
    ap.add_argument('--heldout', help='also write the held-out books (data.HELD_OUT_BOOKS) as plain text here')
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = torch.load(args.ckpt)
    export_hf(ckpt, args.tokenizer, args.out)
    ref = reference(args.out, GREEDY_MESSAGES, GREEDY_TOKENS)
    with open(args.greedy, 'w') as f:
        # One key per line, each value compact: readable, and diffs stay small.
        f.write('{\n' + ',\n'.join(f' {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}' for k, v in ref.items()) + '\n}\n')
    if args.heldout:
        with open(args.heldout, 'w') as f:
            f.write(held_out_text(load_verses()))
    print(f'prompt {ref["prompt_text"]!r} -> {ref["text"]!r}')
    print(f'smallest logit margin {min(ref["margins"]):.4f}, smallest routing margin {min(ref["route_margins"]):.5f}')


if __name__ == '__main__':
    main()
