// Speculative decoding's kernel (verify a draft, draw the next one) against the rule in float64
// (shaders/speculative.wgsl's header, docs/speculative.md): greedy exactly; with temperature, the accept
// decision wherever u_a · q_d is not within a margin of p_d, and every draw the CPU's inverse CDF at the
// kernel's uniform, or a neighbour when u · total lies within a margin of a boundary. A chi-square test
// over many steps with drafts drawn from q checks what the rule is for: tokens distributed as p.
import { createRng, sampleUniform, speculative, SPECULATIVE_RESULT_WORDS, type KernelContext } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

const SALT_ACCEPT = 0x5bd1e995;
const SALT_RESIDUAL = 0x27d4eb2f;
const SALT_DRAFT = 0x165667b1;
const EXACT = { atol: 0, rtol: 0 };
/** Relative closeness to a boundary (accept test, running sums) at which f32 may fall either way. */
const MARGIN = 1e-5;
const DRAFT_ROWS = 3;

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

interface Trial {
  main: Float32Array;
  draftLogits: Float32Array;
  draftRow: number;
  draft: number;
  step: number;
  seed: number;
}

/** What the kernels may write for a trial: each token's allowed values (given the earlier ones). */
function checkTrial(t: Trial, vocab: number, temperature: number, got: { n: number; tok0: number; tok1: number; draft: number }): string | null {
  const row = (buf: Float32Array, r: number) => buf.subarray(r * vocab, (r + 1) * vocab);
  const main0 = row(t.main, 0), main1 = row(t.main, 1), q = row(t.draftLogits, t.draftRow);
  if (temperature <= 0) {
    const a = argmaxRef(main0);
    const accept = a === t.draft;
    const want = { n: accept ? 2 : 1, tok0: a, tok1: accept ? argmaxRef(main1) : a };
    const draft = argmaxRef(row(t.draftLogits, want.n - 1));
    if (got.n !== want.n || got.tok0 !== want.tok0 || got.tok1 !== want.tok1 || got.draft !== draft) {
      return `got ${JSON.stringify(got)}, want ${JSON.stringify({ ...want, draft })}`;
    }
    return null;
  }
  const p = softmaxRef(main0, temperature), qp = softmaxRef(q, temperature);
  const lhs = u(t.seed, SALT_ACCEPT, t.step) * qp[t.draft], rhs = p[t.draft];
  const accept = lhs < rhs;
  const sure = Math.abs(lhs - rhs) > MARGIN * Math.max(lhs, rhs);
  if (sure && (got.n === 2) !== accept) return `accept ${got.n === 2}, want ${accept} (u·q_d ${lhs}, p_d ${rhs})`;
  if (got.n === 2) {
    if (got.tok0 !== t.draft) return `accepted, but tok0 ${got.tok0} is not the draft ${t.draft}`;
    if (!drawRef(softmaxRef(main1, temperature), u(t.seed, 0, t.step + 1)).has(got.tok1)) return `tok1 ${got.tok1} is not the draw`;
  } else {
    const residual = p.map((x, i) => Math.max(0, x - qp[i]));
    const ur = u(t.seed, SALT_RESIDUAL, t.step);
    const ok = residual.some((x) => x > MARGIN) ? drawRef(residual, ur) : drawRef(p, ur);
    if (!ok.has(got.tok0) || got.tok1 !== got.tok0) return `rejected: tok0 ${got.tok0} is not the residual's draw (${[...ok]}), tok1 ${got.tok1}`;
  }
  const draftRow = row(t.draftLogits, got.n - 1);
  if (!drawRef(softmaxRef(draftRow, temperature), u(t.seed, SALT_DRAFT, t.step + got.n)).has(got.draft)) return `draft ${got.draft} is not the draw`;
  return null;
}

/** Runs verify then draft for a trial; returns what they wrote, and ids[1], ids[2]. */
async function runTrial(ctx: KernelContext, io: CaseBuffers, t: Trial, vocab: number, temperature: number, shape: 'row' | 'workgroup') {
  const bufs = {
    mainLogits: io.input('main', t.main), draftLogits: io.input('draft', t.draftLogits),
    state: io.input('state', new Uint32Array([t.step, 0, 0, 0])), ids: io.input('ids', new Uint32Array([9, t.draft, 0, 0])),
    result: io.input('result', new Uint32Array([0, 0, 0, 0, t.draftRow, 0, 0, 0])),
  };
  const args = { ...bufs, draftRows: DRAFT_ROWS, vocab, temperature, seed: t.seed, shape };
  await io.run(() => [speculative(ctx, { ...args, mode: 'verify' }), speculative(ctx, { ...args, mode: 'draft' })]);
  const r = await io.readU32(bufs.result, SPECULATIVE_RESULT_WORDS);
  const ids = await io.readU32(bufs.ids, 3);
  return { got: { n: r[0], tok0: r[1], tok1: r[2], draft: r[3] }, row: r[4], ids: [ids[1], ids[2]] };
}

const checkCases = grid({ vocab: [1, 7, 1000, 32771], temperature: [0, 0.8, 1.3], shape: ['row', 'workgroup'] } as const).map((p) => ({
  name: caseName({ mode: 'check', ...p }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { vocab, temperature, shape } = p;
    const rng = createRng(vocab * 31 + Math.round(temperature * 10));
    const trials = vocab > 10000 ? 6 : 16;
    let failures = 0;
    let accepted = 0;
    let firstFailure = '';
    const io = new CaseBuffers(ctx, `speculative:${caseName(p)}`);
    try {
      for (let k = 0; k < trials; k++) {
        const main = Float32Array.from({ length: 2 * vocab }, () => rng.normal() * 2);
        // Drafts that follow the main model (mostly accepted: q ≈ p, the draft its argmax) or not.
        const follow = k % 3 !== 2;
        const draftLogits = Float32Array.from({ length: DRAFT_ROWS * vocab }, (_, i) => (follow ? main[i % vocab] : 0) + rng.normal() * (follow ? 0.05 : 2));
        const draftRow = k % DRAFT_ROWS;
        let draft = k % 2 === 0 ? argmaxRef(main.subarray(0, vocab)) : Math.floor(rng.next() * vocab);
        if (k % 4 === 3 && vocab > 1) {
          // A draft the module is sure of and the main model is not: rejected (almost) surely.
          draft = argmaxRef(main.subarray(0, vocab).map((x) => -x));
          draftLogits[draftRow * vocab + draft] = 30;
        }
        const t: Trial = { main, draftLogits, draftRow, draft, step: 100 + 7 * k, seed: (0xabc123 * (k + 1)) >>> 0 };
        const r = await runTrial(ctx, io, t, vocab, temperature, shape);
        let why = checkTrial(t, vocab, temperature, r.got);
        if (!why && (r.ids[0] !== r.got.tok0 || r.ids[1] !== r.got.tok1)) why = `ids [${r.ids}] are not the tokens`;
        if (!why && r.row !== r.got.n - 1) why = `draft row ${r.row}, want ${r.got.n - 1}`;
        if (why) {
          failures++;
          firstFailure ||= `trial ${k}: ${why}`;
        }
        if (r.got.n === 2) accepted++;
      }
      if (firstFailure) console.log(`  speculative ${caseName(p)}: ${firstFailure}`);
      // Both paths ran (a vocabulary of one accepts every draft).
      const bothPaths = vocab === 1 ? accepted === trials : accepted > 0 && accepted < trials;
      return { trials_against_float64: compare([failures], [0], EXACT), accept_and_reject_seen: compare([Number(bothPaths)], [1], EXACT) };
    } finally {
      io.destroy();
    }
  },
}));

// A NaN or +inf in either main row: verify draws nothing ([1, NONE, NONE]) and leaves ids 0 for the rows
// that follow; -inf alone is usable. Greedy and sampled alike.
const NONE = 0xffffffff;
const unusableCases = grid({ vocab: [7, 1000], bad: ['nan-row0', 'inf-row1', 'neginf-only'], temperature: [0, 0.8] } as const).map((p) => ({
  name: caseName({ mode: 'unusable', ...p }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { vocab, bad, temperature } = p;
    const rng = createRng(vocab + bad.length * 7 + temperature * 10);
    const io = new CaseBuffers(ctx, `speculative:${caseName(p)}`);
    try {
      const main = Float32Array.from({ length: 2 * vocab }, () => rng.normal() * 2);
      const at = rng.int(vocab);
      if (bad === 'nan-row0') main[at] = NaN;
      else if (bad === 'inf-row1') main[vocab + at] = Infinity;
      else main[(at + 1) % vocab] = -Infinity;
      const draftLogits = Float32Array.from({ length: DRAFT_ROWS * vocab }, () => rng.normal());
      const t: Trial = { main, draftLogits, draftRow: 0, draft: argmaxRef(main.subarray(0, vocab)), step: 5, seed: 77 };
      const r = await runTrial(ctx, io, t, vocab, temperature, 'workgroup');
      if (bad === 'neginf-only') {
        const why = checkTrial(t, vocab, temperature, r.got);
        if (why) console.log(`  speculative ${caseName(p)}: ${why}`);
        return { drawn_as_usual: compare([Number(why === null)], [1], EXACT) };
      }
      return { tokens: compare([r.got.n, r.got.tok0, r.got.tok1, r.ids[0], r.ids[1]], [1, NONE, NONE, 0, 0], EXACT) };
    } finally {
      io.destroy();
    }
  },
}));

/**
 * Over many steps with drafts drawn from q on the CPU, the step's first token is distributed as p whatever
 * q is: Pearson's chi-square against p (expected counts below 5 pooled) within 6 sd of its mean.
 */
const distributionCases = grid({ vocab: [7, 40], temperature: [0.8] } as const).map((p) => ({
  name: caseName({ mode: 'distribution', ...p }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { vocab, temperature } = p;
    const rng = createRng(4242 + vocab);
    const steps = 1500;
    const main = Float32Array.from({ length: 2 * vocab }, () => rng.normal() * 1.5);
    const draftLogits = Float32Array.from({ length: DRAFT_ROWS * vocab }, (_, i) => main[i % vocab] * 0.5 + rng.normal());
    const target = softmaxRef(main.subarray(0, vocab), temperature);
    const q = softmaxRef(draftLogits.subarray(0, vocab), temperature);
    const counts = new Float64Array(vocab);
    const io = new CaseBuffers(ctx, `speculative:${caseName(p)}`);
    try {
      for (let s = 0; s < steps; s++) {
        // The draft ~ q, from an RNG the kernel does not share.
        let x = rng.next(), draft = 0;
        while (draft < vocab - 1 && (x -= q[draft]) >= 0) draft++;
        const r = await runTrial(ctx, io, { main, draftLogits, draftRow: 0, draft, step: s, seed: 77 }, vocab, temperature, 'row');
        counts[r.got.tok0]++;
      }
    } finally {
      io.destroy();
    }
    let chi2 = 0, bins = 0, poolE = 0, poolO = 0;
    target.forEach((pr, i) => {
      const e = pr * steps;
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
    const df = Math.max(1, bins - 1);
    console.log(`  speculative distribution vocab=${vocab}: chi2 ${chi2.toFixed(1)} on ${df} df`);
    return { chi_square: compare([chi2], [0], { atol: df + 6 * Math.sqrt(2 * df), rtol: 0 }) };
  },
}));

export const speculativeFamily: KernelFamily = { cases: () => [...checkCases, ...unusableCases, ...distributionCases] };
