// Loading one model's files from its base URL through the cache. Shards stream in fixed-size chunks
// (chunks.ts): each downloaded chunk is hashed incrementally, stored with the hash state after it, and then
// handed on, so only one chunk is in memory and an interrupted download resumes inside the shard with a
// Range request. A shard is verified once, when its last chunk is stored; later loads read its chunks
// without hashing unless verifyCache is 'always'. Small JSON files are fetched network-first with the
// cached copy as the offline fallback. docs/model-folder.md, "Browser cache".
import { WebmoeError, isWebmoeError } from '../../errors';
import { chunkCount, chunkIndex, chunkLength, isStoredShard, leadingChunks, type StoredChunk, type StoredShard } from './chunks';
import type { ModelCache, ModelRecord } from './model-cache';
import { bodyPieces, changedLength, parseContentRange, rangeStart } from './range';
import { RateMeter } from './rate';
import { Sha256, type Sha256State } from './sha256';
import { sha256Hex, type LoadProgress, type ShardEntry } from './shards';
import { chunkKeyOf, isShardKeyOf, keyOf } from './store';

/** 'once' (default): a shard is hashed when it is stored; 'always': stored shards are hashed again on every load. */
export type VerifyCache = 'once' | 'always';

export interface ModelSourceOptions {
  readonly modelId: string;
  /** Absolute URL of the model directory. */
  readonly baseUrl: string;
  readonly cache: ModelCache;
  readonly fetch?: typeof fetch;
  readonly signal?: AbortSignal;
  readonly onProgress?: (p: LoadProgress) => void;
  readonly verifyCache?: VerifyCache;
  /**
   * Makes the shards' bytes instead of downloading their files: the virtual shards of a GGUF file loaded by
   * URL (gguf-url.ts), whose `sha256` names their content in the cache rather than hashing it. Their chunks
   * are stored and read back like any shard's, without hashing.
   */
  readonly fill?: ShardFill;
  /**
   * Stream the shards from the network to the consumer, hashed but not stored, and read byte ranges
   * (paged experts) with Range requests to the server instead of from stored chunks: a model larger than the
   * browser will store, or a one-off run that would discard what it stored (docs/paging.md, Full-size models).
   */
  readonly streamOnly?: boolean;
}

/** `bytes` bytes of shard `index` from `offset` on. */
export type ShardFill = (shard: ShardEntry, index: number, offset: number, bytes: number) => Promise<Uint8Array>;

interface CachedFile {
  /** The hash manifest.json lists for the file, checked when it was stored; '' for a file without one. */
  readonly sha256: string;
  readonly bytes: ArrayBuffer;
}

/** Receives a shard as consecutive pieces: `data` is the shard's bytes from `offset` on. A piece may come again (a shard restarted from 0). */
export type ShardConsumer = (shard: ShardEntry, data: Uint8Array, index: number, offset: number) => Promise<void> | void;

/** One loadShards call's counters. */
interface Run {
  readonly shards: readonly ShardEntry[];
  readonly bytesTotal: number;
  /** Bytes of the shards finished. */
  bytesDone: number;
  /** Bytes still to download, for the quota error and the time estimate. */
  stillMissing: number;
  /** Bytes received from the network, for the speed. */
  downloaded: number;
  readonly meter: RateMeter;
  lastEvent: number;
}

/** Download progress is throttled: a multi-gigabyte model would otherwise send an event per network piece. */
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
    // A listed file was checked when it was stored; it is hashed again only when asked to.
    if (sha256 && cached?.sha256 === sha256 && (this.o.verifyCache !== 'always' || (await this.hashHex(new Uint8Array(cached.bytes))) === sha256)) {
      return parseJson(name, cached.bytes);
    }
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await (await this.get(name)).arrayBuffer());
    } catch (e) {
      if (cached && !sha256 && !isWebmoeError(e, 'aborted')) return parseJson(name, cached.bytes);
      throw isWebmoeError(e) ? e : this.networkError(name, e);
    }
    const hash = sha256 ? await this.hashHex(bytes) : '';
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

  /** Streams every shard to `onShard` chunk by chunk, in order; see the file comment. */
  async loadShards(shards: readonly ShardEntry[], onShard: ShardConsumer): Promise<void> {
    const { cache } = this.o;
    const { store, chunkBytes } = cache;
    const modelId = this.o.modelId;
    const keys = new Set(await store.keys());
    const chunks = chunkIndex(keys, modelId);
    // What each shard still needs, from the key listing alone: verified shards nothing, others their
    // bytes after the stored chunks. The quota check covers the whole model before the first request.
    const needs = shards.map((s) => (keys.has(keyOf.shard(modelId, s.sha256)) ? 0 : Math.max(0, s.bytes - leadingChunks(chunks.get(s.sha256)) * chunkBytes)));
    const missingBytes = needs.reduce((a, b) => a + b, 0);
    if (missingBytes > 0) {
      const available = await cache.available().catch(() => null);
      if (available !== null && missingBytes > available) throw await cache.quotaError(modelId, missingBytes);
    }
    await this.updateRecord((r) => ({ ...r, shards: [...shards] }));
    const bytesTotal = shards.reduce((n, s) => n + s.bytes, 0);
    if (missingBytes > 0 && bytesTotal >= cache.persistAboveBytes) await this.askPersistence();

    const run: Run = { shards, bytesTotal, bytesDone: 0, stillMissing: missingBytes, downloaded: 0, meter: new RateMeter(), lastEvent: 0 };
    for (let i = 0; i < shards.length; i++) {
      this.throwIfAborted();
      await this.loadShard(shards[i], i, needs[i], run, onShard);
      run.bytesDone += shards[i].bytes;
      this.progress(run, 'upload', i + 1, 0);
    }
    // A new version of the model replaces the old one: shards no longer in the manifest go.
    const wanted = new Set(shards.map((s) => s.sha256));
    for (const k of await store.keys()) {
      const hash = isShardKeyOf(k, modelId) ? k.slice(-64) : chunkKeyOf(k, modelId)?.sha256;
      if (hash !== undefined && !wanted.has(hash)) await store.del(k);
    }
  }

  /**
   * One shard: its stored chunks in order (hashed only with verifyCache 'always'), then, from the first
   * chunk that is not there, a download that continues the stored hash state.
   */
  private async loadShard(shard: ShardEntry, index: number, need: number, run: Run, onShard: ShardConsumer): Promise<void> {
    const { store, chunkBytes } = this.o.cache;
    const shardKey = keyOf.shard(this.o.modelId, shard.sha256);
    const record = await store.get<unknown>(shardKey);
    const verified = isStoredShard(record, shard.bytes, chunkBytes);
    // An entry of an older layout (a whole shard in one value) or another chunk size starts over.
    if (record !== undefined && !verified) await this.dropShard(shard);
    const check = verified && this.o.verifyCache === 'always' && !this.o.fill ? new Sha256() : null;
    const n = chunkCount(shard.bytes, chunkBytes);
    let k = 0;
    let state: Sha256State | undefined;
    for (; k < n; k++) {
      const c = await store.get<StoredChunk>(this.chunkKey(shard, k));
      // A chunk evicted or cut short is told by its length; the shard continues from there.
      if (!c || c.offset !== k * chunkBytes || c.data?.byteLength !== chunkLength(shard.bytes, chunkBytes, k)) break;
      const data = new Uint8Array(c.data);
      if (check) this.hashInto(check, data);
      state = c.hash;
      this.progress(run, check ? 'verify' : 'upload', index, k * chunkBytes, shard.file);
      await onShard(shard, data, index, k * chunkBytes);
    }
    if (k === n) {
      if (verified && !check) return;
      if (this.o.fill) return this.storeRecord(shardKey, { bytes: shard.bytes, chunkBytes, verified: true }, run);
      this.progress(run, 'verify', index, shard.bytes, shard.file);
      if ((check ?? new Sha256(state)).hex() === shard.sha256) {
        if (!verified) await this.storeRecord(shardKey, { bytes: shard.bytes, chunkBytes, verified: true }, run);
        return;
      }
      // Stored bytes that no longer match (bit rot, found by 'always'): the whole shard again.
      await this.dropShard(shard);
      k = 0;
      state = undefined;
    } else if (verified) {
      await store.del(shardKey);
    }
    run.stillMissing += shard.bytes - k * chunkBytes - need;
    if (this.o.fill) await this.fillShard(this.o.fill, shard, index, k, run, onShard);
    else await this.downloadVerified(shard, index, k, state, run, onShard);
  }

  /** A virtual shard from chunk `from` on: each chunk made by `fill`, stored, handed on; then its record. */
  private async fillShard(fill: ShardFill, shard: ShardEntry, index: number, from: number, run: Run, onShard: ShardConsumer): Promise<void> {
    const { chunkBytes } = this.o.cache;
    const noHash = new Sha256().state();
    for (let k = from; k < chunkCount(shard.bytes, chunkBytes); k++) {
      this.throwIfAborted();
      const at = k * chunkBytes;
      const data = await fill(shard, index, at, chunkLength(shard.bytes, chunkBytes, k));
      await this.storeRecord(this.chunkKey(shard, k), { offset: at, data: data.buffer as ArrayBuffer, hash: noHash } satisfies StoredChunk, run);
      run.stillMissing -= data.byteLength;
      run.downloaded += data.byteLength;
      this.progress(run, 'download', index, at + data.byteLength, shard.file, true);
      await onShard(shard, data, index, at);
    }
    await this.storeRecord(keyOf.shard(this.o.modelId, shard.sha256), { bytes: shard.bytes, chunkBytes, verified: true } satisfies StoredShard, run);
  }

  /** Downloads a shard from chunk `from` on; one retry, from byte 0, covers a transfer corrupted on the way. */
  private async downloadVerified(shard: ShardEntry, index: number, from: number, state: Sha256State | undefined, run: Run, onShard: ShardConsumer): Promise<void> {
    let problem = '';
    for (let attempt = 0; attempt < 2; attempt++) {
      const r = await this.download(shard, index, attempt ? 0 : from, attempt ? undefined : state, run, onShard);
      if (!r.problem) return;
      problem = r.problem;
      await this.dropShard(shard);
      run.stillMissing += r.stored;
    }
    throw new WebmoeError('integrity', `${this.url(shard.file)}: ${problem} (twice); the server's copy does not match manifest.json`, {
      detail: { file: shard.file },
    });
  }

  /**
   * Streams the shard from chunk `from` into chunk records, each stored with the hash state after it and
   * then handed to `onShard`; the shard's record is written when the hash matches. Returns a problem
   * (wrong length or hash; '' when the shard is complete) and the bytes from 0 that are stored.
   */
  private async download(shard: ShardEntry, index: number, from: number, state: Sha256State | undefined, run: Run, onShard: ShardConsumer): Promise<{ problem: string; stored: number }> {
    const { store, chunkBytes } = this.o.cache;
    const url = this.url(shard.file);
    const asked = from * chunkBytes;
    for (let k = from; k < chunkCount(shard.bytes, chunkBytes); k++) await store.del(this.chunkKey(shard, k));
    const res = await this.get(shard.file, asked > 0 ? { range: `bytes=${asked}-` } : {});
    const { start } = rangeStart(url, res, asked, shard.bytes);
    const hasher = start === asked && state ? new Sha256(state) : new Sha256();
    if (start !== asked) run.stillMissing += asked;
    let at = start;
    let chunk = new Uint8Array(chunkLength(shard.bytes, chunkBytes, at / chunkBytes));
    let fill = 0;
    let received = start;
    const pieces = bodyPieces(res);
    for (;;) {
      let next: IteratorResult<Uint8Array>;
      try {
        next = await pieces.next();
      } catch (e) {
        throw this.networkError(shard.file, e);
      }
      if (next.done) break;
      const value = next.value;
      received += value.byteLength;
      run.downloaded += value.byteLength;
      if (received > shard.bytes) {
        await pieces.return(undefined);
        return { problem: `more than ${shard.bytes} bytes`, stored: at };
      }
      for (let v = 0; v < value.byteLength; ) {
        const n = Math.min(chunk.byteLength - fill, value.byteLength - v);
        chunk.set(value.subarray(v, v + n), fill);
        fill += n;
        v += n;
        if (fill < chunk.byteLength) continue;
        this.hashInto(hasher, chunk);
        if (!this.o.streamOnly) {
          const c: StoredChunk = { offset: at, data: chunk.buffer as ArrayBuffer, hash: hasher.state() };
          await this.storeRecord(this.chunkKey(shard, at / chunkBytes), c, run);
        }
        run.stillMissing -= chunk.byteLength;
        await onShard(shard, chunk, index, at);
        at += chunk.byteLength;
        fill = 0;
        chunk = new Uint8Array(at < shard.bytes ? chunkLength(shard.bytes, chunkBytes, at / chunkBytes) : 0);
      }
      this.progress(run, 'download', index, received, shard.file, true);
    }
    if (received !== shard.bytes) return { problem: `${received} bytes instead of ${shard.bytes}`, stored: at };
    this.progress(run, 'verify', index, shard.bytes, shard.file);
    const hash = hasher.hex();
    if (hash !== shard.sha256) return { problem: `SHA-256 ${hash} instead of ${shard.sha256}`, stored: at };
    if (this.o.streamOnly) return { problem: '', stored: 0 };
    await this.storeRecord(keyOf.shard(this.o.modelId, shard.sha256), { bytes: shard.bytes, chunkBytes, verified: true } satisfies StoredShard, run);
    return { problem: '', stored: at };
  }

  /**
   * `bytes` bytes of a stored shard from `offset`, from the chunks that hold them (expert paging reads
   * single experts this way, docs/paging.md): after loadShards, with the shard's chunks still stored.
   */
  async readRange(shard: ShardEntry, offset: number, bytes: number): Promise<Uint8Array> {
    if (this.o.streamOnly) return this.fetchRange(shard, offset, bytes);
    const { store, chunkBytes } = this.o.cache;
    const out = new Uint8Array(bytes);
    for (let at = offset; at < offset + bytes;) {
      const k = Math.floor(at / chunkBytes);
      const c = await store.get<StoredChunk>(this.chunkKey(shard, k));
      if (!c || c.data?.byteLength !== chunkLength(shard.bytes, chunkBytes, k)) {
        throw new WebmoeError('storage-quota', `${shard.file}: chunk ${k} is no longer in the browser's storage (evicted?); load the model again`, { detail: { file: shard.file, chunk: k } });
      }
      const from = at - k * chunkBytes;
      const n = Math.min(offset + bytes - at, c.data.byteLength - from);
      out.set(new Uint8Array(c.data, from, n), at - offset);
      at += n;
    }
    return out;
  }

  /** readRange with streamOnly: one Range request; the server must answer 206 with exactly those bytes. */
  private async fetchRange(shard: ShardEntry, offset: number, bytes: number): Promise<Uint8Array> {
    const url = this.url(shard.file);
    if (offset + bytes > shard.bytes) throw new WebmoeError('invalid-request', `${url}: bytes ${offset}-${offset + bytes - 1} lie past the shard's ${shard.bytes} bytes`);
    const res = await this.get(shard.file, { range: `bytes=${offset}-${offset + bytes - 1}` });
    const range = parseContentRange(res.headers.get('content-range'));
    if (res.status !== 206 || !range || range.start !== offset || range.end !== offset + bytes - 1) {
      throw new WebmoeError('network', `${url}: asked for bytes ${offset}-${offset + bytes - 1} and got HTTP ${res.status}${range ? ` bytes ${range.start}-${range.end}` : ''}; streaming a model needs a server that answers Range requests`, { detail: { url, status: res.status } });
    }
    if (range.total !== null && range.total !== shard.bytes) throw changedLength(url, shard.bytes, `it is ${range.total} bytes now`);
    let data: Uint8Array;
    try {
      data = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      throw this.networkError(shard.file, e);
    }
    if (data.byteLength !== bytes) throw new WebmoeError('network', `${url}: ${data.byteLength} bytes for a range of ${bytes}`, { detail: { url } });
    return data;
  }

  private chunkKey(shard: ShardEntry, k: number): string {
    return keyOf.chunk(this.o.modelId, shard.sha256, k);
  }

  private hashInto(h: Sha256, data: Uint8Array): void {
    h.update(data);
    this.o.cache.bytesHashed += data.byteLength;
  }

  private async hashHex(data: Uint8Array): Promise<string> {
    this.o.cache.bytesHashed += data.byteLength;
    return sha256Hex(data);
  }

  /** A write of the download; a full disk is the quota error with what the model still needs. */
  private async storeRecord(key: string, value: unknown, run: Run): Promise<void> {
    try {
      await this.o.cache.store.set(key, value);
    } catch (e) {
      if (isQuotaError(e)) throw await this.o.cache.quotaError(this.o.modelId, run.stillMissing, e);
      throw e;
    }
  }

  /** Removes a shard's record and every chunk of it. */
  private async dropShard(shard: ShardEntry): Promise<void> {
    const { store } = this.o.cache;
    await store.del(keyOf.shard(this.o.modelId, shard.sha256));
    for (const k of await store.keys()) if (chunkKeyOf(k, this.o.modelId)?.sha256 === shard.sha256) await store.del(k);
  }

  /** Asks once per model for persistent storage, and keeps the browser's answer in the model's record. */
  private async askPersistence(): Promise<void> {
    const { cache } = this.o;
    const record = await cache.store.get<ModelRecord>(keyOf.model(this.o.modelId));
    if (record?.persisted !== undefined) return;
    const granted = (await cache.isPersistent().catch(() => false)) || (await cache.requestPersistentStorage().catch(() => false));
    await this.updateRecord((r) => ({ ...r, persisted: granted }));
  }

  /** `at`: bytes of shard `index` done. Download events are throttled and carry the speed and time left. */
  private progress(run: Run, phase: LoadProgress['phase'], index: number, at: number, file?: string, throttle = false): void {
    if (!this.o.onProgress) return;
    const now = Date.now();
    if (throttle && now - run.lastEvent < PROGRESS_INTERVAL_MS) return;
    run.lastEvent = now;
    const rate = phase === 'download' ? run.meter.sample(run.downloaded, Math.max(0, run.stillMissing)) : null;
    this.o.onProgress({
      phase,
      bytesDone: run.bytesDone + at,
      bytesTotal: run.bytesTotal,
      shardsDone: index,
      shardsTotal: run.shards.length,
      ...(file ? { file } : {}),
      ...(rate ? { bytesPerSecond: rate.bytesPerSecond, ...(rate.secondsLeft !== undefined ? { secondsLeft: rate.secondsLeft } : {}) } : {}),
    });
  }

  private async get(file: string, headers: Record<string, string> = {}): Promise<Response> {
    this.throwIfAborted();
    const url = this.url(file);
    let res: Response;
    try {
      res = await this.fetchFn(url, { ...(this.o.signal ? { signal: this.o.signal } : {}), ...(Object.keys(headers).length ? { headers } : {}) });
    } catch (e) {
      throw this.networkError(file, e);
    }
    // A refused range is judged by the caller, which knows the file's length (range.ts).
    if (!res.ok && !(res.status === 416 && headers.range)) throw new WebmoeError('network', `could not download ${url}: HTTP ${res.status} ${res.statusText}`.trim(), { detail: { url, status: res.status } });
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

