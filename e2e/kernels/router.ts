// The MoE router's selection (both shapes, from given logits) against a float64 CPU reference: ids
// exactly, weights within f32 tolerance, usage counters exactly.
import { createRng, routerSelect, type RouterConfig, type Rng } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelCase, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

/**
 * Inputs whose reference decisions are closer than this (between the K-th and (K+1)-th expert, between
 * consecutive chosen experts, or between the last kept and the first dropped group) are drawn again:
 * f32 scores are within ~1e-6 of float64, so a wider gap makes the expected ids unambiguous.
 */
const MARGIN = 1e-4;
const REDRAWS = 100;

export interface RouteRef {
  ids: number[];
  weights: number[];
  /** The narrowest decision gap (see MARGIN). */
  margin: number;
}

/** PyTorch's softplus: x itself above its threshold 20. */
function softplus(x: number): number {
  return x > 20 ? x : Math.log1p(Math.exp(x));
}

function scoresRef(l: number[], scoring: RouterConfig['scoring']): number[] {
  if (scoring === 'softmax') {
    const m = Math.max(...l);
    const ex = l.map((v) => Math.exp(v - m));
    const sum = ex.reduce((a, b) => a + b, 0);
    return ex.map((v) => v / sum);
  }
  if (scoring === 'sigmoid') return l.map((v) => 1 / (1 + Math.exp(-v)));
  return l.map((v) => Math.sqrt(softplus(v)));
}

/**
 * One token's routing in float64, written from docs/architecture-v3.md#routing and
 * docs/architecture-v4.md#moe with sorts (the kernels use ranks and passes). `tableIds`: the token's
 * row of a routing table, which then chooses the experts.
 */
export function routeRef(logits: ArrayLike<number>, bias: ArrayLike<number> | null, cfg: RouterConfig, tableIds: readonly number[] | null = null): RouteRef {
  const E = cfg.nRoutedExperts;
  const l = Array.from({ length: E }, (_, e) => logits[e]);
  const bi = (e: number) => (bias ? bias[e] : 0);
  const s = scoresRef(l, cfg.scoring);
  const b = s.map((v, e) => v + bi(e));
  // Descending by value, then ascending by index: the documented tie order.
  const order = (idx: number[], val: (i: number) => number) => idx.sort((i, j) => val(j) - val(i) || i - j);

  let margin = Infinity;
  let ids: number[];
  if (tableIds) {
    ids = [...tableIds];
  } else {
    let eligible = Array.from({ length: E }, (_, e) => e);
    if (cfg.topkMethod !== 'greedy' && cfg.nGroup > 1) {
      const size = E / cfg.nGroup;
      const gscore = Array.from({ length: cfg.nGroup }, (_, g) => {
        const top = b.slice(g * size, (g + 1) * size).sort((x, y) => y - x);
        return cfg.topkMethod === 'noaux_tc' ? top[0] + top[1] : top[0];
      });
      const gs = order(Array.from({ length: cfg.nGroup }, (_, g) => g), (g) => gscore[g]);
      if (cfg.topkGroup < cfg.nGroup) margin = gscore[gs[cfg.topkGroup - 1]] - gscore[gs[cfg.topkGroup]];
      const kept = new Set(gs.slice(0, cfg.topkGroup));
      eligible = eligible.filter((e) => kept.has(Math.floor(e / size)));
    }
    const ranked = order(eligible, (e) => b[e]);
    for (let k = 0; k < cfg.topK && k + 1 < ranked.length; k++) {
      const [x, y] = [ranked[k], ranked[k + 1]];
      // Identical inputs tie exactly in f32 too, and the index decides there as here.
      if (l[x] === l[y] && bi(x) === bi(y)) continue;
      margin = Math.min(margin, b[x] - b[y]);
    }
    ids = ranked.slice(0, cfg.topK);
  }
  const chosen = ids.map((e) => s[e]);
  const total = chosen.reduce((a, v) => a + v, 0);
  const weights = chosen.map((v) => (cfg.normTopkProb ? v / total : v) * cfg.routedScalingFactor);
  return { ids, weights, margin };
}

/** How a case draws its logits. */
type LogitRange =
  /** Uniform in ±3.5. */
  | 'narrow'
  /** Uniform in ±3, ±12 or ±45 (chosen per value): both sides of softplus's threshold 20 and of 0, and far below. */
  | 'wide'
  /** Uniform in [−50, −1]: softplus ≈ e^x, where log(1 + e^x) in f32 would lose it. */
  | 'negative';

interface InputOptions {
  withBias: boolean;
  logits: LogitRange;
  /** Biases from {−0.05, 0, 0.05}, and per token one expert's logit copied to another of equal bias. */
  ties: boolean;
  /** A routing table of this many token ids, and `tokenOffset + T` token ids. */
  hash: { vocab: number; tokenOffset: number } | null;
}

interface RouterInputs {
  bias: Float32Array | null;
  /** [T, E] f32 logits. */
  logits: Float32Array;
  table: Uint32Array | null;
  tokenIds: Uint32Array | null;
  refs: RouteRef[];
}

function drawLogits(rng: Rng, E: number, range: LogitRange): Float32Array {
  if (range === 'narrow') return rng.uniform(E, -3.5, 3.5);
  if (range === 'negative') return rng.uniform(E, -50, -1);
  const scales = [3, 12, 45];
  return Float32Array.from(rng.uniform(E, -1, 1), (v) => v * scales[rng.int(scales.length)]);
}

/** K distinct experts of E in random order, per row. */
function drawTable(rng: Rng, rows: number, E: number, K: number): Uint32Array {
  const table = new Uint32Array(rows * K);
  const perm = Array.from({ length: E }, (_, e) => e);
  for (let r = 0; r < rows; r++) {
    for (let k = 0; k < K; k++) {
      const j = k + rng.int(E - k);
      [perm[k], perm[j]] = [perm[j], perm[k]];
      table[r * K + k] = perm[k];
    }
  }
  return table;
}

/** Random logits (and bias, table), each token redrawn until its decisions clear MARGIN. */
function makeInputs(rng: Rng, T: number, cfg: RouterConfig, o: InputOptions): RouterInputs {
  const E = cfg.nRoutedExperts;
  const K = cfg.topK;
  const biasLevels = [-0.05, 0, 0.05];
  const bias = !o.withBias ? null : o.ties ? Float32Array.from({ length: E }, () => biasLevels[rng.int(3)]) : rng.uniform(E, -0.1, 0.1);
  const table = o.hash ? drawTable(rng, o.hash.vocab, E, K) : null;
  const tokenIds = o.hash ? Uint32Array.from({ length: o.hash.tokenOffset + T }, () => rng.int(o.hash!.vocab)) : null;
  const logits = new Float32Array(T * E);
  const refs: RouteRef[] = [];
  for (let t = 0; t < T; t++) {
    const row = tokenIds && table ? Array.from(table.subarray(tokenIds[o.hash!.tokenOffset + t] * K, (tokenIds[o.hash!.tokenOffset + t] + 1) * K)) : null;
    for (let attempt = 0; ; attempt++) {
      if (attempt === REDRAWS) throw new Error(`router test: token ${t} has no input with decision gaps above ${MARGIN} after ${REDRAWS} draws`);
      const l = drawLogits(rng, E, o.logits);
      if (o.ties) {
        // Tie the expert at a random rank < K with one of equal bias outside the first ranks.
        const ranked = routeRef(l, bias, cfg).ids;
        const src = ranked[rng.int(K)];
        const partners = Array.from({ length: E }, (_, e) => e).filter((e) => !ranked.includes(e) && (bias?.[e] ?? 0) === (bias?.[src] ?? 0));
        if (partners.length > 0) l[partners[rng.int(partners.length)]] = l[src];
      }
      logits.set(l, t * E);
      const ref = routeRef(l, bias, cfg, row);
      if (ref.margin > MARGIN) {
        refs.push(ref);
        break;
      }
    }
  }
  return { bias, logits, table, tokenIds, refs };
}

type Route = 'softmax/greedy' | 'sigmoid/greedy' | 'softmax/group_limited_greedy' | 'sigmoid/group_limited_greedy' | 'sigmoid/noaux_tc'
  | 'sqrtsoftplus/noaux_tc';

interface RouterCaseSpec {
  route: Route;
  E: number;
  K: number;
  groups: number;
  T: number;
  shape: 'row' | 'workgroup';
  /** Count the choices into usage counters (without, the placeholder binding is exercised). */
  usage: boolean;
  /** Explicit kept groups; by default the smallest count ≥ groups/2 that holds K experts. */
  topkGroup?: number;
  scale?: number;
  /** Route by a table of this many token ids (from the token ids at `tokenOffset`). */
  vocab?: number;
  tokenOffset?: number;
  /** Pass a bias; by default noaux_tc without a table does. */
  bias?: boolean;
  ties?: boolean;
  /** By default 'wide' for sqrtsoftplus, 'narrow' otherwise. */
  logits?: LogitRange;
}

/** The router config of a spec, or null where it is not a valid config. */
function configOf(p: RouterCaseSpec): RouterConfig | null {
  const [scoring, method] = p.route.split('/') as [RouterConfig['scoring'], RouterConfig['topkMethod']];
  if (p.K > p.E || p.E % p.groups !== 0) return null;
  // Greedy ignores groups, and one group is no limit: group_limited_greedy would repeat greedy's cases.
  if ((method === 'greedy') !== (p.groups === 1) && method !== 'noaux_tc') return null;
  const size = p.E / p.groups;
  if (method === 'noaux_tc' && p.groups > 1 && size < 2) return null;
  let topkGroup = p.topkGroup ?? Math.ceil(p.groups / 2);
  while (topkGroup < p.groups && p.K > size * topkGroup) topkGroup++;
  if (p.K > size * topkGroup) return null;
  // Normalization and scaling vary with the route so that both settings of each are covered.
  const normTopkProb = scoring !== 'softmax' || method === 'group_limited_greedy';
  const routedScalingFactor = p.scale ?? (scoring === 'sqrtsoftplus' ? 1.5 : scoring === 'sigmoid' ? 2.5 : method === 'greedy' ? 1 : 16);
  return { nRoutedExperts: p.E, topK: p.K, nGroup: p.groups, topkGroup, scoring, topkMethod: method, normTopkProb, routedScalingFactor };
}

function seedOf(name: string): number {
  let h = 2166136261;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0;
  return h;
}

function routerCase(p: RouterCaseSpec, cfg: RouterConfig): KernelCase {
  const name = caseName(p as unknown as Record<string, unknown>);
  return {
    name,
    async run(ctx): Promise<Record<string, Comparison>> {
      const { T, shape, usage: withUsage } = p;
      const E = cfg.nRoutedExperts;
      const K = cfg.topK;
      const rng = createRng(seedOf(name));
      const hash = p.vocab ? { vocab: p.vocab, tokenOffset: p.tokenOffset ?? 0 } : null;
      const inp = makeInputs(rng, T, cfg, {
        withBias: p.bias ?? (cfg.topkMethod === 'noaux_tc' && !hash),
        logits: p.logits ?? (cfg.scoring === 'sqrtsoftplus' ? 'wide' : 'narrow'),
        ties: p.ties ?? false,
        hash,
      });
      const usage0 = Uint32Array.from({ length: E }, () => rng.int(10));
      const io = new CaseBuffers(ctx, `router:${name}`);
      try {
        const bufs = {
          ids: io.output('ids', T * K),
          weights: io.output('weights', T * K),
          usage: withUsage ? io.input('usage', usage0) : null,
          bias: inp.bias ? io.input('bias', inp.bias) : null,
          hash: inp.table && inp.tokenIds ? { table: io.input('table', inp.table), tokenIds: io.input('tokenIds', inp.tokenIds), tokenIdsOffset: p.tokenOffset } : null,
        };
        await io.run(() => [routerSelect(ctx, { ...bufs, logits: io.input('logits', inp.logits), tokens: T, moe: cfg, shape })]);
        const refIds = inp.refs.flatMap((r) => r.ids);
        const refW = inp.refs.flatMap((r) => r.weights);
        const out: Record<string, Comparison> = {
          ids: compare(await io.readU32(bufs.ids, T * K), refIds, { atol: 0, rtol: 0 }),
          // exp and the sums in f32: relative errors of a few 1e-7.
          weights: compare(await io.read(bufs.weights, T * K), refW, { atol: 1e-6 * cfg.routedScalingFactor, rtol: 2e-5 }),
        };
        if (bufs.usage) {
          const want = Array.from(usage0);
          for (const e of refIds) want[e]++;
          out.usage = compare(await io.readU32(bufs.usage, E), want, { atol: 0, rtol: 0 });
        }
        return out;
      } finally {
        io.destroy();
      }
    },
  };
}

// Every scoring with every method but softmax + noaux_tc, which no released config uses (Hugging Face's
// V3 code scores noaux_tc with sigmoid only); the scores feed the same selection code either way.
const ROUTES: readonly Route[] = ['softmax/greedy', 'sigmoid/greedy', 'softmax/group_limited_greedy', 'sigmoid/group_limited_greedy',
  'sigmoid/noaux_tc'];

/** Released configurations at full expert counts. */
const MODELS: RouterCaseSpec[] = [
  // V3 / R1: 256 experts, 8 groups keep 4, sigmoid + bias, top-8, ×2.5.
  { route: 'sigmoid/noaux_tc', E: 256, K: 8, groups: 8, topkGroup: 4, T: 5, shape: 'workgroup', usage: true },
  { route: 'sigmoid/noaux_tc', E: 256, K: 8, groups: 8, topkGroup: 4, T: 5, shape: 'row', usage: true },
  { route: 'sigmoid/noaux_tc', E: 256, K: 8, groups: 8, topkGroup: 4, T: 33, shape: 'workgroup', usage: false },
  { route: 'sigmoid/noaux_tc', E: 256, K: 8, groups: 8, topkGroup: 4, T: 33, shape: 'row', usage: false },
  // V2: 160 experts, 8 groups keep 3, softmax, top-6, ×16.
  { route: 'softmax/group_limited_greedy', E: 160, K: 6, groups: 8, topkGroup: 3, T: 9, shape: 'workgroup', usage: true, scale: 16 },
  // V2-Lite: 64 experts, softmax greedy top-6; more tokens than one 'row' workgroup holds (64).
  { route: 'softmax/greedy', E: 64, K: 6, groups: 1, T: 100, shape: 'row', usage: true },
  { route: 'softmax/greedy', E: 64, K: 6, groups: 1, T: 9, shape: 'workgroup', usage: true },
  // Moonlight: 64 experts in one group, sigmoid + bias, top-6, ×2.446.
  { route: 'sigmoid/noaux_tc', E: 64, K: 6, groups: 1, T: 9, shape: 'workgroup', usage: true, scale: 2.446 },
  // V4-Flash (256 experts, top-6, ×1.5) and V4-Pro (384, top-6, ×2.5): score-routed and table-routed layers.
  ...(['row', 'workgroup'] as const).flatMap((shape): RouterCaseSpec[] => [
    { route: 'sqrtsoftplus/noaux_tc', E: 256, K: 6, groups: 1, T: 9, shape, usage: true },
    { route: 'sqrtsoftplus/noaux_tc', E: 256, K: 6, groups: 1, T: 9, shape, usage: true, vocab: 129, tokenOffset: 3 },
    { route: 'sqrtsoftplus/noaux_tc', E: 384, K: 6, groups: 1, T: 9, shape, usage: true, scale: 2.5 },
    { route: 'sqrtsoftplus/noaux_tc', E: 384, K: 6, groups: 1, T: 9, shape, usage: true, scale: 2.5, vocab: 129, tokenOffset: 3 },
  ]),
];

/**
 * sqrtsoftplus with and without a table at every K, odd expert counts up to the largest the kernel
 * takes, and token counts spread over 1 … 33 (1 … 9 in the workgroup shape: see below).
 */
const V4_GRID: RouterCaseSpec[] = grid({ E: [8, 37, 256, 384], K: [1, 2, 3, 4, 5, 6, 7, 8], shape: ['row', 'workgroup'], table: [false, true] } as const)
  .map(({ E, K, shape, table }): RouterCaseSpec => ({
    route: 'sqrtsoftplus/noaux_tc', E, K, groups: 1,
    T: shape === 'row' ? 1 + ((E + 5 * K) % 33) : 1 + ((E + 3 * K) % 9),
    shape, usage: K % 4 !== 0,
    ...(table ? { vocab: 41, tokenOffset: K % 3 } : { ties: true }),
  }));

/** More experts than workgroup invocations (each takes several), every scoring, up to the kernel's bound. */
const MANY_EXPERTS: RouterCaseSpec[] = (['row', 'workgroup'] as const).flatMap((shape): RouterCaseSpec[] => [
  { route: 'softmax/greedy', E: 384, K: 8, groups: 1, T: 5, shape, usage: true },
  { route: 'softmax/group_limited_greedy', E: 300, K: 5, groups: 4, topkGroup: 2, T: 3, shape, usage: true },
  { route: 'sigmoid/noaux_tc', E: 512, K: 8, groups: 8, topkGroup: 4, T: 3, shape, usage: true },
  { route: 'sqrtsoftplus/noaux_tc', E: 512, K: 8, groups: 1, T: 3, shape, usage: true, ties: true },
  // Tables with the other scorings, a bias that must not matter, and softplus's e^x range.
  { route: 'softmax/greedy', E: 37, K: 3, groups: 1, T: 7, shape, usage: true, vocab: 11 },
  { route: 'sigmoid/noaux_tc', E: 37, K: 4, groups: 1, T: 7, shape, usage: false, vocab: 11, tokenOffset: 5, bias: true },
  { route: 'sqrtsoftplus/noaux_tc', E: 37, K: 5, groups: 1, T: 7, shape, usage: true, vocab: 11, logits: 'negative' },
  { route: 'sqrtsoftplus/noaux_tc', E: 384, K: 6, groups: 1, T: 7, shape, usage: true, vocab: 11, logits: 'negative' },
]);

export const routerFamily: KernelFamily = {
  cases: () => {
    const specs: RouterCaseSpec[] = [
      // The token count only repeats the per-token routing (one invocation or workgroup each), so it is
      // spread over the grid as V4_GRID's is rather than crossed with it (three times the cases before).
      // The workgroup shape runs one workgroup per token, so 33 tokens take no path that 7 do not, and
      // SwiftShader spends ~6 ms on each 256-invocation workgroup: T=33 runs in the row shape only.
      ...grid({ route: ROUTES, E: [6, 8, 64], K: [1, 2, 6], groups: [1, 2, 4], shape: ['row', 'workgroup'], usage: [true] } as const)
        .map((p) => ({ ...p, T: p.shape === 'row' ? [1, 7, 33][(p.E + p.K + p.groups) % 3] : [1, 7][(p.E + p.K + p.groups) % 2] })),
      ...grid({ route: ROUTES, E: [64], K: [6], groups: [4], T: [33], shape: ['row', 'workgroup'], usage: [false] } as const),
      ...MODELS,
      ...V4_GRID,
      ...MANY_EXPERTS,
    ];
    return specs.flatMap((p) => {
      const cfg = configOf(p);
      return cfg ? [routerCase(p, cfg)] : [];
    });
  },
};
