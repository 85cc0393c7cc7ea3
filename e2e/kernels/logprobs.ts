// The logprobs kernel against float64: log-softmax of the raw logits for the sampled id, and the top
// alternatives in order (logit descending, lower id first among equals), ids past the vocabulary absent.
import { createRng, logprobs, logprobsWords, type KernelContext } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

const EXACT = { atol: 0, rtol: 0 };
// One f32 sum of up to 129280 exponentials and a log: a few ulps of the log-sum-exp.
const LOGPROB_TOL = { atol: 3e-5, rtol: 2e-6 };

export const logprobsCases = grid({ vocab: [1, 7, 1000, 129280], top: [0, 5, 20], shape: ['row', 'workgroup'] } as const)
  .filter((p) => (p.shape === 'row' || p.vocab === 1000) && !(p.vocab === 129280 && p.top === 0))
  .map((p) => ({
    name: caseName({ mode: 'logprobs', ...p }),
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const { vocab, top, shape } = p;
      const rng = createRng(vocab * 31 + top);
      const io = new CaseBuffers(ctx, `logprobs:${caseName(p)}`);
      try {
        const logits = rng.uniform(vocab, -6, 6);
        // Ties across the ranks, and a very unlikely entry.
        if (vocab >= 7) {
          logits[5] = logits[2];
          logits[vocab - 1] = -80;
        }
        const chosen = Math.floor(vocab / 2);
        const bufs = { logits: io.input('logits', logits), ids: io.input('ids', new Uint32Array([9, chosen])), out: io.output('out', logprobsWords(top)) };
        await io.run(() => [logprobs(ctx, { ...bufs, vocab, top, idIndex: 1, shape })]);
        const words = await io.readU32(bufs.out, logprobsWords(top));
        const vals = new Float32Array(words.buffer, words.byteOffset, words.length);

        let max = -Infinity;
        for (const l of logits) max = Math.max(max, l);
        let z = 0;
        for (const l of logits) z += Math.exp(l - max);
        const lse = max + Math.log(z);
        const order = Array.from({ length: vocab }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
        const ranks = Math.min(top, vocab);
        const gotIds = [words[0], ...Array.from({ length: top }, (_, r) => words[2 + 2 * r])];
        const wantIds = [chosen, ...Array.from({ length: top }, (_, r) => (r < ranks ? order[r] : 0xffffffff))];
        const gotLp = [vals[1], ...Array.from({ length: ranks }, (_, r) => vals[3 + 2 * r])];
        const wantLp = [logits[chosen] - lse, ...order.slice(0, ranks).map((i) => logits[i] - lse)];
        return { ids: compare(gotIds, wantIds, EXACT), logprobs: compare(gotLp, wantLp, LOGPROB_TOL) };
      } finally {
        io.destroy();
      }
    },
  }));
