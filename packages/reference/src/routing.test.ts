import { describe, expect, it } from 'vitest';
import type { ReferenceArgs } from './args';
import { route } from './routing';

const logit = (p: number) => Math.log(p / (1 - p)); // sigmoid⁻¹
const sig = (x: number) => 1 / (1 + Math.exp(-x));

function args(patch: Partial<ReferenceArgs>): ReferenceArgs {
  return {
    vocabSize: 1, dim: 1, interDim: 1, moeInterDim: 1, nLayers: 1, ffn: ['moe'], nHeads: 1, qLoraRank: 0, kvLoraRank: 1,
    qkNopeHeadDim: 1, qkRopeHeadDim: 2, vHeadDim: 1, nRoutedExperts: 8, nSharedExperts: 1, nActivatedExperts: 2,
    nExpertGroups: 1, nLimitedGroups: 1, scoreFunc: 'sigmoid', topkMethod: 'noaux_tc', normTopkProb: true, routeScale: 2.5,
    ropeTheta: 10000, yarn: null, rmsNormEps: 1e-6, nMtpLayers: 0, ...patch,
  };
}

describe('V3 routing (sigmoid, noaux_tc)', () => {
  const v3 = args({ nExpertGroups: 2, nLimitedGroups: 1 });
  // group 0 holds the single best expert (0.95) but group 1 the best pair (0.8 + 0.75 > 0.95 + 0.1)
  const probs = [0.95, 0.1, 0.1, 0.1, 0.8, 0.75, 0.2, 0.1];
  const logits = Float64Array.from(probs, logit);

  it('keeps the groups with the best sum of two, picks the top-k there, normalizes and scales', () => {
    const r = route(logits, null, v3);
    expect(r.experts).toEqual([4, 5]);
    expect(r.weights[0]).toBeCloseTo((0.8 / 1.55) * 2.5, 14);
    expect(r.weights[1]).toBeCloseTo((0.75 / 1.55) * 2.5, 14);
  });

  it('selects with the correction bias but weights with the unbiased scores', () => {
    const bias = Float64Array.from([0, 0, 0, 0, 0, -0.6, 0.7, 0]);
    const r = route(logits, bias, v3);
    expect(r.experts).toEqual([6, 4]); // 0.2 + 0.7 > 0.8 > 0.75 - 0.6
    expect(r.weights[0]).toBeCloseTo((0.2 / 1.0) * 2.5, 14);
    expect(r.weights[1]).toBeCloseTo((0.8 / 1.0) * 2.5, 14);
  });

  it('lets the bias move a whole group', () => {
    const bias = Float64Array.from([0, 0.7, 0, 0, 0, 0, 0, 0]); // group 0: 0.95 + 0.8 = 1.75 > 1.55
    const r = route(logits, bias, v3);
    expect(r.experts).toEqual([0, 1]);
    expect(r.weights[1]).toBeCloseTo((0.1 / 1.05) * 2.5, 14);
  });

  it('excludes other groups even when their experts score higher', () => {
    // group 0: 0.6 + 0.6 = 1.2 beats group 1: 0.9 + 0.2 = 1.1, though expert 4 is the best of all
    const r = route(Float64Array.from([0.6, 0.6, 0.5, 0.4, 0.9, 0.2, 0.1, 0.1], logit), null, args({ nExpertGroups: 2, nLimitedGroups: 1, nActivatedExperts: 3 }));
    expect(r.experts).toEqual([0, 1, 2]);
  });

  it('without norm_topk_prob leaves the sigmoid scores unnormalized', () => {
    const r = route(logits, null, args({ normTopkProb: false, routeScale: 1 }));
    expect(r.experts).toEqual([0, 4]);
    expect(r.weights).toEqual([sig(logit(0.95)), sig(logit(0.8))]);
  });
});

describe('V2 routing (softmax)', () => {
  const logits = Float64Array.from([2.0, 1.9, 0.5, 0.4, 1.8, 1.7, 0.3, 1.75]);
  const z = logits.reduce((s, x) => s + Math.exp(x), 0);
  const p = (e: number) => Math.exp(logits[e]) / z;

  it('greedy: top-k of the softmax, groups ignored, weights scaled but not normalized', () => {
    const r = route(logits, null, args({ scoreFunc: 'softmax', topkMethod: 'greedy', nExpertGroups: 4, nLimitedGroups: 1, normTopkProb: false, routeScale: 16, nActivatedExperts: 3 }));
    expect(r.experts).toEqual([0, 1, 4]);
    r.weights.forEach((w, k) => expect(w).toBeCloseTo(p(r.experts[k]) * 16, 14));
  });

  it('group_limited_greedy: a group scores its best expert', () => {
    // groups of 2: {2.0,1.9} {0.5,0.4} {1.8,1.7} {0.3,1.75}; keep 2 → groups 0 and 2
    const r = route(logits, null, args({ scoreFunc: 'softmax', topkMethod: 'group_limited_greedy', nExpertGroups: 4, nLimitedGroups: 2, normTopkProb: false, routeScale: 1, nActivatedExperts: 4 }));
    expect(r.experts).toEqual([0, 1, 4, 5]);
  });

  it('norm_topk_prob renormalizes the selected softmax scores', () => {
    const r = route(logits, null, args({ scoreFunc: 'softmax', topkMethod: 'greedy', normTopkProb: true, routeScale: 1 }));
    expect(r.weights[0] + r.weights[1]).toBeCloseTo(1, 15);
    expect(r.weights[0] / r.weights[1]).toBeCloseTo(p(0) / p(1), 14);
  });
});
