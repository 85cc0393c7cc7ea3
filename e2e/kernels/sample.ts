// GPU sampling against a float64 CPU sampler with the same semantics: greedy exactly; for temperature,
// top-k and top-p every draw inside the allowed set, the draw for each (seed, step) equal to the CPU's
// inverse CDF at the kernel's uniform, frequencies over many steps matching the probabilities (chi-square),
// and a fixed seed reproducing. Logit bias and penalties: greedy decode sequences, with the counts kept by
// the kernel itself, against the rule applied in float64; min_p, bias and the token mask (constrained
// decoding) in the draw grid, the mask in the greedy grid too.
import { createRng, logitBiasWords, PROMPT_BIT, sample, type KernelContext, type SamplingOptions } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';
import { logprobsCases } from './logprobs';

/**
 * The draw's uniform for (seed, step), written here from its definition (shaders/sample.wgsl's header: the
 * lowbias32 integer hash h, u = (h(h(seed xor 0x9e3779b9) + step) >> 8) / 2^24) in BigInt arithmetic mod 2^32,
 * so the expectation shares no code with the engine's CPU mirror of the kernel (kernels/sample.ts).
 */
function uniformRef(seed: number, step: number): number {
  const M = (1n << 32n) - 1n;
  const h = (x: bigint): bigint => {
    x &= M;
    x = (x ^ (x >> 16n)) * 0x7feb352dn & M;
    x = (x ^ (x >> 15n)) * 0x846ca68bn & M;
    return x ^ (x >> 16n);
  };
  return Number(h(h(BigInt(seed) ^ 0x9e3779b9n) + BigInt(step)) >> 8n) / 2 ** 24;
}

const EXACT = { atol: 0, rtol: 0 };
// Where u × total lies this close (relative) to a boundary of the CPU's cumulative sums, f32 sums may
// put the draw on either side.
const DRAW_MARGIN = 1e-5;
// A top-p or top-k boundary this close to top_p (in probability) may fall either way in f32/fixed point.
const MASS_MARGIN = 1e-5;

/** Lowest index of the largest logit. */
function argmaxRef(x: ArrayLike<number>, b: number, n: number): number {
  let best = 0;
  for (let i = 1; i < n; i++) if (x[b + i] > x[b + best]) best = i;
  return best;
}

interface Distribution {
  /** Unnormalized weights exp((l - max)/T) of the kept tokens, 0 elsewhere. */
  weights: Float64Array;
  total: number;
  /** Tokens a boundary within MASS_MARGIN might add to the kept set. */
  maybe: Set<number>;
}

/** Temperature, then top-k (ties at the k-th value kept), then top-p over the renormalized rest (ties kept). */
export function distributionRef(logits: ArrayLike<number>, opts: SamplingOptions): Distribution {
  const n = logits.length;
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b] - logits[a] || a - b);
  const max = logits[order[0]];
  const e = Float64Array.from(logits, (l) => Math.exp((l - max) / opts.temperature));
  let kept = n;
  const topK = opts.topK ?? 0;
  if (topK > 0 && topK < n) {
    kept = topK;
    while (kept < n && logits[order[kept]] === logits[order[topK - 1]]) kept++;
  }
  const maybe = new Set<number>();
  const topP = opts.topP ?? 1;
  if (topP < 1) {
    let z = 0;
    for (let r = 0; r < kept; r++) z += e[order[r]];
    let cum = 0;
    let r = 0;
    while (r < kept) {
      // One group of equal logits at a time: ties are kept or dropped together.
      let g = r;
      while (g < kept && logits[order[g]] === logits[order[r]]) cum += e[order[g++]] / z;
      r = g;
      if (cum >= topP - MASS_MARGIN) {
        if (cum < topP + MASS_MARGIN) for (let k = g; k < kept && logits[order[k]] === logits[order[g]]; k++) maybe.add(order[k]);
        if (cum >= topP) break;
      }
    }
    kept = r;
  }
  const weights = new Float64Array(n);
  let total = 0;
  const minP = opts.minP ?? 0;
  for (let r = 0; r < kept; r++) {
    const w = e[order[r]];
    if (minP > 0 && Math.abs(w - minP) < MASS_MARGIN * minP) maybe.add(order[r]);
    if (minP > 0 && w < minP) continue;
    total += weights[order[r]] = w;
  }
  return { weights, total, maybe };
}

/**
 * The first index whose running sum of weights exceeds u × total, and with it every id a draw may give
 * when u × total lies within DRAW_MARGIN of a boundary of the running sums (the tokens on both sides).
 */
function drawRef(d: Distribution, u: number): { id: number; accept: Set<number> } {
  const target = u * d.total;
  const kept = [...d.weights.keys()].filter((i) => d.weights[i] > 0);
  let cum = 0;
  let id = -1;
  const accept = new Set<number>();
  kept.forEach((i, k) => {
    cum += d.weights[i];
    if (id < 0 && cum > target) id = i;
    if (Math.abs(cum - target) < DRAW_MARGIN * d.total) {
      accept.add(i);
      if (k + 1 < kept.length) accept.add(kept[k + 1]);
    }
  });
  accept.add(id);
  return { id, accept };
}

/** Pearson's statistic over the kept tokens (expected counts below 5 pooled), and its degrees of freedom. */
function chiSquare(ids: ArrayLike<number>, d: Distribution): { chi2: number; df: number } {
  const counts = new Map<number, number>();
  for (const id of Array.from(ids)) counts.set(id, (counts.get(id) ?? 0) + 1);
  const n = ids.length;
  let chi2 = 0;
  let bins = 0;
  let poolExp = 0;
  let poolObs = 0;
  d.weights.forEach((w, i) => {
    if (w === 0) return;
    const expected = (n * w) / d.total;
    const observed = counts.get(i) ?? 0;
    if (expected < 5) {
      poolExp += expected;
      poolObs += observed;
      return;
    }
    chi2 += (observed - expected) ** 2 / expected;
    bins++;
  });
  if (poolExp > 0) {
    chi2 += (poolObs - poolExp) ** 2 / Math.max(poolExp, 1);
    bins++;
  }
  return { chi2, df: Math.max(bins - 1, 1) };
}

/** A scalar check as a Comparison: passes when value ≤ limit. */
function atMost(value: number, limit: number): Comparison {
  return compare([value], [0], { atol: limit, rtol: 0 });
}

/** The token mask as the kernel reads it, written from its definition: bit id % 32 of word id / 32. */
function maskWordsRef(vocab: number, allowed: (id: number) => boolean): Uint32Array {
  const words = new Uint32Array(Math.ceil(vocab / 32));
  for (let id = 0; id < vocab; id++) if (allowed(id)) words[Math.floor(id / 32)] = (words[Math.floor(id / 32)] + 2 ** (id % 32)) >>> 0;
  return words;
}

/** Logits with the tokens the mask leaves out at -inf. */
function maskedRef(logits: ArrayLike<number>, allowed: ((id: number) => boolean) | undefined, base = 0, n = logits.length - base): Float64Array {
  return Float64Array.from({ length: n }, (_, i) => (!allowed || allowed(i) ? logits[base + i] : -Infinity));
}

const greedyCases = grid({ vocab: [1, 7, 1000, 163840], how: ['temperature0', 'topk1', 'mask'], shape: ['row', 'workgroup'] } as const).map((p) => ({
  name: caseName({ mode: 'greedy', ...p }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { vocab, how, shape } = p;
    const rows = 4;
    const rng = createRng(vocab + how.length);
    const io = new CaseBuffers(ctx, `sample:${caseName(p)}`);
    try {
      const logits = rng.uniform(rows * vocab, -8, 8);
      // Row 0 random; row 1 has its maximum twice (the lower index must win); row 2 is -inf but for one
      // entry; row 3 is all -inf (index 0).
      const [a, b] = [Math.floor(vocab / 3), vocab - 1];
      logits[vocab + a] = 9;
      logits[vocab + b] = 9;
      logits.fill(-Infinity, 2 * vocab, 4 * vocab);
      logits[2 * vocab + b] = -50;
      // 'mask' leaves out both planted maxima and row 0's, and one id in three (never all of a row).
      const top0 = argmaxRef(logits, 0, vocab);
      const allowed = how === 'mask' ? (i: number) => vocab === 1 || (i !== a && i !== b && i !== top0 && i % 3 !== 2) : undefined;
      const expected = Array.from({ length: rows }, (_, r) => argmaxRef(maskedRef(logits, allowed, r * vocab, vocab), 0, vocab));
      const bufs = { logits: io.input('logits', logits), ids: io.output('ids', rows), state: io.input('state', new Uint32Array([0])) };
      const opts: SamplingOptions = how === 'topk1' ? { temperature: 1, topK: 1 } : { temperature: 0, topK: 5, topP: 0.5 };
      const mask = allowed ? { allowed: io.input('allowed', maskWordsRef(vocab, allowed)) } : {};
      await io.run(() => [sample(ctx, { ...bufs, ...opts, ...mask, vocab, rows, seed: 1, shape })]);
      return { ids: compare(await io.readU32(bufs.ids, rows), expected, EXACT) };
    } finally {
      io.destroy();
    }
  },
}));

// A row with a NaN or +inf among its raw logits draws nothing (NONE), greedy or not, masked or not; the
// rows around it draw as usual. -inf is fine (rows 2 and 3 of the greedy cases).
const NONE = 0xffffffff;
const nonfiniteCases = grid({ vocab: [7, 1000], bad: ['nan', '+inf'], how: ['greedy', 'draw', 'mask'], shape: ['row', 'workgroup'] } as const).map((p) => ({
  name: caseName({ mode: 'nonfinite', ...p }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { vocab, bad, how, shape } = p;
    const rows = 3;
    const io = new CaseBuffers(ctx, `sample:${caseName(p)}`);
    try {
      // Row 0 finite with one clear winner (a draw at temperature 1 over e^-60 odds still picks it);
      // row 1 holds the bad value at a random place; row 2 finite again.
      const rng = createRng(vocab + bad.length + how.length);
      const logits = rng.uniform(rows * vocab, -8, 8).map((v, i) => (i % vocab === 5 % vocab ? 60 : v));
      logits[vocab + rng.int(vocab)] = bad === 'nan' ? NaN : Infinity;
      const allowed = how === 'mask' ? (i: number) => i === 5 % vocab || i % 2 === 0 : undefined;
      const expected = Array.from({ length: rows }, (_, r) => {
        const row = Array.from(logits.subarray(r * vocab, (r + 1) * vocab));
        return row.some((v) => Number.isNaN(v) || v === Infinity) ? NONE : argmaxRef(maskedRef(row, allowed), 0, vocab);
      });
      const bufs = { logits: io.input('logits', logits), ids: io.output('ids', rows), state: io.input('state', new Uint32Array([0])) };
      const opts: SamplingOptions = how === 'draw' ? { temperature: 1 } : { temperature: 0 };
      const mask = allowed ? { allowed: io.input('allowed', maskWordsRef(vocab, allowed)) } : {};
      await io.run(() => [sample(ctx, { ...bufs, ...opts, ...mask, vocab, rows, seed: 3, shape })]);
      return { ids: compare(await io.readU32(bufs.ids, rows), expected, EXACT) };
    } finally {
      io.destroy();
    }
  },
}));

interface DrawSetup {
  vocab: number;
  draws: number;
  opts: SamplingOptions;
  /** Logit bias entries (ids ascending), on top of the drawn logits. */
  bias?: [number, number][];
  /** The token mask: which ids may be drawn. */
  allowed?: (id: number) => boolean;
}

const drawSetups: Record<string, DrawSetup> = {
  'plain': { vocab: 37, draws: 2000, opts: { temperature: 1 } },
  'temp0.7-topk5': { vocab: 1000, draws: 1500, opts: { temperature: 0.7, topK: 5 } },
  'temp1.3-topp0.9': { vocab: 1000, draws: 1500, opts: { temperature: 1.3, topP: 0.9 } },
  'topk50-topp0.8': { vocab: 1000, draws: 1500, opts: { temperature: 1, topK: 50, topP: 0.8 } },
  'ties-topk3': { vocab: 300, draws: 1000, opts: { temperature: 1, topK: 3 } },
  'v3-vocab-topp0.95': { vocab: 129280, draws: 24, opts: { temperature: 0.8, topP: 0.95 } },
  'minp0.05': { vocab: 1000, draws: 1500, opts: { temperature: 1.2, minP: 0.05 } },
  'bias-topk40-minp0.1': { vocab: 777, draws: 1500, opts: { temperature: 0.9, topK: 40, minP: 0.1 }, bias: [[3, 4], [10, -100], [200, 2.5], [776, 6]] },
  'mask-topk20-bias': { vocab: 1001, draws: 1500, opts: { temperature: 1, topK: 20 }, bias: [[4, 3], [5, 8]], allowed: (i) => i % 3 === 1 || i === 999 },
  'mask-v3-vocab-topp0.9': { vocab: 129280, draws: 24, opts: { temperature: 1.1, topP: 0.9 }, allowed: (i) => i % 97 === 5 },
  'mask-one-token': { vocab: 333, draws: 200, opts: { temperature: 1.5 }, allowed: (i) => i === 321 },
};

// The shapes differ only in WG. SwiftShader pays several times more per row at 256 invocations, so the
// 'workgroup' shape runs the setups that combine the features, drawing an eighth as often (the
// chi-square needs the full count and runs on 'row').
const drawParams = [
  ...Object.keys(drawSetups).map((setup) => ({ setup, shape: 'row' as const })),
  ...['topk50-topp0.8', 'ties-topk3', 'v3-vocab-topp0.95', 'mask-topk20-bias'].map((setup) => ({ setup, shape: 'workgroup' as const })),
];
const drawCases = drawParams.map(({ setup, shape }) => ({
  name: caseName({ mode: 'draw', setup, shape }),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { vocab, opts, bias = [], allowed } = drawSetups[setup];
    const draws = shape === 'row' ? drawSetups[setup].draws : Math.ceil(drawSetups[setup].draws / 8);
    const rng = createRng(vocab * 7 + setup.length);
    const io = new CaseBuffers(ctx, `sample:${setup}:${shape}`);
    try {
      // Peaked enough that top-p keeps a modest set; 'ties' plants equal logits across the top-k boundary.
      const logits = Float32Array.from({ length: vocab }, () => rng.normal() * 2.5);
      if (setup.startsWith('ties')) {
        const top = Array.from(logits).map((l, i) => [l, i] as const).sort((a, b) => b[0] - a[0]);
        logits[top[3][1]] = logits[top[2][1]];
        logits[top[4][1]] = logits[top[2][1]];
      }
      const seed = 0xC0FFEE ^ vocab;
      const stepBase = 1234;
      const d = distributionRef(maskedRef(penalizedRef(logits, bias, null), allowed), opts);
      // Every row draws from the same logits (stride 0) at steps stepBase + r.
      const bufs = { logits: io.input('logits', logits), ids: io.output('ids', draws), state: io.input('state', new Uint32Array([7, stepBase])) };
      const biasArg = bias.length ? { bias: { buffer: io.input('bias', logitBiasWords(bias)), count: bias.length } } : {};
      const maskArg = allowed ? { allowed: io.input('allowed', maskWordsRef(vocab, allowed)) } : {};
      const launch = (s: number, rows: number) => sample(ctx, { ...bufs, ...opts, ...biasArg, ...maskArg, vocab, rows, logitsStride: 0, seed: s, stepIndex: 1, shape });
      await io.run(() => [launch(seed, draws)]);
      const ids = await io.readU32(bufs.ids, draws);
      // Reproduction and the seed's effect show on a prefix of the steps.
      const few = Math.min(draws, 64);
      await io.run(() => [launch(seed, few)]);
      const again = await io.readU32(bufs.ids, few);
      await io.run(() => [launch(seed + 1, few)]);
      const otherSeed = await io.readU32(bufs.ids, few);

      const keptCount = d.weights.filter((w) => w > 0).length;
      let outside = 0;
      const expected = new Float64Array(draws);
      for (let r = 0; r < draws; r++) {
        if (d.weights[ids[r]] === 0 && !d.maybe.has(ids[r])) outside++;
        const ref = drawRef(d, uniformRef(seed, stepBase + r));
        expected[r] = ref.accept.has(ids[r]) ? ids[r] : ref.id;
      }
      const out: Record<string, Comparison> = {
        outside_allowed_set: atMost(outside, 0),
        draw_vs_cpu_inverse_cdf: compare(ids, expected, EXACT),
        same_seed_reproduces: compare(again, ids.subarray(0, few), EXACT),
        // Another seed must give another sequence (all equal would mean the seed is ignored).
        other_seed_differs: atMost(Number(keptCount > 1 && otherSeed.every((v, i) => v === ids[i])), 0),
      };
      if (draws >= 1000) {
        // The statistic has mean df and sd sqrt(2·df): 6 sd is beyond chance for this fixed seed and well
        // within what a biased generator or wrong weights produce. Its "max |err|" is the statistic.
        const { chi2, df } = chiSquare(ids, d);
        out.chi_square = atMost(chi2, df + 6 * Math.sqrt(2 * df));
      }
      return out;
    } finally {
      io.destroy();
    }
  },
}));

interface PenaltyRef {
  repetition: number;
  presence: number;
  frequency: number;
  /** Tokens of the prompt. */
  prompt: Set<number>;
  /** Count per token in the reply so far. */
  reply: Map<number, number>;
}

/**
 * The logits after logit_bias (≤ -100 bans) and, with `pen`, the penalties, written from their definitions
 * in float64: repetition divides a seen token's positive logit and multiplies a negative one (Hugging
 * Face), then frequency × count and presence once for tokens the reply holds (OpenAI).
 */
function penalizedRef(logits: ArrayLike<number>, bias: readonly [number, number][], pen: PenaltyRef | null): Float64Array {
  const out = Float64Array.from(logits);
  for (const [id, b] of bias) out[id] = b <= -100 ? -Infinity : out[id] + b;
  if (!pen) return out;
  for (let i = 0; i < out.length; i++) {
    const c = pen.reply.get(i) ?? 0;
    if (!pen.prompt.has(i) && c === 0) continue;
    out[i] = out[i] > 0 ? out[i] / pen.repetition : out[i] * pen.repetition;
    if (c > 0) out[i] -= pen.frequency * c + pen.presence;
  }
  return out;
}

// Greedy decoding of `steps` tokens from fixed logits: the kernel counts each draw into the counts it
// reads, so the penalties push the choice around; the reference replays the same rule in float64.
const penaltySetups = {
  'frequency': { repetition: 1, presence: 0, frequency: 0.7 },
  'presence-repetition': { repetition: 1.6, presence: 1.1, frequency: 0 },
  'negative-frequency': { repetition: 1.3, presence: 0.5, frequency: -0.2 },
} as const;
const penaltyCases = grid({ vocab: [7, 1000, 129280], setup: Object.keys(penaltySetups) as (keyof typeof penaltySetups)[], shape: ['row', 'workgroup'] } as const)
  .filter((p) => p.shape === 'row' || p.vocab === 1000)
  .map((p) => ({
    name: caseName({ mode: 'penalties', ...p }),
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const { vocab, setup, shape } = p;
      const steps = vocab === 129280 ? 4 : 12;
      const rng = createRng(vocab * 13 + setup.length);
      const io = new CaseBuffers(ctx, `sample:penalties:${caseName(p)}`);
      try {
        // Small spread so that penalties change the choice; the top few close together.
        const logits = rng.uniform(vocab, -2, 2);
        const prompt = new Set<number>();
        for (let k = 0; k < Math.min(vocab, 5); k++) prompt.add(Math.min(vocab - 1, Math.floor(rng.uniform(1, 0, vocab)[0])));
        prompt.add(argmaxRef(logits, 0, vocab));
        const bias: [number, number][] = [...new Set([0, Math.floor(vocab / 2), vocab - 1])].map((id, k) => [id, [-100, 1.5, -0.75][k]]);
        const counts = new Uint32Array(vocab);
        for (const id of prompt) counts[id] = PROMPT_BIT;
        const bufs = {
          logits: io.input('logits', logits), ids: io.output('ids', 1), state: io.input('state', new Uint32Array([0])),
          counts: io.input('counts', counts), bias: io.input('bias', logitBiasWords(bias)),
        };
        const ref: PenaltyRef = { ...penaltySetups[setup], prompt, reply: new Map() };
        const got: number[] = [];
        const expected: number[] = [];
        for (let t = 0; t < steps; t++) {
          await io.run(() => [sample(ctx, {
            logits: bufs.logits, ids: bufs.ids, state: bufs.state, vocab, temperature: 0, seed: 1, shape,
            bias: { buffer: bufs.bias, count: bias.length }, penalties: { counts: bufs.counts, ...penaltySetups[setup] },
          })]);
          const id = (await io.readU32(bufs.ids, 1))[0];
          const adj = penalizedRef(logits, bias, ref);
          const want = argmaxRef(adj, 0, vocab);
          const max = adj[want];
          // f32 arithmetic may reorder values this close to the maximum: either is the argmax then.
          const near = adj[id] >= max - 1e-5 * (1 + Math.abs(max));
          got.push(id);
          expected.push(near ? id : want);
          // Follow the kernel's draw (whether or not it matched), as the counts on the GPU do.
          ref.reply.set(id, (ref.reply.get(id) ?? 0) + 1);
        }
        const countsAfter = await io.readU32(bufs.counts, vocab);
        const countsWant = Uint32Array.from({ length: vocab }, (_, i) => (prompt.has(i) ? PROMPT_BIT : 0) + (ref.reply.get(i) ?? 0));
        const out: Record<string, Comparison> = { greedy_ids: compare(got, expected, EXACT), counts: compare(countsAfter, countsWant, EXACT) };
        // With the top logits this close, a penalty that never changed the choice would go untested.
        if (vocab >= 1000) out.choice_changes = atMost(Number(new Set(got).size < 2), 0);
        return out;
      } finally {
        io.destroy();
      }
    },
  }));

export const sampleFamily: KernelFamily = { cases: () => [...greedyCases, ...nonfiniteCases, ...drawCases, ...penaltyCases, ...logprobsCases] };
