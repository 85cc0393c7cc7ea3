"""Trains the tiny DeepSeek-V3 (model.py) on the KJV documents (data.py) with the trained tokenizer.

  nohup nice -n 19 /usr/bin/python3 tools/train/train.py --tokenizer WORK/tok --work WORK > WORK/train.out 2>&1 &

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
from data import documents, load_verses  # noqa: E402
from model import TINY_CONFIG, DeepseekV3, count_params, greedy  # noqa: E402
from tokenizer import Tokenizer, render_chat  # noqa: E402

SAMPLE_PROMPTS = ['Tell me about light.', 'John 3:16', 'And God said,']


def load_docs(tok, work, seed):
    path = os.path.join(work, 'docs.pt')
    if os.path.exists(path):
        return torch.load(path)
    docs = [torch.tensor(tok.encode(d), dtype=torch.int16) for d in documents(load_verses(), seed)]
    torch.save(docs, path)
    return docs


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


def loss_fn(model, batch, bos):
    logits = model(batch[:, :-1])
    target = batch[:, 1:].clone()
    target[target == bos] = -100  # the next document's BOS is not predictable from this one
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=-100)


@torch.no_grad()
def evaluate(model, val_rows, bos):
    model.eval()
    loss = float(loss_fn(model, val_rows, bos))
    model.train()
    return loss


def samples(model, tok, n=40):
    model.eval()
    out = {}
    for p in SAMPLE_PROMPTS:
        ids, _, _ = greedy(model, tok.encode(render_chat([{'role': 'user', 'content': p}])), n)
        eos = ids.index(1) if 1 in ids else len(ids)
        out[p] = tok.decode(ids[:eos])
    model.train()
    return out


def update_bias(model, rate):
    """DeepSeek-V3's auxiliary-loss-free balancing: after each step, raise the selection bias of the
    experts that got fewer tokens than the mean and lower it for those that got more."""
    imbalance = 0.0
    for moe in model.moe_layers():
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
    docs = load_docs(tok, args.work, args.seed)
    n_val = len(docs) // 100
    val_docs, train_docs = docs[:n_val], docs[n_val:]
    val_rows = Rows(val_docs, args.seq, 0).batch(32)
    rows = Rows(train_docs, args.seq, args.seed)
    total_tokens = sum(len(d) for d in train_docs)
    print(f'{len(train_docs)} training documents, {total_tokens} tokens; {n_val} held out '
          f'(data ready in {time.time() - t0:.0f}s)', flush=True)

    model = DeepseekV3(config)
    model.init_weights(args.seed)
    total, active = count_params(model)
    print(f'parameters: {total} total, {active} active per token', flush=True)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
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
            loss = loss_fn(model, batch, bos=0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0))
            opt.step()
            with torch.no_grad():
                imbalance = update_bias(model, args.bias_rate)
            step += 1
            tokens_seen += batch[:, 1:].numel()
            window.append(float(loss))
            if step % 10 == 0:
                now = time.time()
                rec = {'step': step, 'loss': sum(window) / len(window), 'lr': lr, 'grad_norm': grad_norm,
                       'max_load_over_mean': imbalance, 'tokens': tokens_seen, 'epoch': rows.epoch,
                       'tok_per_s': len(window) * batch[:, 1:].numel() / (now - window_t),
                       'elapsed_s': elapsed_before + now - start}
                window, window_t = [], now
                if step % args.ckpt_every == 0:
                    rec['val_loss'] = evaluate(model, val_rows, 0)
                    rec['samples'] = samples(model, tok)
                    save()
                log.write(json.dumps(rec) + '\n')
                log.flush()
                print(json.dumps(rec), flush=True)
        rec = {'step': step, 'final': True, 'val_loss': evaluate(model, val_rows, 0), 'samples': samples(model, tok),
               'tokens': tokens_seen, 'epoch': rows.epoch, 'elapsed_s': elapsed_before + time.time() - start}
        save()
        log.write(json.dumps(rec) + '\n')
        print(json.dumps(rec), flush=True)


if __name__ == '__main__':
    main()
