// What GpuModel needs from an architecture family (V2/V3's MLA, V4's compressed sparse attention): its
// GPU state (activations, KV caches, tables), the recorder of its forward pass, and its sizes. GpuModel
// owns what every family shares — the weights, the sampler, plans, the decode loop — so that a reader
// sees one model at a time in the family's own folder.
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import type { ExpertUsage } from './expert-usage';
import type { GpuWeights } from './weights';

/** The buffers GpuModel drives every call through. */
export interface FamilyIo {
  /** u32 [maxTokens]: the token ids of the call. */
  ids: GPUBuffer;
  /** u32 [4]: [0] = position of the call's first token. */
  positions: GPUBuffer;
  /** f32 [vocab]: logits after the call's last token. */
  logits: GPUBuffer;
  /** u32 [4]: [0] = the sampled id. */
  sampled: GPUBuffer;
}

/** KV-cache bytes per cached token: the cache this family keeps, and a standard multi-head cache of the same model. */
export interface KvBytes {
  latent: number;
  mha: number;
}

export interface FamilyState {
  readonly io: FamilyIo;
  /** GPU bytes of the KV caches (all layers) and of everything else the family allocated. */
  readonly kvCacheBytes: number;
  readonly scratchBytes: number;
  readonly kvBytesPerToken: KvBytes;
  /** Per MoE layer, the expert counters the router adds to (read for the demo's heatmap). */
  readonly expertUsage: ExpertUsage;
  /** The forward pass of a call of `tokens` tokens at positions[0] …, leaving the last token's logits in io.logits. */
  record(ctx: KernelContext, tokens: number): Dispatch[];
  destroy(): void;
}

export interface FamilyOptions {
  /** Positions the KV caches hold. */
  contextLength: number;
  /** Most tokens of one call (the prefill chunk). */
  maxTokens: number;
  collectExpertUsage: boolean;
}

/** A family's sizes before anything is allocated, and the constructor of its state. */
export interface Family<C> {
  /** Activation floats per token of a chunk (all buffers), and the largest single buffer's, at this context. */
  activationFloatsPerToken(config: C, contextLength: number): { total: number; largest: number };
  /** The largest KV-cache buffer (bytes) one layer needs for `contextLength` positions. */
  largestCacheBinding(config: C, contextLength: number, maxTokens: number): number;
  create(device: GPUDevice, config: C, weights: GpuWeights, opts: FamilyOptions): FamilyState;
}

/** A family together with the config it serves: what GpuModel and the sizing code hold. */
export interface BoundFamily {
  activationFloatsPerToken(contextLength: number): { total: number; largest: number };
  largestCacheBinding(contextLength: number, maxTokens: number): number;
  create(device: GPUDevice, weights: GpuWeights, opts: FamilyOptions): FamilyState;
}

export function bindFamily<C>(family: Family<C>, config: C): BoundFamily {
  return {
    activationFloatsPerToken: (contextLength) => family.activationFloatsPerToken(config, contextLength),
    largestCacheBinding: (contextLength, maxTokens) => family.largestCacheBinding(config, contextLength, maxTokens),
    create: (device, weights, opts) => family.create(device, config, weights, opts),
  };
}
