// Speculative decoding's kernel (verify k chained drafts, draw the next ones) against the rule in float64
// (shaders/speculative.wgsl's header, docs/speculative.md): greedy exactly; with temperature, each accept
// decision wherever u_a · q_d is not within a margin of p_d, and every draw the CPU's inverse CDF at the
// kernel's uniform, or a neighbour when u · total lies within a margin of a boundary. Chi-square tests over
// many steps with drafts drawn from q check what the rule is for: at depth 2, the step's first token
// distributed as p_0 and its second, when the first draft was accepted, as p_1.
import { createRng, sampleUniform, speculative, SPECULATIVE_CHAIN_WORDS, SPECULATIVE_RESULT, SPECULATIVE_RESULT_WORDS, type KernelContext } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

const SALT_ACCEPT = 0x5bd1e995;
const SALT_RESIDUAL = 0x27d4eb2f;
const SALT_DRAFT = 0x165667b1;
const EXACT = { atol: 0, rtol: 0 };
/** Relative closeness to a boundary (accept test, running sums) at which f32 may fall either way. */
const MARGIN = 1e-5;
/** Rows of the draft logits: at depth 3 the chained drafts read rows k+1 … 2k-1 = 4, 5. */
const DRAFT_ROWS = 7;
const NONE = 0xffffffff;

const u = (seed: number, salt: number, step: number) => sampleUniform((seed ^ salt) >>> 0, step);

function argmaxRef(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

function softmaxRef(l: ArrayLike<number>, t: number): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < l.length; i++) max = Math.max(max, l[i]);
  const e = Float64Array.from(l, (v) => Math.exp((v - max) / t));
  const z = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / z);
}

/** The first index whose running sum of w exceeds u·Σw, and every index rounding may give instead. */
function drawRef(w: Float64Array, uu: number): Set<number> {
  const total = w.reduce((a, b) => a + b, 0);
  const goal = uu * total;
  const ok = new Set<number>();
  let cum = 0;
  let prev = -1;
  let id = -1;
  w.forEach((x, i) => {
    if (x <= 0) return;
    const before = cum;
    cum += x;
    if (id < 0 && cum > goal) id = i;
    // A boundary near the goal: the tokens on both sides of it.
    if (Math.abs(before - goal) < MARGIN * total) {
      ok.add(i);
      if (prev >= 0) ok.add(prev);
    }
    prev = i;
  });
  ok.add(id < 0 ? prev : id);
  return ok;
}

/** A step to verify: main rows 0 … k, the drafts d_1 … d_k and the draft-logits rows they were drawn from. */
interface Trial {
  main: Float32Array;
  draftLogits: Float32Array;
  qRows: number[];
  drafts: number[];
  step: number;
  seed: number;
  /** state[1], state[2]: the call's first position and the hidden row of draft-logits row 0. */
  position: number;
  hiddenOffset: number;
}

interface Got {
  n: number;
  tokens: number[];
  drafts: number[];
  qRows: number[];
  ids: number[];
  chain: number[];
}

const row = (buf: Float32Array, r: number, vocab: number) => buf.subarray(r * vocab, (r + 1) * vocab);

/** What verify may write: each token's allowed values given the earlier ones (null: all allowed). */
function checkVerify(t: Trial, vocab: number, temperature: number, got: Got): string | null {
  const k = t.drafts.length;
  if (got.n < 1 || got.n > k + 1) return `n ${got.n}`;
  if (temperature <= 0) {
    const want: number[] = [];
    for (let j = 0; j <= k; j++) {
      const a = argmaxRef(row(t.main, j, vocab));
      want.push(a);
      if (j === k || a !== t.drafts[j]) break;
    }
    return got.n === want.length && want.every((x, i) => x === got.tokens[i]) ? null : `tokens [${got.tokens.slice(0, got.n)}], want [${want}]`;
  }
  for (let j = 0; j < got.n; j++) {
    const p = softmaxRef(row(t.main, j, vocab), temperature);
    const tok = got.tokens[j];
    if (j === k) {
      if (!drawRef(p, u(t.seed, 0, t.step + k)).has(tok)) return `bonus ${tok} is not the draw`;
      break;
    }
    const d = t.drafts[j];
    const q = softmaxRef(row(t.draftLogits, t.qRows[j], vocab), temperature);
    const lhs = u(t.seed, SALT_ACCEPT, t.step + j) * q[d], rhs = p[d];
    const accepted = j < got.n - 1;
    if (Math.abs(lhs - rhs) > MARGIN * Math.max(lhs, rhs) && accepted !== lhs < rhs) {
      return `draft ${j + 1}: accepted ${accepted}, want ${lhs < rhs} (u·q_d ${lhs}, p_d ${rhs})`;
    }
    if (accepted && tok !== d) return `draft ${j + 1} accepted, but token ${tok} is not it (${d})`;
    if (!accepted) {
      const residual = p.map((x, i) => Math.max(0, x - q[i]));
      const ur = u(t.seed, SALT_RESIDUAL, t.step + j);
      const ok = residual.some((x) => x > MARGIN) ? drawRef(residual, ur) : drawRef(p, ur);
      if (!ok.has(tok)) return `draft ${j + 1} rejected: token ${tok} is not the residual's draw (${[...ok]})`;
    }
  }
  return null;
}

/** What the k draft kernels after verify may write: drafts, their rows, and the chain words. */
function checkDrafts(t: Trial, vocab: number, temperature: number, got: Got): string | null {
  const k = t.drafts.length;
  for (let c = 0; c < k; c++) {
    const r = c === 0 ? got.n - 1 : k + c;
    if (got.qRows[c] !== r) return `draft ${c + 1}'s row ${got.qRows[c]}, want ${r}`;
    const l = row(t.draftLogits, r, vocab);
    const ok = temperature <= 0 ? new Set([argmaxRef(l)]) : drawRef(softmaxRef(l, temperature), u(t.seed, SALT_DRAFT, t.step + got.n + c));
    if (!ok.has(got.drafts[c])) return `draft ${c + 1} ${got.drafts[c]} is not the draw (${[...ok]})`;
  }
  const hidden = got.n - 1 + t.hiddenOffset;
  const chain = [t.position + hidden + k, k > 1 ? 0 : hidden, got.drafts[k - 1]];
  if (chain.some((x, i) => x !== got.chain[i])) return `chain [${got.chain.slice(0, 3)}], want [${chain}]`;
  return null;
}

/** Runs verify then the k draft kernels; returns what they wrote. */
/**
 * One verify step and its drafts' rows; reads the result words, and the ids and chain words unless `reads` is
 * 'result' (then empty: a readback is most of a tiny step's time on a software adapter).
 */
async function runTrial(ctx: KernelContext, io: CaseBuffers, t: Trial, vocab: number, temperature: number, shape: 'row' | 'workgroup',
  reads: 'all' | 'result' = 'all'): Promise<Got> {
  const k = t.drafts.length;
  const R = SPECULATIVE_RESULT;
  const result = new Uint32Array(SPECULATIVE_RESULT_WORDS);
  t.qRows.forEach((r, j) => { result[R.draftRows + j] = r; });
  const bufs = {
    mainLogits: io.input('main', t.main), draftLogits: io.input('draft', t.draftLogits),
    state: io.input('state', new Uint32Array([t.step, t.position, t.hiddenOffset, 0])),
    ids: io.input('ids', new Uint32Array([9, ...t.drafts, 0, 0])),
    result: io.input('result', result), chain: io.input('chain', new Uint32Array(SPECULATIVE_CHAIN_WORDS)),
  };
  const args = { ...bufs, drafts: k, draftRows: DRAFT_ROWS, vocab, temperature, seed: t.seed, shape };
  await io.run(() => [speculative(ctx, { ...args, mode: 'verify' }), ...t.drafts.map((_, c) => speculative(ctx, { ...args, mode: 'draft', draftIndex: c }))]);
  const r = await io.readU32(bufs.result, SPECULATIVE_RESULT_WORDS);
  const ids = reads === 'all' ? await io.readU32(bufs.ids, k + 2) : new Uint32Array(k + 2);
  const chain = reads === 'all' ? await io.readU32(bufs.chain, SPECULATIVE_CHAIN_WORDS) : new Uint32Array(0);
  return {
    n: r[0], tokens: [...r.subarray(R.tokens, R.tokens + k + 1)], drafts: [...r.subarray(R.drafts, R.drafts + k)],
    qRows: [...r.subarray(R.draftRows, R.draftRows + k)], ids: [...ids.subarray(1, k + 2)], chain: [...chain],
  };
}

/** The step's tokens padded with the last, as verify leaves them in ids[1 … k+1]. */
function paddedTokens(got: Got, k: number): number[] {
  return Array.from({ length: k + 1 }, (_, i) => got.tokens[Math.min(i, got.n - 1)]);
}

// Greedy and one sampling temperature: temperature only scales the logits before the same softmax and
// draw, so 1.3 (run until 20 of these cases were dropped) repeated 0.8's path.
const checkCases = grid({ vocab: [1, 7, 1000, 32771], temperature: [0, 0.8], depth: [1, 2, 3], shape: ['row', 'workgroup'] } as const)
  // Depth 2 in one shape: it shares every path with depths 1 and 3.
  .filter((p) => p.depth !== 2 || p.shape === 'row')
  .map((p) => ({
    name: caseName({ mode: 'check', ...p }),
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const { vocab, temperature, depth: k, shape } = p;
      const rng = createRng(vocab * 31 + Math.round(temperature * 10) + 1000 * k);
      const trials = vocab > 10000 ? 6 : 14;
      let failures = 0;
      let firstFailure = '';
      const seen = new Set<number>();
      const io = new CaseBuffers(ctx, `speculative:${caseName(p)}`);
      try {
        for (let trial = 0; trial < trials; trial++) {
          const main = Float32Array.from({ length: (k + 1) * vocab }, () => rng.normal() * 2);
          const draftLogits = Float32Array.from({ length: DRAFT_ROWS * vocab }, () => rng.normal() * 2);
          const qRows = Array.from({ length: k }, (_, j) => (trial + j) % DRAFT_ROWS);
          // Drafts that follow the main model (q ≈ p, the draft its argmax: mostly accepted) or not.
          const follow = trial % 3 !== 2;
          const drafts = qRows.map((qr, j) => {
            const m = row(main, j, vocab);
            if (follow) m.forEach((x, i) => { draftLogits[qr * vocab + i] = x + rng.normal() * 0.05; });
            return follow || trial % 2 === 0 ? argmaxRef(m) : rng.int(vocab);
          });
          if (trial % 4 === 3 && vocab > 1) {
            // A draft the module is sure of and the main model is not: rejected (almost) surely.
            const j = trial % k, d = argmaxRef(row(main, j, vocab).map((x) => -x));
            drafts[j] = d;
            draftLogits[qRows[j] * vocab + d] = 30;
          }
          const t: Trial = { main, draftLogits, qRows, drafts, step: 100 + 7 * trial, seed: (0xabc123 * (trial + 1)) >>> 0, position: 40 + trial, hiddenOffset: trial % 3 };
          const got = await runTrial(ctx, io, t, vocab, temperature, shape);
          let why = checkVerify(t, vocab, temperature, got) ?? checkDrafts(t, vocab, temperature, got);
          if (!why && paddedTokens(got, k).some((x, i) => x !== got.ids[i])) why = `ids [${got.ids}] are not the tokens padded`;
          if (why) {
            failures++;
            firstFailure ||= `trial ${trial}: ${why}`;
          }
          seen.add(got.n);
        }
        if (firstFailure) console.log(`  speculative ${caseName(p)}: ${firstFailure}`);
        // A rejection and a step that accepted every draft both ran (a vocabulary of one accepts every draft).
        const paths = vocab === 1 ? seen.size === 1 && seen.has(k + 1) : seen.has(k + 1) && [...seen].some((n) => n <= k);
        return { trials_against_float64: compare([failures], [0], EXACT), reject_and_accept_all_seen: compare([Number(paths)], [1], EXACT) };
      } finally {
        io.destroy();
      }
    },
  }));

// A NaN or +inf in any main row 0 … k: verify draws nothing (n 1, token NONE) and leaves ids 0 for the rows
// that follow; -inf alone is usable. Greedy and sampled alike.
const unusableCases = grid({ vocab: [7, 1000], bad: ['nan-row0', 'inf-last-row', 'neginf-only'], temperature: [0, 0.8], depth: [1, 3] } as const).map((p) => ({
  name: caseName({ mode: 'unusable', ...p }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { vocab, bad, temperature, depth: k } = p;
    const rng = createRng(vocab + bad.length * 7 + temperature * 10 + k);
    const io = new CaseBuffers(ctx, `speculative:${caseName(p)}`);
    try {
      const main = Float32Array.from({ length: (k + 1) * vocab }, () => rng.normal() * 2);
      const at = rng.int(vocab);
      if (bad === 'nan-row0') main[at] = NaN;
      else if (bad === 'inf-last-row') main[k * vocab + at] = Infinity;
      else main[(at + 1) % vocab] = -Infinity;
      const draftLogits = Float32Array.from({ length: DRAFT_ROWS * vocab }, () => rng.normal());
      const drafts = Array.from({ length: k }, (_, j) => argmaxRef(row(main, j, vocab)));
      const t: Trial = { main, draftLogits, qRows: drafts.map((_, j) => j), drafts, step: 5, seed: 77, position: 3, hiddenOffset: 0 };
      const got = await runTrial(ctx, io, t, vocab, temperature, 'workgroup');
      if (bad === 'neginf-only') {
        const why = checkVerify(t, vocab, temperature, got);
        if (why) console.log(`  speculative ${caseName(p)}: ${why}`);
        return { drawn_as_usual: compare([Number(why === null)], [1], EXACT) };
      }
      return { tokens: compare([got.n, got.tokens[0], ...got.ids], [1, NONE, ...new Array<number>(k + 1).fill(0)], EXACT) };
    } finally {
      io.destroy();
    }
  },
}));

/** Pearson's chi-square of `counts` against probabilities `target` (expected counts below 5 pooled), and its df. */
function chiSquare(counts: Float64Array, target: Float64Array, draws: number): { chi2: number; df: number } {
  let chi2 = 0, bins = 0, poolE = 0, poolO = 0;
  target.forEach((pr, i) => {
    const e = pr * draws;
    if (e < 5) {
      poolE += e;
      poolO += counts[i];
    } else {
      chi2 += (counts[i] - e) ** 2 / e;
      bins++;
    }
  });
  if (poolE > 0) {
    chi2 += (poolO - poolE) ** 2 / Math.max(poolE, 1);
    bins++;
  }
  return { chi2, df: Math.max(1, bins - 1) };
}

/** A draw from probabilities `q` with the test's own RNG (not the kernel's uniforms). */
function drawCpu(q: Float64Array, x: number): number {
  let i = 0;
  while (i < q.length - 1 && (x -= q[i]) >= 0) i++;
  return i;
}

/**
 * Depth 2 over many steps, drafts d_1 ~ q_1 and d_2 ~ q_2 drawn on the CPU, main rows fixed (a model whose
 * next-token distribution does not depend on the token before): the first token is distributed as p_0, and
 * the second, in the steps that accepted d_1, as p_1; each within 6 sd of the chi-square's mean.
 */
// One vocabulary (1500 steps of one dispatch and readback each): 7, the other one run before, took the same path.
const distributionCases = grid({ vocab: [40], temperature: [0.8] } as const).map((p) => ({
  name: caseName({ mode: 'distribution', depth: 2, ...p }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { vocab, temperature } = p;
    const rng = createRng(4242 + vocab);
    const steps = 1500;
    const main = Float32Array.from({ length: 3 * vocab }, () => rng.normal() * 1.5);
    const draftLogits = Float32Array.from({ length: DRAFT_ROWS * vocab }, (_, i) => main[i % (3 * vocab)] * 0.5 + rng.normal());
    const q = [0, 1].map((j) => softmaxRef(row(draftLogits, j, vocab), temperature));
    const counts = [new Float64Array(vocab), new Float64Array(vocab)];
    let second = 0;
    const io = new CaseBuffers(ctx, `speculative:${caseName(p)}`);
    try {
      for (let s = 0; s < steps; s++) {
        const drafts = q.map((qj) => drawCpu(qj, rng.next()));
        // Only the tokens are counted here (the check cases read every word).
        const got = await runTrial(ctx, io, { main, draftLogits, qRows: [0, 1], drafts, step: 3 * s, seed: 77, position: 0, hiddenOffset: 0 }, vocab, temperature, 'row', 'result');
        counts[0][got.tokens[0]]++;
        if (got.n >= 2) {
          counts[1][got.tokens[1]]++;
          second++;
        }
      }
    } finally {
      io.destroy();
    }
    const out: Record<string, Comparison> = {};
    [steps, second].forEach((draws, j) => {
      const { chi2, df } = chiSquare(counts[j], softmaxRef(row(main, j, vocab), temperature), draws);
      console.log(`  speculative distribution vocab=${vocab} token ${j}: chi2 ${chi2.toFixed(1)} on ${df} df over ${draws}`);
      out[`chi_square_token${j}`] = compare([chi2], [0], { atol: df + 6 * Math.sqrt(2 * df), rtol: 0 });
    });
    return out;
  },
}));

export const speculativeFamily: KernelFamily = { cases: () => [...checkCases, ...unusableCases, ...distributionCases] };
