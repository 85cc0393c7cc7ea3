"""Trains the tiny DeepSeek-V3 (model.py) on the KJV documents (data.py) with the trained tokenizer.

  nohup nice -n 19 /usr/bin/python3 tools/train/train.py --tokenizer WORK/tok --work WORK > WORK/train.out 2>&1 &

With an MTP module (config num_nextn_predict_layers 1) the loss is main + λ · MTP loss, as in DeepSeek-V3's
recipe: λ = 0.3 for the first --mtp-switch of progress, then 0.1.

--init HF_DIR starts the main model from an exported one (an MTP module, if the config has one, starts
fresh); with --freeze-main only the MTP module trains (its loss alone; the main model's weights, routing
biases, embedding and head stay as they were), which is how the demo's MTP module was trained on a busy
machine (README).

The learning-rate schedule runs on progress = max(step / max_steps, elapsed / budget), so a run ends
inside its wall-clock budget however busy the shared CPU is (warmup, then cosine to 10 %).
Checkpoints (WORK/ckpt.pt) every --ckpt-every steps and at the end; --resume continues one.
"""
import argparse
import json
import math
import os
import random
import sys
import time

# One thread: on this shared 2-core machine, two OpenMP threads at nice 19 ran 10x slower than one
# (each waits at every barrier for the other to be scheduled).
for var in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
    os.environ.setdefault(var, '1')

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.dont_write_bytecode = True  # no __pycache__ in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from data import HELD_OUT_BOOKS, documents, load_verses  # noqa: E402
from check_golden import load_hf  # noqa: E402
from model import TINY_CONFIG, DeepseekV3, MoE, count_params, greedy  # noqa: E402
from tokenizer import Tokenizer, render_chat  # noqa: E402

SAMPLE_PROMPTS = ['Tell me about light.', 'John 3:16', 'And God said,']


def load_docs(tok, work, seed):
    """(training documents, documents of the held-out books), token ids."""
    path = os.path.join(work, 'docs.pt')
    if os.path.exists(path):
        docs = torch.load(path)
    else:
        docs = [(book, torch.tensor(tok.encode(d), dtype=torch.int16)) for book, d in documents(load_verses(), seed)]
        torch.save(docs, path)
    return [d for b, d in docs if b not in HELD_OUT_BOOKS], [d for b, d in docs if b in HELD_OUT_BOOKS]


class Rows:
    """Rows of seq+1 tokens, each starting at a document start (so BOS sits at position 0 as in chat
    use), filled with the following documents of a shuffled order; a row's last document is cut."""

    def __init__(self, docs, seq, seed):
        self.docs, self.seq = docs, seq
        self.rng = random.Random(seed)
        self.order, self.pos, self.epoch = [], 0, 0

    def next_row(self):
        row, n = [], 0
        while n < self.seq + 1:
            if self.pos >= len(self.order):
                self.order = list(range(len(self.docs)))
                self.rng.shuffle(self.order)
                self.pos = 0
                self.epoch += 1
            d = self.docs[self.order[self.pos]]
            self.pos += 1
            row.append(d)
            n += len(d)
        return torch.cat(row)[:self.seq + 1].long()

    def batch(self, b):
        return torch.stack([self.next_row() for _ in range(b)])

    def state(self):
        return {'rng': self.rng.getstate(), 'order': self.order, 'pos': self.pos, 'epoch': self.epoch}

    def load(self, s):
        self.rng.setstate(s['rng'])
        self.order, self.pos, self.epoch = s['order'], s['pos'], s['epoch']


def cross_entropy(logits, target, bos):
    target = target.clone()
    target[target == bos] = -100  # the next document's BOS is not predictable from this one
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


def loss_fn(model, batch, bos, frozen_main=False):
    """(main loss, MTP loss or None, MTP top-1 accuracy or None) on rows of seq + 1 tokens. The MTP module
    reads h_i and t_{i+1} for i < seq - 1 and predicts t_{i+2}. frozen_main: the main model runs without
    gradients."""
    with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen_main):
        h = model.hidden(batch[:, :-1])
        main = cross_entropy(model.head(h), batch[:, 1:], bos)
    if not model.mtp_modules():
        return main, None, None
    logits = model.mtp_logits(h[:, :-1], batch[:, 1:-1])
    target = batch[:, 2:]
    keep = target != bos
    acc = float((logits.argmax(-1) == target)[keep].float().mean())
    return main, cross_entropy(logits, target, bos), acc


@torch.no_grad()
def evaluate(model, rows, bos):
    model.eval()
    main, mtp, acc = loss_fn(model, rows, bos)
    model.train()
    return {'loss': float(main), 'mtp_loss': None if mtp is None else float(mtp), 'mtp_acc': acc}


def samples(model, tok, n=40):
    model.eval()
    out = {}
    for p in SAMPLE_PROMPTS:
        ids, _, _ = greedy(model, tok.encode(render_chat([{'role': 'user', 'content': p}])), n)
        eos = ids.index(1) if 1 in ids else len(ids)
        out[p] = tok.decode(ids[:eos])
    model.train()
    return out


def update_bias(model, rate, frozen_main=False):
    """DeepSeek-V3's auxiliary-loss-free balancing: after each step, raise the selection bias of the
    experts that got fewer tokens than the mean and lower it for those that got more."""
    imbalance = 0.0
    layers = [l.mlp for l in model.mtp_modules() if isinstance(l.mlp, MoE)] if frozen_main else model.moe_layers(mtp=True)
    for moe in layers:
        load = moe.last_load.float()
        moe.gate.e_score_correction_bias += rate * torch.sign(load.mean() - load)
        imbalance = max(imbalance, float(load.max() / load.mean()))
    return imbalance


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--tokenizer', required=True, help='folder with tokenizer.json')
    ap.add_argument('--work', required=True, help='folder for docs.pt, ckpt.pt, log.jsonl')
    ap.add_argument('--minutes', type=float, default=30.0, help='wall-clock budget of this run')
    ap.add_argument('--max-steps', type=int, default=3000)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--seq', type=int, default=128)
    ap.add_argument('--lr', type=float, default=3e-3)
    ap.add_argument('--warmup', type=int, default=30)
    ap.add_argument('--weight-decay', type=float, default=0.1)
    ap.add_argument('--bias-rate', type=float, default=0.005, help='correction-bias update speed (V3: 0.001 over far more steps)')
    ap.add_argument('--mtp-weight', type=float, nargs=2, default=[0.3, 0.1], help='MTP loss weight before and after --mtp-switch')
    ap.add_argument('--mtp-switch', type=float, default=2 / 3, help='progress at which the MTP weight drops (V3: 10T of 14.8T tokens)')
    ap.add_argument('--init', help='HF folder whose main-model weights to start from (see above)')
    ap.add_argument('--freeze-main', action='store_true', help='train only the MTP module (needs --init)')
    ap.add_argument('--ckpt-every', type=int, default=100)
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--resume', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(args.work, exist_ok=True)
    log_path, ckpt_path = os.path.join(args.work, 'log.jsonl'), os.path.join(args.work, 'ckpt.pt')

    t0 = time.time()
    tok = Tokenizer.load(os.path.join(args.tokenizer, 'tokenizer.json'))
    config = dict(TINY_CONFIG, vocab_size=len(tok.vocab))
    docs, book_docs = load_docs(tok, args.work, args.seed)
    n_val = len(docs) // 100
    val_docs, train_docs = docs[:n_val], docs[n_val:]
    # Two held-out sets: 1 % of the documents (their verses also appear in other training documents, as chat or
    # passage) and the documents of the held-out books (text never trained on).
    val_rows = Rows(val_docs, args.seq, 0).batch(32)
    book_rows = Rows(book_docs, args.seq, 0).batch(48)
    rows = Rows(train_docs, args.seq, args.seed)
    total_tokens = sum(len(d) for d in train_docs)
    print(f'{len(train_docs)} training documents, {total_tokens} tokens; {n_val} held out, and {len(book_docs)} '
          f'documents ({sum(len(d) for d in book_docs)} tokens) of {", ".join(HELD_OUT_BOOKS)} '
          f'(data ready in {time.time() - t0:.0f}s)', flush=True)

    if args.freeze_main and not (args.init and config['num_nextn_predict_layers']):
        raise SystemExit('--freeze-main needs --init and an MTP module to train')
    model = DeepseekV3(config)
    model.init_weights(args.seed)
    if args.init:
        init, init_config = load_hf(args.init, torch.float32)
        if {k: v for k, v in init_config.items() if k != 'num_nextn_predict_layers'} != {k: v for k, v in config.items() if k != 'num_nextn_predict_layers'}:
            raise SystemExit(f'{args.init}: config.json differs from the one this run trains')
        missing, unexpected = model.load_state_dict(init.state_dict(), strict=False)
        if unexpected or any(not k.startswith(f'model.layers.{config["num_hidden_layers"]}.') for k in missing):
            raise SystemExit(f'{args.init}: unexpected {unexpected}, missing {missing}')
        print(f'main model from {args.init}', flush=True)
    if args.freeze_main:
        mtp_params = {id(p) for p in model.mtp_modules().parameters()}
        for p in model.parameters():
            p.requires_grad_(id(p) in mtp_params)
    total, active = count_params(model)
    print(f'parameters: {total} total, {active} active per token', flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and p.requires_grad]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2 and p.requires_grad]
    opt = torch.optim.AdamW([{'params': decay, 'weight_decay': args.weight_decay},
                             {'params': no_decay, 'weight_decay': 0.0}], lr=args.lr, betas=(0.9, 0.95))
    step, elapsed_before, tokens_seen = 0, 0.0, 0
    if args.resume and os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path)
        model.load_state_dict(ck['model'])
        opt.load_state_dict(ck['opt'])
        rows.load(ck['rows'])
        step, elapsed_before, tokens_seen = ck['step'], ck['elapsed'], ck['tokens']
        print(f'resumed at step {step}', flush=True)

    def save():
        torch.save({'config': config, 'model': model.state_dict(), 'opt': opt.state_dict(), 'rows': rows.state(),
                    'step': step, 'elapsed': elapsed_before + time.time() - start, 'tokens': tokens_seen}, ckpt_path + '.tmp')
        os.replace(ckpt_path + '.tmp', ckpt_path)

    budget = args.minutes * 60
    start = time.time()
    window, window_t = [], time.time()
    with open(log_path, 'a') as log:
        while True:
            elapsed = elapsed_before + time.time() - start
            progress = max(step / args.max_steps, elapsed / budget)
            if progress >= 1:
                break
            lr = args.lr * min(1.0, (step + 1) / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
            for g in opt.param_groups:
                g['lr'] = lr
            batch = rows.batch(args.batch)
            main_loss, mtp_loss, mtp_acc = loss_fn(model, batch, bos=0, frozen_main=args.freeze_main)
            mtp_weight = args.mtp_weight[0] if progress < args.mtp_switch else args.mtp_weight[1]
            loss = main_loss if mtp_loss is None else mtp_loss if args.freeze_main else main_loss + mtp_weight * mtp_loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0))
            opt.step()
            with torch.no_grad():
                imbalance = update_bias(model, args.bias_rate, args.freeze_main)
            step += 1
            tokens_seen += batch[:, 1:].numel()
            window.append((float(main_loss), float(mtp_loss) if mtp_loss is not None else 0.0, mtp_acc or 0.0))
            if step % 10 == 0:
                now = time.time()
                mean = [sum(w[k] for w in window) / len(window) for k in range(3)]
                rec = {'step': step, 'loss': mean[0], 'mtp_loss': mean[1], 'mtp_acc': mean[2], 'mtp_weight': mtp_weight,
                       'lr': lr, 'grad_norm': grad_norm,
                       'max_load_over_mean': imbalance, 'tokens': tokens_seen, 'epoch': rows.epoch,
                       'tok_per_s': len(window) * batch[:, 1:].numel() / (now - window_t),
                       'elapsed_s': elapsed_before + now - start}
                window, window_t = [], now
                if step % args.ckpt_every == 0:
                    rec['val'] = evaluate(model, val_rows, 0)
                    rec['held_out_books'] = evaluate(model, book_rows, 0)
                    rec['samples'] = samples(model, tok)
                    save()
                log.write(json.dumps(rec) + '\n')
                log.flush()
                print(json.dumps(rec), flush=True)
        rec = {'step': step, 'final': True, 'val': evaluate(model, val_rows, 0),
               'held_out_books': evaluate(model, book_rows, 0), 'samples': samples(model, tok),
               'tokens': tokens_seen, 'epoch': rows.epoch, 'elapsed_s': elapsed_before + time.time() - start}
        save()
        log.write(json.dumps(rec) + '\n')
        print(json.dumps(rec), flush=True)


if __name__ == '__main__':
    main()
