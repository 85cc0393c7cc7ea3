// Whether a model runs fully resident or with its routed experts paged (docs/paging.md), decided from the
// manifest and a GPU memory budget before any weight is requested: everything but the routed experts stays
// resident, and what the budget leaves goes to equal pools of expert slots per MoE layer. A budget that
// cannot hold even the resident part and the fewest slots a token needs is refused with the sizes.
import { WebmoeError } from '../errors';
import { alignedSize } from '../gpu/buffers';
import type { KvCacheFormat } from '../kernels/mla';
import type { Manifest } from '../model/manifest';
import type { BoundFamily } from './family';
import { kvFootprint } from './footprint';
import { GpuWeights } from './weights';

export interface PagingRequest {
  /** GPU bytes the model may take (weights, KV cache, scratch); absent: no limit. */
  gpuMemoryBudget?: number;
  /** Slots per MoE layer, instead of what the budget allows (tests, the bench); implies paging. */
  expertSlots?: number;
}

export interface PagingPlan {
  /** GPU expert slots per MoE layer (fewer than its experts). */
  slots: number;
  experts: number;
  topK: number;
  /** The prefill chunk, so that one chunk's choices fit a layer's slots (slots / topK tokens). */
  prefillChunk: number;
  /** The estimate the decision was made on: bytes of the resident part and of one slot in every MoE layer. */
  residentBytes: number;
  slotBytes: number;
}

const MIB = 2 ** 20;
const mib = (b: number) => `${(b / MIB).toFixed(1)} MiB`;

/** Bytes of everything but the routed experts at a prefill chunk: weights, KV cache, activations (estimated). */
function residentPart(manifest: Manifest, family: BoundFamily, contextLength: number, chunk: number, format: KvCacheFormat | undefined) {
  const weights = GpuWeights.plan(manifest);
  const kv = kvFootprint(manifest.model.config, [contextLength], format).at[0].bytes;
  const act = family.activationFloatsPerToken(contextLength);
  const scratch = chunk * act.total * 4 + (act.fixedBytes ?? 0) + 4 * manifest.model.config.vocabSize * 4;
  return { weights: weights.tensorBytes, experts: weights.expertBytes, kv, scratch, total: weights.tensorBytes + kv + scratch };
}

/**
 * The paging plan for `req`, or null when the model runs fully resident (no budget, or the whole model fits
 * it). Throws WebmoeError('insufficient-limits') naming the sizes when even paging cannot fit the budget.
 */
export function planPaging(manifest: Manifest, family: BoundFamily, req: PagingRequest,
  sizes: { contextLength: number; prefillChunk: number; kvCacheFormat?: KvCacheFormat; mtp: boolean }): PagingPlan | null {
  const { gpuMemoryBudget: budget, expertSlots } = req;
  if (budget === undefined && expertSlots === undefined) return null;
  if (budget !== undefined && !(Number.isFinite(budget) && budget > 0)) {
    throw new WebmoeError('invalid-request', `gpuMemoryBudget: must be a positive number of bytes, got ${budget}`);
  }
  const config = manifest.model.config;
  const full = residentPart(manifest, family, sizes.contextLength, sizes.prefillChunk, sizes.kvCacheFormat);
  if (expertSlots === undefined && full.total + full.experts <= budget!) return null;
  const needs = `weights ${mib(full.weights + full.experts)} (routed experts ${mib(full.experts)}), KV cache ${mib(full.kv)} for ${sizes.contextLength} positions, scratch about ${mib(full.scratch)}`;
  const moe = config.family === 'v4' ? null : config.moe;
  if (!moe || !manifest.experts.length) {
    if (budget === undefined) throw new WebmoeError('invalid-request', 'expertSlots: expert paging serves V2/V3 MoE models only');
    throw new WebmoeError('insufficient-limits', `This model needs about ${mib(full.total + full.experts)} of GPU memory (${needs}); the budget is ${mib(budget ?? 0)}, and expert paging serves V2/V3 MoE models only.`,
      { detail: { budget, needed: full.total + full.experts } });
  }
  if (sizes.mtp) throw new WebmoeError('invalid-request', 'expert paging runs without the MTP module: turn off mtp and speculative decoding, or raise the GPU memory budget');
  const layers = new Map<number, number>();
  let stride = 0;
  for (const e of manifest.experts) {
    if (e.mtp) continue;
    layers.set(e.layer, (layers.get(e.layer) ?? 0) + 1);
    stride = Math.max(stride, alignedSize(e.bytes, 256));
  }
  const E = moe.nRoutedExperts, K = moe.topK;
  const slotBytes = stride * layers.size;
  // A decode step needs topK slots per layer; a chunk of T tokens up to T·topK.
  const chunkFor = (slots: number) => Math.max(1, Math.min(sizes.prefillChunk, Math.floor(slots / K)));
  let slots = expertSlots ?? Math.min(E, Math.floor((budget! - residentPart(manifest, family, sizes.contextLength, 1, sizes.kvCacheFormat).total) / slotBytes));
  if (expertSlots !== undefined && !(Number.isInteger(expertSlots) && expertSlots >= K && expertSlots <= E)) {
    throw new WebmoeError('invalid-request', `expertSlots: must be an integer from top_k (${K}) to the experts per layer (${E}), got ${expertSlots}`);
  }
  if (slots < K) {
    const least = residentPart(manifest, family, sizes.contextLength, 1, sizes.kvCacheFormat).total + K * slotBytes;
    throw new WebmoeError('insufficient-limits',
      `A GPU memory budget of ${mib(budget!)} cannot hold this model even with its experts paged: it needs at least ${mib(least)} ` +
      `(weights without the routed experts ${mib(full.weights)}, KV cache ${mib(full.kv)} for ${sizes.contextLength} positions, ` +
      `${K} expert slots in each of ${layers.size} MoE layers ${mib(K * slotBytes)}, scratch); the whole model needs about ${mib(full.total + full.experts)} (${needs}).`,
      { detail: { budget, needed: least, weights: full.weights, experts: full.experts, kvCache: full.kv, slotBytes } });
  }
  const prefillChunk = slots >= E ? sizes.prefillChunk : chunkFor(slots);
  // The scratch of the chosen chunk comes out of the slots' share.
  if (expertSlots === undefined) {
    const rest = budget! - residentPart(manifest, family, sizes.contextLength, prefillChunk, sizes.kvCacheFormat).total;
    slots = Math.max(K, Math.min(slots, Math.floor(rest / slotBytes)));
  }
  return { slots, experts: E, topK: K, prefillChunk: slots >= E ? prefillChunk : Math.min(prefillChunk, chunkFor(slots)), residentBytes: full.total, slotBytes };
}
