// The MoE router (fused logits and from given logits, both shapes) against a float64 CPU reference:
// ids exactly, weights within f32 tolerance, usage counters exactly.
import { createRng, router, routerSelect, type RouterConfig, type Rng } from 'webmoe';
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

/** One token's routing in float64, written from shared/deepseek.md with sorts (the kernels use ranks and passes). */
export function routeRef(logits: ArrayLike<number>, bias: ArrayLike<number> | null, cfg: RouterConfig): RouteRef {
  const E = cfg.nRoutedExperts;
  const l = Array.from({ length: E }, (_, e) => logits[e]);
  let s: number[];
  if (cfg.scoring === 'softmax') {
    const m = Math.max(...l);
    const ex = l.map((v) => Math.exp(v - m));
    const sum = ex.reduce((a, b) => a + b, 0);
    s = ex.map((v) => v / sum);
  } else {
    s = l.map((v) => 1 / (1 + Math.exp(-v)));
  }
  const b = s.map((v, e) => v + (bias ? bias[e] : 0));
  // Descending by value, then ascending by index: the documented tie order.
  const order = (idx: number[], val: (i: number) => number) => idx.sort((i, j) => val(j) - val(i) || i - j);

  let margin = Infinity;
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
  for (let k = 0; k < cfg.topK && k + 1 < ranked.length; k++) margin = Math.min(margin, b[ranked[k]] - b[ranked[k + 1]]);
  const ids = ranked.slice(0, cfg.topK);
  const chosen = ids.map((e) => s[e]);
  const total = chosen.reduce((a, v) => a + v, 0);
  const weights = chosen.map((v) => (cfg.normTopkProb ? v / total : v) * cfg.routedScalingFactor);
  return { ids, weights, margin };
}

function dot64(x: Float32Array, xb: number, w: Float32Array, wb: number, d: number): number {
  let s = 0;
  for (let c = 0; c < d; c++) s += x[xb + c] * w[wb + c];
  return s;
}

interface RouterInputs {
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array | null;
  /** [T, E] f32 logits, for the select entry point. */
  logits: Float32Array;
  refs: RouteRef[];
}

/**
 * Random router inputs: x and W for the fused entry point (logits = W·x in float64 for the reference),
 * or the logits themselves for the select one. Each token is redrawn until its decisions clear MARGIN.
 */
function makeInputs(rng: Rng, T: number, d: number, cfg: RouterConfig, withBias: boolean, fromLogits: boolean): RouterInputs {
  const E = cfg.nRoutedExperts;
  // Logits with a standard deviation of about 2, so that scores spread and selections are clear.
  const a = 6 / Math.sqrt(d);
  const w = fromLogits ? new Float32Array(0) : rng.uniform(E * d, -a, a);
  const bias = withBias ? rng.uniform(E, -0.1, 0.1) : null;
  const x = new Float32Array(fromLogits ? 0 : T * d);
  const logits = new Float32Array(T * E);
  const refs: RouteRef[] = [];
  for (let t = 0; t < T; t++) {
    for (let attempt = 0; ; attempt++) {
      if (attempt === REDRAWS) throw new Error(`router test: token ${t} has no input with decision gaps above ${MARGIN} after ${REDRAWS} draws`);
      let l: ArrayLike<number>;
      if (fromLogits) {
        logits.set(rng.uniform(E, -3.5, 3.5), t * E);
        l = logits.subarray(t * E, (t + 1) * E);
      } else {
        x.set(rng.uniform(d), t * d);
        l = Array.from({ length: E }, (_, e) => dot64(x, t * d, w, e * d, d));
      }
      const ref = routeRef(l, bias, cfg);
      if (ref.margin > MARGIN) {
        refs.push(ref);
        break;
      }
    }
  }
  return { x, w, bias, logits, refs };
}

type Route = 'softmax/greedy' | 'sigmoid/greedy' | 'softmax/group_limited_greedy' | 'sigmoid/group_limited_greedy' | 'sigmoid/noaux_tc';

interface RouterCaseSpec {
  route: Route;
  E: number;
  K: number;
  groups: number;
  T: number;
  shape: 'row' | 'workgroup';
  mode: 'fused' | 'select';
  /** Hidden size (fused mode only). */
  d?: number;
  /** Explicit kept groups; by default the smallest count ≥ groups/2 that holds K experts. */
  topkGroup?: number;
  scale?: number;
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
  const normTopkProb = scoring === 'sigmoid' || method === 'group_limited_greedy';
  const routedScalingFactor = p.scale ?? (scoring === 'sigmoid' ? 2.5 : method === 'greedy' ? 1 : 16);
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
      const { T, shape, mode } = p;
      const d = p.d ?? 0;
      const E = cfg.nRoutedExperts;
      const K = cfg.topK;
      const rng = createRng(seedOf(name));
      const inp = makeInputs(rng, T, d, cfg, cfg.topkMethod === 'noaux_tc', mode === 'select');
      // The select cases run without usage counters, so the placeholder binding is exercised too.
      const withUsage = mode === 'fused';
      const usage0 = Uint32Array.from({ length: E }, () => rng.int(10));
      const io = new CaseBuffers(ctx, `router:${name}`);
      try {
        const bufs = {
          ids: io.output('ids', T * K),
          weights: io.output('weights', T * K),
          usage: withUsage ? io.input('usage', usage0) : null,
          bias: inp.bias ? io.input('bias', inp.bias) : null,
        };
        const common = { ...bufs, tokens: T, moe: cfg, shape };
        await io.run(() => [mode === 'fused'
          ? router(ctx, { ...common, x: io.input('x', inp.x), weight: io.input('w', inp.w), dim: d })
          : routerSelect(ctx, { ...common, logits: io.input('logits', inp.logits) })]);
        const refIds = inp.refs.flatMap((r) => r.ids);
        const refW = inp.refs.flatMap((r) => r.weights);
        const out: Record<string, Comparison> = {
          ids: compare(await io.readU32(bufs.ids, T * K), refIds, { atol: 0, rtol: 0 }),
          // exp and the dot products in f32: relative errors of a few 1e-7.
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

/** Released configurations at full expert counts (small d). */
const MODELS: RouterCaseSpec[] = [
  // V3 / R1: 256 experts, 8 groups keep 4, sigmoid + bias, top-8, ×2.5.
  { route: 'sigmoid/noaux_tc', E: 256, K: 8, groups: 8, topkGroup: 4, T: 5, shape: 'workgroup', mode: 'fused', d: 129 },
  { route: 'sigmoid/noaux_tc', E: 256, K: 8, groups: 8, topkGroup: 4, T: 5, shape: 'row', mode: 'fused', d: 129 },
  { route: 'sigmoid/noaux_tc', E: 256, K: 8, groups: 8, topkGroup: 4, T: 33, shape: 'workgroup', mode: 'select' },
  { route: 'sigmoid/noaux_tc', E: 256, K: 8, groups: 8, topkGroup: 4, T: 33, shape: 'row', mode: 'select' },
  // V2: 160 experts, 8 groups keep 3, softmax, top-6, ×16.
  { route: 'softmax/group_limited_greedy', E: 160, K: 6, groups: 8, topkGroup: 3, T: 9, shape: 'workgroup', mode: 'fused', d: 97, scale: 16 },
  // V2-Lite: 64 experts, softmax greedy top-6; more tokens than one 'row' workgroup holds (64).
  { route: 'softmax/greedy', E: 64, K: 6, groups: 1, T: 100, shape: 'row', mode: 'fused', d: 97 },
  { route: 'softmax/greedy', E: 64, K: 6, groups: 1, T: 9, shape: 'workgroup', mode: 'fused', d: 97 },
  // Moonlight: 64 experts in one group, sigmoid + bias, top-6, ×2.446.
  { route: 'sigmoid/noaux_tc', E: 64, K: 6, groups: 1, T: 9, shape: 'workgroup', mode: 'fused', d: 97, scale: 2.446 },
];

export const routerFamily: KernelFamily = {
  cases: () => {
    const specs: RouterCaseSpec[] = [
      // The workgroup shape runs one workgroup per token, so 33 tokens take no path that 7 do not, and
      // SwiftShader spends ~6 ms on each 256-invocation workgroup: T=33 runs in the row shape only.
      ...grid({ route: ROUTES, E: [6, 8, 64], K: [1, 2, 6], groups: [1, 2, 4], T: [1, 7, 33], shape: ['row', 'workgroup'], mode: ['fused'], d: [37] } as const)
        .filter((p) => !(p.shape === 'workgroup' && p.T === 33)),
      ...grid({ route: ROUTES, E: [64], K: [6], groups: [4], T: [33], shape: ['row', 'workgroup'], mode: ['select'] } as const),
      ...MODELS,
    ];
    return specs.flatMap((p) => {
      const cfg = configOf(p);
      return cfg ? [routerCase(p, cfg)] : [];
    });
  },
};
