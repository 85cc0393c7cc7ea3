// Where shards live: IndexedDB through idb-keyval (one object store, string keys), as fixed-size chunk
// records (chunks.ts). Behind a small interface so that tests can inject failures (a full disk) and Node
// tests can use memory.
import { createStore, del, get, keys, set, type UseStore } from 'idb-keyval';

export interface CacheStore {
  get<T>(key: string): Promise<T | undefined>;
  set(key: string, value: unknown): Promise<void>;
  del(key: string): Promise<void>;
  keys(): Promise<string[]>;
}

export const DEFAULT_CACHE_DB = 'webmoe-cache';

export function idbCacheStore(dbName = DEFAULT_CACHE_DB): CacheStore {
  let store: UseStore | null = null;
  // Opened on first use so that merely importing webmoe never touches IndexedDB.
  const s = () => (store ??= createStore(dbName, 'entries'));
  return {
    get: (k) => get(k, s()),
    set: (k, v) => set(k, v, s()),
    del: (k) => del(k, s()),
    keys: async () => (await keys(s())).map(String),
  };
}

export function memoryCacheStore(): CacheStore {
  const m = new Map<string, unknown>();
  return {
    get: async <T>(k: string) => m.get(k) as T | undefined,
    set: async (k, v) => void m.set(k, v),
    del: async (k) => void m.delete(k),
    keys: async () => [...m.keys()],
  };
}

// Key layout. Shard keys end in the 64-hex hash and chunk keys in the hash and the chunk index, so a model
// id may contain '/' without ambiguity.
export const keyOf = {
  /** A shard's record (chunks.ts StoredShard): present once the shard is complete and verified. */
  shard: (modelId: string, sha256: string) => `shard/${modelId}/${sha256}`,
  chunk: (modelId: string, sha256: string, index: number) => `chunk/${modelId}/${sha256}/${index}`,
  model: (modelId: string) => `model/${modelId}`,
  file: (modelId: string, name: string) => `file/${modelId}/${name}`,
};

export function isShardKeyOf(key: string, modelId: string): boolean {
  const prefix = `shard/${modelId}/`;
  return key.length === prefix.length + 64 && key.startsWith(prefix);
}

const CHUNK_TAIL = /^([0-9a-f]{64})\/(0|[1-9]\d*)$/;

/** The shard hash and chunk index of a chunk key of `modelId`, or null for any other key. */
export function chunkKeyOf(key: string, modelId: string): { sha256: string; index: number } | null {
  const prefix = `chunk/${modelId}/`;
  if (!key.startsWith(prefix)) return null;
  const m = CHUNK_TAIL.exec(key.slice(prefix.length));
  return m ? { sha256: m[1], index: Number(m[2]) } : null;
}
