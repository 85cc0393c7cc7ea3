// How big the model's GPU state may be on this adapter: the context the KV cache holds, the prefill chunk,
// and an early, plain-words refusal when one buffer would exceed what the adapter can bind.
import { WebmoeError } from '../errors';
import type { GpuContext } from '../gpu/device';
import type { AnyModelConfig } from '../model/config';
import type { Manifest } from '../model/manifest';
import { checkRouterConfig } from '../kernels/router';
import type { BoundFamily } from './family';
import { v4Router } from './v4/forward';
import { bindingLimit, checkWeightBindings, type BindingOptions } from './split-buffers';

/** Positions the KV cache holds when the application does not say: enough for chat, small enough for a tab. */
export const DEFAULT_CONTEXT = 4096;

// Bigger chunks read each weight once for more tokens (a 64-token chunk of a 256-expert model touches
// nearly every expert for 2 tokens each; 512 gives them 16) at the cost of activation memory.
const MAX_PREFILL_CHUNK = 512;
const PREFILL_SCRATCH_BYTES = 256 * 2 ** 20;

/** The largest power of two ≤ 512 whose activations fit 256 MiB and every buffer one binding. */
export function defaultPrefillChunk(family: BoundFamily, contextLength: number, maxBinding: number): number {
  const { total, largest } = family.activationFloatsPerToken(contextLength);
  let chunk = MAX_PREFILL_CHUNK;
  while (chunk > 1 && (chunk * total * 4 > PREFILL_SCRATCH_BYTES || chunk * largest * 4 > maxBinding)) chunk /= 2;
  return chunk;
}

export function contextLengthOf(config: Pick<AnyModelConfig, 'maxPositionEmbeddings'>, requested: number | undefined): number {
  return Math.max(1, Math.min(requested ?? DEFAULT_CONTEXT, config.maxPositionEmbeddings));
}

/**
 * Throws WebmoeError('model-format') naming the field when the router kernel cannot route this config (too
 * many experts, top-k or groups): found when the config is read, not when the first layer is recorded.
 */
export function checkRouting(config: AnyModelConfig): void {
  if (config.family === 'v4') checkRouterConfig(v4Router(config.moe));
  else if (config.moe) checkRouterConfig(config.moe);
}

export interface LimitOptions extends BindingOptions {
  /** A lower binding limit for the weights (GpuModelOptions.maxBindingBytes). */
  maxBindingBytes?: number;
}

/**
 * Fails early, in plain words, before any weight is fetched: a router the kernels cannot run, a weight
 * buffer that exceeds what this adapter can bind and cannot be split (split-buffers.ts), or a KV cache layer
 * that does.
 */
export function checkLimits(gpu: GpuContext, manifest: Manifest, family: BoundFamily, contextLength: number, maxTokens: number, opts: LimitOptions = {}): void {
  checkRouting(manifest.model.config);
  checkWeightBindings(manifest, bindingLimit(gpu.device, opts.maxBindingBytes), opts);
  const limit = bindingLimit(gpu.device);
  const kvLayer = family.largestCacheBinding(contextLength, maxTokens);
  if (kvLayer > limit) {
    throw new WebmoeError('insufficient-limits',
      `This model needs a KV cache layer of ${(kvLayer / 2 ** 20).toFixed(1)} MiB at this context; this GPU binds at most ${(limit / 2 ** 20).toFixed(1)} MiB.`,
      { detail: { needed: kvLayer, limit } });
  }
}
