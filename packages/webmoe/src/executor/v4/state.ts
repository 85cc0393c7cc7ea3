// The GPU state of a DeepSeek-V4 model (docs/architecture-v4.md): activations, the per-layer-kind KV
// caches, the two RoPE tables, the recorder of forward.ts, and on request the MTP module (mtp.ts).
import { BufferGroup } from '../../gpu/buffers';
import type { KernelContext } from '../../gpu/kernel-context';
import type { Dispatch } from '../../gpu/pipelines';
import type { V4Config } from '../../model/config-v4';
import { ropeTable } from '../../model/rope';
import type { Family, FamilyOptions, FamilyState, KvBytes } from '../family';
import { ExpertUsage } from '../expert-usage';
import type { GpuWeights } from '../weights';
import { createV4Activations, v4ActivationFloatsPerToken, type V4Activations } from './activations';
import { v4MaxRewind, createV4Caches, v4CacheLayout, v4KvBytesPerToken, v4LayerBytes, type V4CacheLayout, type V4LayerCache } from './caches';
import { recordV4Forward, type V4ForwardResources } from './forward';
import { V4Mtp } from './mtp';

export class V4State implements FamilyState {
  readonly act: V4Activations;
  readonly layout: V4CacheLayout;
  readonly caches: V4LayerCache[];
  readonly expertUsage: ExpertUsage;
  readonly mtp: V4Mtp | null;
  readonly maxRewind: number;
  private readonly tables: { swa: GPUBuffer; compressed: GPUBuffer };
  private readonly ones: GPUBuffer;
  /** The caches' buffers, and the fixed inputs' (RoPE tables, ones). */
  private readonly kv: BufferGroup;
  private readonly fixed: BufferGroup;

  constructor(device: GPUDevice, private readonly config: V4Config, private readonly weights: GpuWeights, opts: FamilyOptions) {
    this.layout = v4CacheLayout(config, opts.maxTokens);
    this.maxRewind = v4MaxRewind(opts.maxTokens);
    this.kv = new BufferGroup(device, 'kv:');
    this.caches = createV4Caches(this.kv, config, config.layers, opts.contextLength, opts.maxTokens);
    this.act = createV4Activations(device, config, opts.maxTokens, opts.contextLength);
    // The MTP block counts too: V4-Pro's main layers are all compressed, its MTP block is window-only.
    const all = [...config.layers, ...config.mtpLayers];
    const swa = all.find((l) => l.attention === 'swa')?.rope ?? all[0].rope;
    const compressed = all.find((l) => l.attention !== 'swa')?.rope ?? swa;
    this.fixed = new BufferGroup(device);
    this.tables = { swa: this.fixed.upload('rope_table:swa', ropeTable(swa)), compressed: this.fixed.upload('rope_table:compressed', ropeTable(compressed)) };
    this.ones = this.fixed.upload('ones', new Float32Array(config.headDim).fill(1));
    const layers = config.layers.map((_, i) => i);
    this.expertUsage = new ExpertUsage(device, opts.collectExpertUsage ? layers : [], config.moe.nRoutedExperts);
    this.mtp = opts.mtp ? new V4Mtp(device, config, opts.contextLength, opts.maxTokens, this.act.streams[0], (ctx) => this.resources(ctx)) : null;
  }

  get io() {
    return this.act;
  }

  get kvCacheBytes(): number {
    return this.kv.bytes + (this.mtp?.kvCacheBytes ?? 0);
  }

  get scratchBytes(): number {
    return this.act.buffers.bytes + this.fixed.bytes + this.expertUsage.bytes + (this.mtp?.scratchBytes ?? 0);
  }

  /** Bytes per cached token (compressed entries and indexer keys), against an uncompressed multi-head cache. */
  get kvBytesPerToken(): KvBytes {
    const c = this.config;
    return { latent: v4KvBytesPerToken(c).total, mha: c.numLayers * 2 * c.numHeads * c.headDim * 4 };
  }

  private resources(ctx: KernelContext): V4ForwardResources {
    return {
      ctx, config: this.config, weights: this.weights, act: this.act, layout: this.layout, caches: this.caches,
      tables: this.tables, ones: this.ones, usage: this.expertUsage.buffers,
    };
  }

  record(ctx: KernelContext, tokens: number): Dispatch[] {
    return recordV4Forward(this.resources(ctx), tokens);
  }

  recordAllLogits(ctx: KernelContext, tokens: number, logits: GPUBuffer): Dispatch[] {
    return recordV4Forward(this.resources(ctx), tokens, logits);
  }

  destroy(): void {
    this.mtp?.destroy();
    this.kv.destroy();
    this.act.buffers.destroy();
    this.expertUsage.destroy();
    this.fixed.destroy();
  }
}

export const V4_FAMILY: Family<V4Config> = {
  // The indexer's scores grow with the context, so a chunk's activations do too.
  activationFloatsPerToken: v4ActivationFloatsPerToken,
  largestCacheBinding: (config, contextLength, maxTokens) => Math.max(...config.layers.map((l) => {
    const b = v4LayerBytes(config, l, contextLength, maxTokens);
    return Math.max(b.window, b.compressed, b.compressorState, b.indexKeys, b.indexState);
  })),
  create: (device, config, weights, opts) => new V4State(device, config, weights, opts),
};
