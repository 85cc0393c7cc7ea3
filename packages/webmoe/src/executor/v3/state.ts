// The GPU state of a V2/V3-family model (docs/architecture-v3.md): activations sized for the largest
// chunk, one latent cache buffer per layer, the RoPE table, and the recorder of forward.ts.
import { uploadStorage } from '../../gpu/buffers';
import type { KernelContext } from '../../gpu/kernel-context';
import type { Dispatch } from '../../gpu/pipelines';
import type { ModelConfig } from '../../model/config';
import { ropeTable } from '../../model/rope';
import { createLatentCache, kvCacheBytesPerToken, latentCacheLayout, type LatentCacheLayout } from '../../kernels/mla';
import type { Family, FamilyOptions, FamilyState, KvBytes } from '../family';
import { ExpertUsage } from '../expert-usage';
import type { GpuWeights } from '../weights';
import { activationFloatsPerToken, createActivations, type Activations } from './activations';
import { recordForward } from './forward';

export class V3State implements FamilyState {
  readonly act: Activations;
  readonly cacheLayout: LatentCacheLayout;
  private readonly cache: GPUBuffer[];
  private readonly ropeTable: GPUBuffer;
  readonly expertUsage: ExpertUsage;

  constructor(device: GPUDevice, private readonly config: ModelConfig, private readonly weights: GpuWeights, opts: FamilyOptions) {
    this.cacheLayout = latentCacheLayout(config, opts.contextLength);
    this.cache = createLatentCache(device, this.cacheLayout, config.numLayers);
    this.act = createActivations(device, config, opts.maxTokens);
    this.ropeTable = uploadStorage(device, 'rope_table', ropeTable(config.rope));
    const moeLayers = config.moe ? config.layers.flatMap((l, i) => (l.ffn === 'moe' ? [i] : [])) : [];
    this.expertUsage = new ExpertUsage(device, opts.collectExpertUsage ? moeLayers : [], config.moe?.nRoutedExperts ?? 0);
  }

  get io() {
    return this.act;
  }

  get kvCacheBytes(): number {
    return this.cacheLayout.bytesPerLayer * this.config.numLayers;
  }

  get scratchBytes(): number {
    return this.act.buffers.bytes + this.ropeTable.size + this.expertUsage.bytes;
  }

  get kvBytesPerToken(): KvBytes {
    const { latent, mha } = kvCacheBytesPerToken(this.config);
    return { latent, mha };
  }

  record(ctx: KernelContext, tokens: number): Dispatch[] {
    return recordForward({
      ctx, config: this.config, weights: this.weights, act: this.act, cache: this.cache,
      cacheLayout: this.cacheLayout, ropeTable: this.ropeTable, usage: this.expertUsage.buffers,
    }, tokens);
  }

  destroy(): void {
    for (const c of this.cache) c.destroy();
    this.act.buffers.destroy();
    this.expertUsage.destroy();
    this.ropeTable.destroy();
  }
}

export const V3_FAMILY: Family<ModelConfig> = {
  activationFloatsPerToken: (config) => activationFloatsPerToken(config),
  largestCacheBinding: (config, contextLength) => latentCacheLayout(config, contextLength).bytesPerLayer,
  create: (device, config, weights, opts) => new V3State(device, config, weights, opts),
};
