// Launcher for shaders/router.wgsl: the MoE router's selection (scores, group-limited top-k or a token
// table, weights) on the GPU, from logits the matmul family computed.
//
// Bindings: logits [T, E] f32, bias [E] f32, table [V, K] u32, token ids u32 | ids [T, K] u32,
// weights [T, K] f32, usage [E] u32 (atomic) | params (13 × 4 bytes, in order): tokens, experts, top_k,
// n_group, topk_group, scoring (0 softmax, 1 sigmoid, 2 sqrtsoftplus), method (0 greedy,
// 1 group_limited_greedy, 2 noaux_tc), norm_topk, has_bias, count_usage, hashed, token_offset,
// scale (routed_scaling_factor, f32).
// Absent bias, table, token ids and usage are bound to placeholder buffers and switched off by
// has_bias / hashed / count_usage.
// ids of each token come in descending order of the biased score, ties to the lower expert index; with
// a table, in the table's order.
import source from '../../../../shaders/router.wgsl?raw';
import { WebmoeError } from '../errors';
import { shapeFor, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import { grid1d, type Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import type { MoeConfig, ScoringFunc, TopkMethod } from '../model/config';
import { launchKernel } from './dispatch';
import { fits } from './product';
import { placeholder } from './placeholders';
import { GRID, WORKGROUP_REDUCE } from './wgsl-lib';

/** Invocations per workgroup in the 'workgroup' shape (each takes experts i, i + WG, …). */
const WG = 256;
const ROW_WG = 64;
/** The 'workgroup' shape's score arrays (MAX_E in the shader); the 'row' shape has no bound of its own. */
export const ROUTER_MAX_EXPERTS = 512;
export const ROUTER_MAX_TOP_K = 8;
export const ROUTER_MAX_GROUPS = 8;

/** The part of `ModelConfig.moe` the router reads. */
export type RouterConfig = Pick<MoeConfig,
  'nRoutedExperts' | 'topK' | 'nGroup' | 'topkGroup' | 'scoring' | 'topkMethod' | 'normTopkProb' | 'routedScalingFactor'>;

/** Routing by a stored table (DeepSeek-V4's first `num_hash_layers` layers): ids[t] = table[tokenIds[t]]. */
export interface RouterHash {
  /** tid2eid [vocab, topK] u32: the experts of each token id, row by row. */
  table: GPUBuffer;
  /** u32 token ids, `tokens` of them from tokenIdsOffset (elements). */
  tokenIds: GPUBuffer;
  tokenIdsOffset?: number;
}

export interface RouterSelectArgs {
  /** [tokens, E] f32, e.g. from the matmul family's GEMM. */
  logits: GPUBuffer;
  /** [tokens, topK] u32, written. */
  ids: GPUBuffer;
  /** [tokens, topK] f32, written. */
  weights: GPUBuffer;
  /** [E] u32: when given, usage[e] += 1 for every choice of e (never cleared here). */
  usage?: GPUBuffer | null;
  /** e_score_correction_bias / gate.bias [E] f32: added to the scores for selection only. */
  bias?: GPUBuffer | null;
  /** When given, the table chooses the experts (scores still give the weights); bias and groups are unused. */
  hash?: RouterHash | null;
  tokens: number;
  moe: RouterConfig;
  shape?: KernelShape;
}

const SCORING: Record<ScoringFunc, number> = { softmax: 0, sigmoid: 1, sqrtsoftplus: 2 };
const METHOD: Record<TopkMethod, number> = { greedy: 0, group_limited_greedy: 1, noaux_tc: 2 };

/** Throws WebmoeError('model-format') naming the field when the kernel cannot route this config. */
export function checkRouterConfig(moe: RouterConfig): void {
  const fail = (field: string, why: string): never => {
    throw new WebmoeError('model-format', `router: ${field} ${why}`, { detail: { field } });
  };
  const E = moe.nRoutedExperts;
  if (E < 1 || E > ROUTER_MAX_EXPERTS) fail('n_routed_experts', `(${E}) must be 1 … ${ROUTER_MAX_EXPERTS}`);
  if (moe.topK < 1 || moe.topK > Math.min(ROUTER_MAX_TOP_K, E)) fail('num_experts_per_tok', `(${moe.topK}) must be 1 … ${Math.min(ROUTER_MAX_TOP_K, E)}`);
  if (!(moe.scoring in SCORING)) fail('scoring_func', `(${String(moe.scoring)}) must be one of ${Object.keys(SCORING).join(', ')}`);
  if (moe.topkMethod === 'greedy') return;
  if (moe.nGroup < 1 || moe.nGroup > ROUTER_MAX_GROUPS || E % moe.nGroup !== 0) {
    fail('n_group', `(${moe.nGroup}) must divide n_routed_experts (${E}) and be at most ${ROUTER_MAX_GROUPS}`);
  }
  if (moe.topkGroup < 1 || moe.topkGroup > moe.nGroup) fail('topk_group', `(${moe.topkGroup}) must be 1 … n_group (${moe.nGroup})`);
  if (moe.nGroup > 1 && moe.topK > (E / moe.nGroup) * moe.topkGroup) fail('num_experts_per_tok', `(${moe.topK}) exceeds the experts in the ${moe.topkGroup} kept groups`);
  if (moe.nGroup > 1 && moe.topkMethod === 'noaux_tc' && E / moe.nGroup < 2) fail('n_group', 'leaves groups of one expert, but noaux_tc scores a group by its two best');
}

const SOURCE = composeWgsl(wgslPiece('router', source, [GRID, WORKGROUP_REDUCE]));

/** Scores, the choice of experts (top-k or a token table) and routing weights of `tokens` rows of logits [tokens, E], in one dispatch. */
export function routerSelect(ctx: KernelContext, a: RouterSelectArgs, label = 'router_select'): Dispatch {
  checkRouterConfig(a.moe);
  const m = a.moe;
  const E = m.nRoutedExperts;
  const K = m.topK;
  const hash = a.hash ?? null;
  const offset = hash?.tokenIdsOffset ?? 0;
  if (a.tokens > 0) {
    fits(a.logits, 4 * a.tokens * E, 'logits', label);
    fits(a.ids, 4 * a.tokens * K, 'ids', label);
    fits(a.weights, 4 * a.tokens * K, 'weights', label);
    if (hash) fits(hash.tokenIds, 4 * (offset + a.tokens), 'token ids', label);
  }
  // Buffers are padded, so only a table without one whole row is known to be wrong here.
  if (hash) fits(hash.table, 4 * K, 'tid2eid', label);
  if (a.bias) fits(a.bias, 4 * E, 'bias', label);
  if (a.usage) fits(a.usage, 4 * E, 'usage', label);
  const shape = shapeFor(ctx, 'router', a.shape);
  const ph = placeholder(ctx.device);
  const params = new ParamsWriter()
    .u32(a.tokens).u32(E).u32(K)
    .u32(m.nGroup).u32(m.topkGroup).u32(SCORING[m.scoring]).u32(METHOD[m.topkMethod])
    .u32(m.normTopkProb ? 1 : 0).u32(a.bias ? 1 : 0).u32(a.usage ? 1 : 0).u32(hash ? 1 : 0).u32(offset)
    .f32(m.routedScalingFactor);
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: shape === 'row' ? 'router_select_row' : 'router_select_wg',
    variant: shape,
    constants: shape === 'row' ? { ROW_WG } : { WG },
    inputs: [a.logits, a.bias ?? ph.read, hash?.table ?? ph.read, hash?.tokenIds ?? ph.read],
    outputs: [a.ids, a.weights, a.usage ?? ph.write],
    params,
    workgroups: grid1d(shape === 'row' ? Math.ceil(a.tokens / ROW_WG) : a.tokens),
  });
}
