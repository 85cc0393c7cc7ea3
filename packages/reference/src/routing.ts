// DeepSeekMoE routing: which experts a token goes to and with what weight (docs/architecture-v3.md#routing).
import type { ReferenceArgs } from './args';
import { sigmoid, softmaxInPlace, topIndices } from './math';

export interface RoutingDecision {
  /** Selected routed experts, best first by the selection score (biased for noaux_tc); ties: lower id first. */
  experts: number[];
  /** Their weights in the MoE sum: unbiased scores, renormalized if normTopkProb, times routeScale. */
  weights: number[];
}

/**
 * Routes one token from its router logits (gate.weight · x).
 * - scores: softmax (V2) or sigmoid (V3) of the logits.
 * - selection scores: scores + e_score_correction_bias when there is a bias (noaux_tc), else the scores.
 * - group_limited_greedy / noaux_tc with n_group > 1: a group's score is its best selection score
 *   (group_limited_greedy) or the sum of its best two (noaux_tc); the experts of all but the best topk_group
 *   groups are excluded (−inf, as DeepSeek's code does; Hugging Face zeroes them, which differs only when
 *   fewer than k selection scores in the kept groups are positive). greedy ignores groups.
 * - top-k experts by selection score; weights are their unbiased scores.
 */
export function route(logits: Float64Array, bias: Float64Array | null, args: ReferenceArgs): RoutingDecision {
  const E = args.nRoutedExperts;
  const scores = new Float64Array(logits);
  if (args.scoreFunc === 'softmax') softmaxInPlace(scores);
  else for (let e = 0; e < E; e++) scores[e] = sigmoid(logits[e]);

  const select = new Float64Array(scores);
  if (bias) for (let e = 0; e < E; e++) select[e] += bias[e];

  const G = args.nExpertGroups;
  if (args.topkMethod !== 'greedy' && G > 1) {
    const perGroup = E / G;
    const groupScore = new Float64Array(G);
    for (let g = 0; g < G; g++) {
      const members = select.subarray(g * perGroup, (g + 1) * perGroup);
      const best = topIndices(members, args.topkMethod === 'noaux_tc' ? 2 : 1);
      groupScore[g] = best.reduce((s, i) => s + members[i], 0);
    }
    const kept = new Set(topIndices(groupScore, args.nLimitedGroups));
    for (let e = 0; e < E; e++) if (!kept.has(Math.floor(e / perGroup))) select[e] = -Infinity;
  }

  const experts = topIndices(select, args.nActivatedExperts);
  let weights = experts.map((e) => scores[e]);
  if (args.normTopkProb) {
    const sum = weights.reduce((a, b) => a + b, 0);
    weights = weights.map((w) => w / sum);
  }
  return { experts, weights: weights.map((w) => w * args.routeScale) };
}
