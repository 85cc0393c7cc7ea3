// Launcher for shaders/router.wgsl: the MoE router (scores, group-limited top-k, weights) on the GPU.
//
// router():        bindings x [T, d] f32, W [E, d] f32, bias [E] f32 | ids [T, K] u32, weights [T, K] f32,
//                  usage [E] u32 (atomic) | params.
// routerSelect():  bindings logits [T, E] f32, bias [E] f32 | ids, weights, usage | params.
// Params (12 × 4 bytes, in order): tokens, dim, experts, top_k, n_group, topk_group, scoring (0 softmax,
// 1 sigmoid), method (0 greedy, 1 group_limited_greedy, 2 noaux_tc), norm_topk, has_bias, count_usage,
// scale (routed_scaling_factor, f32).
// Absent bias / usage are bound to placeholder buffers and switched off by has_bias / count_usage.
// ids of each token come in descending order of the biased score; ties go to the lower expert index.
import source from '../../../../shaders/router.wgsl?raw';
import { WebmoeError } from '../errors';
import { shapeFor, kernelUniform, type KernelContext, type KernelShape } from '../gpu/kernel-context';
import { ParamsWriter, createStorage } from '../gpu/buffers';
import { bindKernel, grid1d, type Dispatch } from '../gpu/pipelines';
import type { MoeConfig, TopkMethod } from '../model/config';

/** Invocations per workgroup in the 'workgroup' shape; also the most experts it handles (one per invocation). */
const WG = 256;
const ROW_WG = 64;
export const ROUTER_MAX_EXPERTS = 256;
export const ROUTER_MAX_TOP_K = 8;
export const ROUTER_MAX_GROUPS = 8;

/** The part of `ModelConfig.moe` the router reads. */
export type RouterConfig = Pick<MoeConfig,
  'nRoutedExperts' | 'topK' | 'nGroup' | 'topkGroup' | 'scoring' | 'topkMethod' | 'normTopkProb' | 'routedScalingFactor'>;

interface RouterOutputs {
  /** [tokens, topK] u32, written. */
  ids: GPUBuffer;
  /** [tokens, topK] f32, written. */
  weights: GPUBuffer;
  /** [E] u32: when given, usage[e] += 1 for every choice of e (never cleared here). */
  usage?: GPUBuffer | null;
  /** e_score_correction_bias [E] f32: added to the scores for selection only. */
  bias?: GPUBuffer | null;
  tokens: number;
  moe: RouterConfig;
  shape?: KernelShape;
}

export interface RouterArgs extends RouterOutputs {
  /** [tokens, dim] f32. */
  x: GPUBuffer;
  /** The router's gate weight [E, dim] f32. */
  weight: GPUBuffer;
  dim: number;
}

export interface RouterSelectArgs extends RouterOutputs {
  /** [tokens, E] f32, e.g. from the matmul family's GEMM for long prompts. */
  logits: GPUBuffer;
}

const METHOD: Record<TopkMethod, number> = { greedy: 0, group_limited_greedy: 1, noaux_tc: 2 };

/** Throws WebmoeError('model-format') naming the field when the kernel cannot route this config. */
export function checkRouterConfig(moe: RouterConfig): void {
  const fail = (field: string, why: string): never => {
    throw new WebmoeError('model-format', `router: ${field} ${why}`, { detail: { field } });
  };
  const E = moe.nRoutedExperts;
  if (E < 1 || E > ROUTER_MAX_EXPERTS) fail('n_routed_experts', `(${E}) must be 1 … ${ROUTER_MAX_EXPERTS}`);
  if (moe.topK < 1 || moe.topK > Math.min(ROUTER_MAX_TOP_K, E)) fail('num_experts_per_tok', `(${moe.topK}) must be 1 … ${Math.min(ROUTER_MAX_TOP_K, E)}`);
  if (moe.topkMethod === 'greedy') return;
  if (moe.nGroup < 1 || moe.nGroup > ROUTER_MAX_GROUPS || E % moe.nGroup !== 0) {
    fail('n_group', `(${moe.nGroup}) must divide n_routed_experts (${E}) and be at most ${ROUTER_MAX_GROUPS}`);
  }
  if (moe.topkGroup < 1 || moe.topkGroup > moe.nGroup) fail('topk_group', `(${moe.topkGroup}) must be 1 … n_group (${moe.nGroup})`);
  if (moe.nGroup > 1 && moe.topK > (E / moe.nGroup) * moe.topkGroup) fail('num_experts_per_tok', `(${moe.topK}) exceeds the experts in the ${moe.topkGroup} kept groups`);
  if (moe.nGroup > 1 && moe.topkMethod === 'noaux_tc' && E / moe.nGroup < 2) fail('n_group', 'leaves groups of one expert, but noaux_tc scores a group by its two best');
}

// Placeholders bound where bias or usage are absent: one read-only and one writable per device,
// since a buffer cannot be both in one dispatch.
const placeholders = new WeakMap<GPUDevice, { read: GPUBuffer; write: GPUBuffer }>();

function placeholder(device: GPUDevice): { read: GPUBuffer; write: GPUBuffer } {
  let p = placeholders.get(device);
  if (!p) {
    p = { read: createStorage(device, 'router:no-bias', 4), write: createStorage(device, 'router:no-usage', 4) };
    placeholders.set(device, p);
  }
  return p;
}

function params(a: RouterOutputs, dim: number): ParamsWriter {
  const m = a.moe;
  return new ParamsWriter()
    .u32(a.tokens).u32(dim).u32(m.nRoutedExperts).u32(m.topK)
    .u32(m.nGroup).u32(m.topkGroup).u32(m.scoring === 'sigmoid' ? 1 : 0).u32(METHOD[m.topkMethod])
    .u32(m.normTopkProb ? 1 : 0).u32(a.bias ? 1 : 0).u32(a.usage ? 1 : 0).f32(m.routedScalingFactor);
}

function launch(ctx: KernelContext, entry: 'router' | 'router_select', a: RouterOutputs, inputs: GPUBuffer[], dim: number, label: string): Dispatch {
  checkRouterConfig(a.moe);
  const shape = shapeFor(ctx, 'router', a.shape);
  const ph = placeholder(ctx.device);
  const pipeline = ctx.pipelines.get({
    kernel: 'router',
    entryPoint: `${entry}_${shape === 'row' ? 'row' : 'wg'}`,
    variant: shape,
    constants: shape === 'row' ? { ROW_WG } : { WG },
  }, source);
  const uniform = kernelUniform(ctx, `${label}:params`, params(a, dim));
  const outputs = [a.ids, a.weights, a.usage ?? ph.write];
  return {
    label,
    pipeline,
    bindGroup: bindKernel(ctx.device, label, pipeline, [...inputs, a.bias ?? ph.read], outputs, uniform),
    workgroups: grid1d(shape === 'row' ? Math.ceil(a.tokens / ROW_WG) : a.tokens),
  };
}

/** Router logits, scores and selection for `tokens` rows of x, in one dispatch. */
export function router(ctx: KernelContext, a: RouterArgs, label = 'router'): Dispatch {
  return launch(ctx, 'router', a, [a.x, a.weight], a.dim, label);
}

/** The same selection from precomputed logits [tokens, E]. */
export function routerSelect(ctx: KernelContext, a: RouterSelectArgs, label = 'router_select'): Dispatch {
  return launch(ctx, 'router_select', a, [a.logits], a.moe.nRoutedExperts, label);
}
