// What is cached, per model: a record (source URL, shard list, small files) next to the shards themselves
// (chunk records, chunks.ts). The application-facing cache API (list, bytes used, delete, persistent
// storage) reads only keys and records, never shard contents.
import { WebmoeError } from '../../errors';
import { checkChunkBytes, DEFAULT_CHUNK_BYTES } from './chunks';
import { formatBytes, type ShardEntry } from './shards';
import { chunkKeyOf, idbCacheStore, isShardKeyOf, keyOf, type CacheStore } from './store';

export interface ModelRecord {
  readonly id: string;
  readonly url: string;
  readonly shards: readonly ShardEntry[];
  /** Small files (manifest.json, tokenizer.json, ...) kept for offline loads. */
  readonly files: readonly string[];
  readonly updatedAt: number;
  /** The browser's answer when persistent storage was asked for on storing this model (asked once). */
  readonly persisted?: boolean;
}

export interface CachedModel {
  readonly id: string;
  readonly url: string;
  readonly shardsTotal: number;
  readonly shardsCached: number;
  readonly bytesTotal: number;
  readonly bytesCached: number;
  /** Every shard is cached: the model loads without the network. */
  readonly complete: boolean;
  readonly updatedAt: number;
  readonly persisted?: boolean;
}

/** The parts of navigator.storage the cache uses (injectable: tests simulate a full disk). */
export interface StorageLike {
  estimate(): Promise<StorageEstimate>;
  persist?(): Promise<boolean>;
  persisted?(): Promise<boolean>;
}

export interface ModelCacheOptions {
  readonly store?: CacheStore;
  /** Defaults to navigator.storage where it exists. */
  readonly storage?: StorageLike | null;
  /** Bytes per stored chunk (a multiple of 256); default 8 MiB. The host memory a load holds per shard. */
  readonly chunkBytes?: number;
  /** Persistent storage is asked for (once per model) when a model at least this large is stored; default 1 GiB. */
  readonly persistAboveBytes?: number;
}

function defaultStorage(): StorageLike | null {
  return typeof navigator !== 'undefined' && 'storage' in navigator ? navigator.storage : null;
}

export class ModelCache {
  readonly store: CacheStore;
  readonly storage: StorageLike | null;
  readonly chunkBytes: number;
  readonly persistAboveBytes: number;
  /** Bytes the loaders of this cache have hashed: a load from verified chunks adds nothing (tests read it). */
  bytesHashed = 0;

  constructor(options: ModelCacheOptions = {}) {
    this.store = options.store ?? idbCacheStore();
    this.storage = options.storage === undefined ? defaultStorage() : options.storage;
    this.chunkBytes = checkChunkBytes(options.chunkBytes ?? DEFAULT_CHUNK_BYTES);
    this.persistAboveBytes = options.persistAboveBytes ?? 2 ** 30;
  }

  /** Every model with a record, with how much of it is cached. */
  async list(): Promise<CachedModel[]> {
    const keys = new Set(await this.store.keys());
    const out: CachedModel[] = [];
    for (const k of keys) {
      if (!k.startsWith('model/')) continue;
      const r = await this.store.get<ModelRecord>(k);
      if (!r) continue;
      const cached = r.shards.filter((s) => keys.has(keyOf.shard(r.id, s.sha256)));
      out.push({
        id: r.id,
        url: r.url,
        shardsTotal: r.shards.length,
        shardsCached: cached.length,
        bytesTotal: sum(r.shards),
        bytesCached: sum(cached),
        complete: cached.length === r.shards.length,
        updatedAt: r.updatedAt,
        ...(r.persisted !== undefined ? { persisted: r.persisted } : {}),
      });
    }
    return out.sort((a, b) => a.id.localeCompare(b.id));
  }

  /** Bytes of cached shards over all models. */
  async bytesUsed(): Promise<number> {
    return (await this.list()).reduce((n, m) => n + m.bytesCached, 0);
  }

  /** Removes a model's shards, files and record; false when nothing was cached under that id. */
  async delete(modelId: string): Promise<boolean> {
    const record = await this.store.get<ModelRecord>(keyOf.model(modelId));
    const doomed = (await this.store.keys()).filter(
      (k) => isShardKeyOf(k, modelId) || chunkKeyOf(k, modelId) !== null || (record?.files ?? []).some((f) => k === keyOf.file(modelId, f)),
    );
    for (const k of doomed) await this.store.del(k);
    if (record) await this.store.del(keyOf.model(modelId));
    return doomed.length > 0 || record !== undefined;
  }

  /** Asks the browser not to evict the cache under storage pressure; true when granted. */
  async requestPersistentStorage(): Promise<boolean> {
    return (await this.storage?.persist?.()) ?? false;
  }

  async isPersistent(): Promise<boolean> {
    return (await this.storage?.persisted?.()) ?? false;
  }

  /** Free space as the browser reports it (quota − usage), or null where it does not say. */
  async available(): Promise<number | null> {
    if (!this.storage) return null;
    const e = await this.storage.estimate();
    return e.quota === undefined ? null : Math.max(0, e.quota - (e.usage ?? 0));
  }

  /** The 'storage-quota' error: what is needed, what is free, and what is cached; it deletes nothing. */
  async quotaError(modelId: string, neededBytes: number, cause?: unknown): Promise<WebmoeError> {
    const available = await this.available().catch(() => null);
    const cached = (await this.list().catch(() => [])).filter((m) => m.bytesCached > 0);
    const what = cached.length ? cached.map((m) => `${m.id} (${formatBytes(m.bytesCached)})`).join(', ') : 'nothing';
    // A write refused although the estimate shows room: the browser's own limit for this storage is lower
    // than its estimate says (a private window keeps IndexedDB in memory, for one).
    const refusedWithRoom = cause !== undefined && available !== null && available >= neededBytes;
    return new WebmoeError(
      'storage-quota',
      (refusedWithRoom
        ? `The browser refused to store ${modelId} (${errorName(cause)}) although its storage estimate shows ${formatBytes(available)} free ` +
          `for the ${formatBytes(neededBytes)} still needed: its real limit is lower here (a private window keeps storage in memory)`
        : `Not enough browser storage for ${modelId}: it needs ${formatBytes(neededBytes)} more` +
          (available === null ? '' : `, and ${formatBytes(available)} is available`)) +
        `. Cached models: ${what}. Delete one (cache.delete(id)) or grant persistent storage; webmoe deletes nothing by itself.`,
      { cause, detail: { modelId, neededBytes, availableBytes: available, cached: cached.map((m) => ({ id: m.id, bytes: m.bytesCached })) } },
    );
  }
}

function errorName(e: unknown): string {
  return e instanceof Error || e instanceof DOMException ? e.name : String(e);
}

export function createModelCache(options: ModelCacheOptions = {}): ModelCache {
  return new ModelCache(options);
}

function sum(shards: readonly ShardEntry[]): number {
  return shards.reduce((n, s) => n + s.bytes, 0);
}
