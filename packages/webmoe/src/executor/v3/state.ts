// The GPU state of a V2/V3-family model (docs/architecture-v3.md): activations sized for the largest
// chunk, one latent cache buffer per layer, the RoPE table, the recorder of forward.ts, and on request the
// MTP module (mtp.ts).
import { createStorage, uploadStorage } from '../../gpu/buffers';
import type { KernelContext } from '../../gpu/kernel-context';
import type { Dispatch } from '../../gpu/pipelines';
import type { ModelConfig } from '../../model/config';
import { ropeTable } from '../../model/rope';
import { createLatentCache, kvCacheBytesPerToken, latentCacheLayout, type LatentCacheLayout } from '../../kernels/mla';
import type { Family, FamilyOptions, FamilyState, KvBytes } from '../family';
import { ExpertUsage } from '../expert-usage';
import type { GpuWeights } from '../weights';
import { activationFloatsPerToken, createActivations, type Activations } from './activations';
import { recordForward, type ForwardResources } from './forward';
import { V3Mtp } from './mtp';

export class V3State implements FamilyState {
  readonly act: Activations;
  readonly cacheLayout: LatentCacheLayout;
  private readonly cache: GPUBuffer[];
  private readonly ropeTable: GPUBuffer;
  readonly expertUsage: ExpertUsage;
  readonly mtp: V3Mtp | null;
  readonly pagedExperts: { routerIds: GPUBuffer; slots: GPUBuffer } | null;

  constructor(device: GPUDevice, private readonly config: ModelConfig, private readonly weights: GpuWeights, opts: FamilyOptions) {
    this.cacheLayout = latentCacheLayout(config, opts.contextLength, opts.kvCacheFormat);
    this.cache = createLatentCache(device, this.cacheLayout, config.numLayers);
    this.act = createActivations(device, config, opts.maxTokens, this.cacheLayout, { kernel: opts.mlaDecode, shape: opts.mlaShape });
    this.ropeTable = uploadStorage(device, 'rope_table', ropeTable(config.rope));
    const moeLayers = config.moe ? config.layers.flatMap((l, i) => (l.ffn === 'moe' ? [i] : [])) : [];
    const K = config.moe?.topK ?? 0;
    this.pagedExperts = opts.pagedExperts && K ? { routerIds: this.act.routerIds!, slots: createStorage(device, 'expert_slots', 4 * K * opts.maxTokens) } : null;
    this.expertUsage = new ExpertUsage(device, opts.collectExpertUsage ? moeLayers : [], config.moe?.nRoutedExperts ?? 0);
    this.mtp = opts.mtp
      ? new V3Mtp(device, config, opts.maxTokens, this.act.h, createLatentCache(device, this.cacheLayout, 1)[0], (ctx) => this.resources(ctx))
      : null;
  }

  get io() {
    return this.act;
  }

  get kvCacheBytes(): number {
    return this.cacheLayout.bytesPerLayer * this.config.numLayers + (this.mtp?.kvCacheBytes ?? 0);
  }

  get scratchBytes(): number {
    return this.act.buffers.bytes + this.ropeTable.size + this.expertUsage.bytes + (this.mtp?.scratchBytes ?? 0) + (this.pagedExperts?.slots.size ?? 0);
  }

  get kvBytesPerToken(): KvBytes {
    const { latent, mha } = kvCacheBytesPerToken(this.config, this.config.numLayers, this.cacheLayout.format);
    return { latent, mha };
  }

  record(ctx: KernelContext, tokens: number): Dispatch[] {
    return recordForward(this.resources(ctx), tokens);
  }

  recordAllLogits(ctx: KernelContext, tokens: number, logits: GPUBuffer): Dispatch[] {
    return recordForward(this.resources(ctx), tokens, { allLogits: logits });
  }

  private resources(ctx: KernelContext): ForwardResources {
    return {
      ctx, config: this.config, weights: this.weights, act: this.act, cache: this.cache,
      cacheLayout: this.cacheLayout, ropeTable: this.ropeTable, usage: this.expertUsage.buffers,
      ...(this.pagedExperts ? { expertSlots: this.pagedExperts.slots } : {}),
    };
  }

  destroy(): void {
    for (const c of this.cache) c.destroy();
    this.act.buffers.destroy();
    this.expertUsage.destroy();
    this.ropeTable.destroy();
    this.mtp?.destroy();
    this.pagedExperts?.slots.destroy();
  }
}

export const V3_FAMILY: Family<ModelConfig> = {
  activationFloatsPerToken: (config, contextLength) => activationFloatsPerToken(config, contextLength),
  largestCacheBinding: (config, contextLength) => latentCacheLayout(config, contextLength).bytesPerLayer,
  create: (device, config, weights, opts) => new V3State(device, config, weights, opts),
};
