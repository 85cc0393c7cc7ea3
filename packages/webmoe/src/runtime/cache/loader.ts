// Loading one model's files from its base URL through the cache. Shards: a cache hit is re-hashed before
// use (a corrupt entry is evicted and downloaded again); a download is hashed before it is stored, and
// stored before it is handed on, so an interrupted load resumes at the first missing shard. Only the
// shard in hand is in memory. Small JSON files are fetched network-first with the cached copy as the
// offline fallback.
import { WebmoeError, isWebmoeError } from '../../errors';
import type { ModelCache, ModelRecord } from './model-cache';
import { sha256Hex, type LoadProgress, type ShardEntry } from './shards';
import { isShardKeyOf, keyOf } from './store';

export interface ModelSourceOptions {
  readonly modelId: string;
  /** Absolute URL of the model directory. */
  readonly baseUrl: string;
  readonly cache: ModelCache;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: LoadProgress) => void;
}

interface CachedFile {
  readonly sha256: string;
  readonly bytes: ArrayBuffer;
}

export type ShardConsumer = (shard: ShardEntry, data: Uint8Array, index: number) => Promise<void> | void;

/** Download progress is throttled: a multi-gigabyte model would otherwise send an event per network chunk. */
const PROGRESS_INTERVAL_MS = 100;

export class ModelSource {
  private readonly fetchFn: typeof fetch;
  private readonly base: string;
  private recordWrites: Promise<void> = Promise.resolve();

  constructor(private readonly o: ModelSourceOptions) {
    this.fetchFn = o.fetch ?? ((input, init) => fetch(input, init));
    this.base = o.baseUrl.endsWith('/') ? o.baseUrl : `${o.baseUrl}/`;
  }

  url(file: string): string {
    return new URL(file, this.base).href;
  }

  /**
   * A small JSON file of the model directory. With its SHA-256 (manifest.json lists the tokenizer files)
   * it is content-addressed like a shard: a verified cached copy is used without the network. Without
   * one (manifest.json itself) the network comes first and the cached copy serves offline loads.
   */
  async json(name: string, sha256?: string): Promise<unknown> {
    const key = keyOf.file(this.o.modelId, name);
    const cached = await this.o.cache.store.get<CachedFile>(key);
    if (sha256 && cached?.sha256 === sha256 && (await sha256Hex(new Uint8Array(cached.bytes))) === sha256) return parseJson(name, cached.bytes);
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await (await this.get(name)).arrayBuffer());
    } catch (e) {
      if (cached && !sha256 && !isWebmoeError(e, 'aborted')) return parseJson(name, cached.bytes);
      throw isWebmoeError(e) ? e : this.networkError(name, e);
    }
    const hash = await sha256Hex(bytes);
    if (sha256 && hash !== sha256) {
      throw new WebmoeError('integrity', `${this.url(name)}: SHA-256 ${hash} instead of ${sha256} (manifest.json)`, { detail: { file: name } });
    }
    const entry: CachedFile = { sha256: hash, bytes: bytes.buffer as ArrayBuffer };
    try {
      await this.o.cache.store.set(key, entry);
    } catch (e) {
      if (isQuotaError(e)) throw await this.o.cache.quotaError(this.o.modelId, bytes.byteLength, e);
      throw e;
    }
    await this.updateRecord((r) => (r.files.includes(name) ? r : { ...r, files: [...r.files, name] }));
    return parseJson(name, entry.bytes);
  }

  /** Streams every shard, verified, to `onShard`, in order; see the file comment. */
  async loadShards(shards: readonly ShardEntry[], onShard: ShardConsumer): Promise<void> {
    const { cache } = this.o;
    const { store } = cache;
    const modelId = this.o.modelId;
    const keys = new Set(await store.keys());
    const missing = shards.filter((s) => !keys.has(keyOf.shard(modelId, s.sha256)));
    const missingBytes = missing.reduce((n, s) => n + s.bytes, 0);
    if (missingBytes > 0) {
      const available = await cache.available().catch(() => null);
      if (available !== null && missingBytes > available) throw await cache.quotaError(modelId, missingBytes);
    }
    await this.updateRecord((r) => ({ ...r, shards: [...shards] }));

    const bytesTotal = shards.reduce((n, s) => n + s.bytes, 0);
    let bytesDone = 0;
    let stillMissing = missingBytes;
    const progress = (phase: LoadProgress['phase'], shardsDone: number, extra: number, file?: string) =>
      this.o.onProgress?.({ phase, bytesDone: bytesDone + extra, bytesTotal, shardsDone, shardsTotal: shards.length, ...(file ? { file } : {}) });

    for (let i = 0; i < shards.length; i++) {
      this.throwIfAborted();
      const shard = shards[i];
      const key = keyOf.shard(modelId, shard.sha256);
      let data: Uint8Array | null = null;
      if (keys.has(key)) {
        progress('verify', i, 0, shard.file);
        const cached = await store.get<ArrayBuffer>(key);
        data = cached ? new Uint8Array(cached) : null;
        if (!data || data.byteLength !== shard.bytes || (await sha256Hex(data)) !== shard.sha256) {
          // Corrupt (or vanished) entry: drop it and fetch the shard again.
          data = null;
          await store.del(key);
          stillMissing += shard.bytes;
        }
      }
      if (!data) {
        data = await this.downloadVerified(shard, (got) => progress('download', i, got, shard.file), () => progress('verify', i, 0, shard.file));
        try {
          await store.set(key, data.buffer);
        } catch (e) {
          if (isQuotaError(e)) throw await cache.quotaError(modelId, stillMissing, e);
          throw e;
        }
        stillMissing -= shard.bytes;
      }
      progress('upload', i, 0, shard.file);
      await onShard(shard, data, i);
      data = null;
      bytesDone += shard.bytes;
      progress('upload', i + 1, 0);
    }
    // A new version of the model replaces the old one: shards no longer in the manifest go.
    const wanted = new Set(shards.map((s) => keyOf.shard(modelId, s.sha256)));
    for (const k of await store.keys()) if (isShardKeyOf(k, modelId) && !wanted.has(k)) await store.del(k);
  }

  /** Downloads a shard and checks its size and hash; one retry covers a transfer corrupted on the way. */
  private async downloadVerified(shard: ShardEntry, onBytes: (n: number) => void, onVerify: () => void): Promise<Uint8Array> {
    let problem = '';
    for (let attempt = 0; attempt < 2; attempt++) {
      const { data, length } = await this.download(shard, onBytes);
      onVerify();
      if (!data) problem = `${length} bytes instead of ${shard.bytes}`;
      else {
        const hash = await sha256Hex(data);
        if (hash === shard.sha256) return data;
        problem = `SHA-256 ${hash} instead of ${shard.sha256}`;
      }
    }
    throw new WebmoeError('integrity', `${this.url(shard.file)}: ${problem} (twice); the server's copy does not match manifest.json`, {
      detail: { file: shard.file },
    });
  }

  /** The body into one buffer of the manifest's size; `data` is null when the length differs. */
  private async download(shard: ShardEntry, onBytes: (n: number) => void): Promise<{ data: Uint8Array | null; length: number }> {
    const res = await this.get(shard.file);
    if (!res.body) {
      const all = new Uint8Array(await res.arrayBuffer());
      return { data: all.byteLength === shard.bytes ? all : null, length: all.byteLength };
    }
    const out = new Uint8Array(shard.bytes);
    const reader = res.body.getReader();
    let got = 0;
    let last = 0;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (got + value.byteLength <= out.byteLength) out.set(value, got);
        got += value.byteLength;
        const now = Date.now();
        if (now - last >= PROGRESS_INTERVAL_MS) {
          last = now;
          onBytes(Math.min(got, shard.bytes));
        }
      }
    } catch (e) {
      throw this.networkError(shard.file, e);
    }
    onBytes(Math.min(got, shard.bytes));
    return { data: got === out.byteLength ? out : null, length: got };
  }

  private async get(file: string): Promise<Response> {
    this.throwIfAborted();
    const url = this.url(file);
    let res: Response;
    try {
      res = await this.fetchFn(url, this.o.signal ? { signal: this.o.signal } : {});
    } catch (e) {
      throw this.networkError(file, e);
    }
    if (!res.ok) throw new WebmoeError('network', `could not download ${url}: HTTP ${res.status} ${res.statusText}`.trim(), { detail: { url, status: res.status } });
    return res;
  }

  private networkError(file: string, e: unknown): WebmoeError {
    if (this.o.signal?.aborted) return new WebmoeError('aborted', 'loading was aborted', { cause: e });
    return new WebmoeError('network', `could not download ${this.url(file)}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, detail: { url: this.url(file) } });
  }

  private throwIfAborted(): void {
    if (this.o.signal?.aborted) throw new WebmoeError('aborted', 'loading was aborted');
  }

  /** Read-modify-write of the model record, one at a time (files are fetched in parallel). */
  private updateRecord(change: (r: ModelRecord) => ModelRecord): Promise<void> {
    const p = this.recordWrites.then(() => this.writeRecord(change));
    this.recordWrites = p.catch(() => {});
    return p;
  }

  private async writeRecord(change: (r: ModelRecord) => ModelRecord): Promise<void> {
    const { store } = this.o.cache;
    const key = keyOf.model(this.o.modelId);
    const old = (await store.get<ModelRecord>(key)) ?? { id: this.o.modelId, url: this.base, shards: [], files: [], updatedAt: 0 };
    await store.set(key, { ...change(old), url: this.base, updatedAt: Date.now() });
  }
}

function parseJson(name: string, bytes: ArrayBuffer): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new WebmoeError('model-format', `${name}: not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

/** QuotaExceededError as Chromium/WebKit name it, Firefox's legacy name, and IndexedDB transactions aborted by it. */
export function isQuotaError(e: unknown): boolean {
  const name = (e as { name?: unknown } | null)?.name;
  return name === 'QuotaExceededError' || name === 'NS_ERROR_DOM_QUOTA_REACHED';
}

