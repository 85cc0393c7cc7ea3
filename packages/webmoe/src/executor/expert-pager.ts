// Expert paging (docs/paging.md): each MoE layer's routed experts live in a pool of GPU slots
// (weights.ts WeightOptions.expertSlots). Before a layer's expert kernels run, the pager gets the router's
// choices, gives each chosen expert a slot (expert-slots.ts), copies the missing experts into their slots
// from a bounded host cache (expert-host-cache.ts) or, on a host miss, from the stored shards by byte
// range, and returns the slot of each choice for the kernels to read in place of the expert id.
import { WebmoeError } from '../errors';
import { alignedSize } from '../gpu/buffers';
import { rangePieces, type Manifest, type ManifestExpert } from '../model/manifest';
import { HostExpertCache } from './expert-host-cache';
import { ExpertSlotTable } from './expert-slots';
import type { GpuWeights } from './weights';

/** Reads `bytes` bytes of shard `shard` from `offset` (the browser cache's stored chunks, a file, …). */
export type ReadShardRange = (shard: number, offset: number, bytes: number) => Promise<Uint8Array>;

/** Host memory kept for paged-in experts when the application does not say. */
export const DEFAULT_HOST_CACHE_BYTES = 512 * 2 ** 20;

export interface PagingStats {
  /** GPU slots per MoE layer, and experts per layer. */
  slotsPerLayer: number;
  experts: number;
  /** GPU bytes of the slot pools (all layers). */
  poolBytes: number;
  /** Distinct experts chosen per call and layer, summed; and how many were in a GPU slot already. */
  lookups: number;
  hits: number;
  /** Bytes copied into GPU slots. */
  bytesUploaded: number;
  /** Experts paged in from host memory, and from storage (bytes read there). */
  hostHits: number;
  storageReads: number;
  bytesRead: number;
  hostCacheBytes: number;
  hostCacheLimit: number;
  /** Tokens fed through the paged forward pass. */
  tokens: number;
}

export class ExpertPager {
  private readonly tables = new Map<number, ExpertSlotTable>();
  private readonly ranges = new Map<string, ManifestExpert>();
  private readonly host: HostExpertCache;
  private counts = { lookups: 0, hits: 0, bytesUploaded: 0, hostHits: 0, storageReads: 0, bytesRead: 0, tokens: 0 };

  constructor(private readonly device: GPUDevice, private readonly manifest: Manifest, private readonly weights: GpuWeights,
    readonly slots: number, private readonly read: ReadShardRange, hostCacheBytes = DEFAULT_HOST_CACHE_BYTES) {
    this.host = new HostExpertCache(hostCacheBytes);
    const perLayer = new Map<number, number>();
    for (const e of manifest.experts) {
      if (e.mtp) continue;
      this.ranges.set(key(e.layer, e.expert), e);
      perLayer.set(e.layer, (perLayer.get(e.layer) ?? 0) + 1);
    }
    for (const [layer, experts] of perLayer) this.tables.set(layer, new ExpertSlotTable(experts, slots));
  }

  /** The MoE layers whose experts are paged. */
  get layers(): number[] {
    return [...this.tables.keys()];
  }

  /** Counts a call of `tokens` tokens (for bytes per token). */
  countTokens(tokens: number): void {
    this.counts.tokens += tokens;
  }

  /**
   * Slots for a call's choices at `layer` (the router's ids, [tokens·topK]), with the missing experts
   * written into their slots on the queue, so that work submitted after this resolves sees them.
   */
  async slotsFor(layer: number, ids: Uint32Array): Promise<Uint32Array> {
    const table = this.tables.get(layer);
    if (!table) throw new WebmoeError('internal', `expert paging: layer ${layer} has no paged experts`);
    const a = table.assign(ids);
    this.counts.lookups += a.lookups;
    this.counts.hits += a.hits;
    const ex = this.weights.experts(layer);
    const data = await Promise.all(a.loads.map((l) => this.expertBytes(layer, l.expert)));
    a.loads.forEach((l, i) => {
      this.device.queue.writeBuffer(ex.buffer, l.slot * ex.strideBytes, data[i] as Uint8Array<ArrayBuffer>);
      this.counts.bytesUploaded += data[i].byteLength;
    });
    return a.slots;
  }

  private async expertBytes(layer: number, expert: number): Promise<Uint8Array> {
    const k = key(layer, expert);
    const cached = this.host.get(k);
    if (cached) {
      this.counts.hostHits++;
      return cached;
    }
    const range = this.ranges.get(k);
    if (!range) throw new WebmoeError('model-format', `manifest.json lists no bytes for expert ${expert} of layer ${layer}`);
    // writeBuffer copies whole words: the last piece is padded to 4 bytes.
    const out = new Uint8Array(alignedSize(range.bytes, 4));
    let at = 0;
    for (const p of rangePieces(this.manifest.shards, range)) {
      const piece = await this.read(p.shard, p.offset, p.bytes);
      if (piece.byteLength !== p.bytes) {
        throw new WebmoeError('integrity', `expert ${expert} of layer ${layer}: read ${piece.byteLength} bytes of ${this.manifest.shards[p.shard].file} at ${p.offset}, expected ${p.bytes}`);
      }
      out.set(piece, at);
      at += p.bytes;
    }
    this.counts.storageReads++;
    this.counts.bytesRead += range.bytes;
    this.host.set(k, out);
    return out;
  }

  stats(): PagingStats {
    let poolBytes = 0;
    for (const l of this.tables.keys()) poolBytes += this.weights.experts(l).buffer.size;
    const experts = this.tables.values().next().value?.experts ?? 0;
    return {
      slotsPerLayer: this.slots, experts, poolBytes, ...this.counts,
      hostCacheBytes: this.host.bytes, hostCacheLimit: this.host.limitBytes,
    };
  }

  resetStats(): void {
    this.counts = { lookups: 0, hits: 0, bytesUploaded: 0, hostHits: 0, storageReads: 0, bytesRead: 0, tokens: 0 };
  }
}

function key(layer: number, expert: number): string {
  return `${layer}:${expert}`;
}
