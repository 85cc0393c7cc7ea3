// ModelSource over memory storage and a scripted server: chunked streaming, resume by Range, verify once.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isWebmoeError } from '../../errors';
import { createRng } from '../../util/random';
import { ModelSource, type VerifyCache } from './loader';
import { ModelCache } from './model-cache';
import type { LoadProgress, ShardEntry } from './shards';
import { keyOf, memoryCacheStore, type CacheStore } from './store';
import type { StoredChunk } from './chunks';

const BASE = 'https://models.test/m/';
const CHUNK = 1024;

interface Served {
  file: string;
  range: string | null;
  status: number;
  bytes: number;
}

function folder(sizes: number[]) {
  const rng = createRng(5);
  const files = new Map<string, Uint8Array>();
  const shards: ShardEntry[] = sizes.map((n, i) => {
    const data = new Uint8Array(n).map(() => rng.int(256));
    const file = `s${i}.bin`;
    files.set(file, data);
    return { file, bytes: n, sha256: createHash('sha256').update(data).digest('hex') };
  });
  const served: Served[] = [];
  const server = {
    files,
    shards,
    served,
    /** The next response for a file stops after this many body bytes, with a network error. */
    cutAfter: new Map<string, number>(),
    ignoreRange: false,
    /** Serve a file of another length than the manifest's (the file changed on the server). */
    resized: new Map<string, number>(),
    fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
      const file = String(input).slice(BASE.length);
      let data = files.get(file)!;
      const size = server.resized.get(file);
      if (size !== undefined) {
        const other = new Uint8Array(size);
        other.set(data.subarray(0, size));
        data = other;
      }
      const range = new Headers(init?.headers).get('range');
      let start = 0;
      let status = 200;
      const headers: Record<string, string> = {};
      if (range && !server.ignoreRange) {
        start = Number(/^bytes=(\d+)-$/.exec(range)![1]);
        if (start >= data.length) {
          served.push({ file, range, status: 416, bytes: 0 });
          return new Response(null, { status: 416 });
        }
        status = 206;
        headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
      }
      const body = data.slice(start);
      const cut = server.cutAfter.get(file);
      server.cutAfter.delete(file);
      served.push({ file, range, status, bytes: Math.min(body.length, cut ?? Infinity) });
      let at = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (cut !== undefined && at >= cut) return c.error(new TypeError('connection dropped (test)'));
          if (at >= body.length) return c.close();
          const end = Math.min(body.length, at + 700, cut ?? Infinity);
          c.enqueue(body.slice(at, end));
          at = end;
        },
      });
      return new Response(stream, { status, headers });
    }) as typeof fetch,
  };
  return server;
}

type Server = ReturnType<typeof folder>;

async function load(server: Server, cache: ModelCache, verifyCache?: VerifyCache) {
  const out = server.shards.map((s) => new Uint8Array(s.bytes));
  const pieces: { index: number; offset: number; bytes: number }[] = [];
  const progress: LoadProgress[] = [];
  const source = new ModelSource({ modelId: 'm', baseUrl: BASE, cache, fetch: server.fetch, onProgress: (p) => progress.push(p), ...(verifyCache ? { verifyCache } : {}) });
  const before = server.served.length;
  const hashed = cache.bytesHashed;
  let error: unknown = null;
  try {
    await source.loadShards(server.shards, (_s, data, index, offset) => {
      out[index].set(data, offset);
      pieces.push({ index, offset, bytes: data.byteLength });
    });
  } catch (e) {
    error = e;
  }
  const same = out.every((b, i) => Buffer.from(b).equals(Buffer.from(server.files.get(server.shards[i].file)!)));
  return { error, same, pieces, progress, served: server.served.slice(before), bytesHashed: cache.bytesHashed - hashed };
}

function newCache(store: CacheStore = memoryCacheStore(), extra: Partial<ConstructorParameters<typeof ModelCache>[0]> = {}) {
  return new ModelCache({ store, storage: null, chunkBytes: CHUNK, ...extra });
}

describe('ModelSource shards', () => {
  it('streams chunks, hashes once, and a second load reads without hashing or requests', async () => {
    const server = folder([5000, 1024, 3]);
    const cache = newCache();
    const first = await load(server, cache);
    expect(first.error).toBeNull();
    expect(first.same).toBe(true);
    expect(Math.max(...first.pieces.map((p) => p.bytes))).toBe(CHUNK);
    expect(first.bytesHashed).toBe(5000 + 1024 + 3);
    const second = await load(server, cache);
    expect(second.error).toBeNull();
    expect(second.same).toBe(true);
    expect(second.served).toEqual([]);
    expect(second.bytesHashed).toBe(0);
    expect(new Set(second.progress.map((p) => p.phase))).toEqual(new Set(['upload']));
    expect((await cache.list())[0]).toMatchObject({ shardsCached: 3, complete: true, bytesCached: 6027 });
  });

  it('resumes inside a shard with a Range request after a dropped connection', async () => {
    const server = folder([4000, 5000]);
    const cache = newCache();
    server.cutAfter.set('s1.bin', 2500);
    const first = await load(server, cache);
    expect(isWebmoeError(first.error, 'network')).toBe(true);
    const second = await load(server, cache);
    expect(second.error).toBeNull();
    expect(second.same).toBe(true);
    // Two whole chunks (2048 bytes) were stored before the cut; the rest comes as a 206.
    expect(second.served).toEqual([{ file: 's1.bin', range: 'bytes=2048-', status: 206, bytes: 5000 - 2048 }]);
    expect(second.bytesHashed).toBe(5000 - 2048);
    const third = await load(server, cache);
    expect([third.served, third.bytesHashed]).toEqual([[], 0]);
  });

  it('starts the shard again from 0 when the server ignores Range', async () => {
    const server = folder([4000]);
    const cache = newCache();
    server.cutAfter.set('s0.bin', 3000);
    await load(server, cache);
    server.ignoreRange = true;
    const second = await load(server, cache);
    expect(second.error).toBeNull();
    expect(second.same).toBe(true);
    expect(second.served).toEqual([{ file: 's0.bin', range: 'bytes=2048-', status: 200, bytes: 4000 }]);
    expect(second.pieces[second.pieces.length - 4]).toMatchObject({ offset: 0 });
  });

  it('a refused range (416) or another length is an integrity error naming the file', async () => {
    for (const [size, pattern] of [[1500, /s0\.bin.*HTTP 416/], [6000, /s0\.bin.*6000 bytes now.*4000/]] as const) {
      const server = folder([4000]);
      const cache = newCache();
      server.cutAfter.set('s0.bin', 3000);
      await load(server, cache);
      server.resized.set('s0.bin', size);
      const r = await load(server, cache);
      expect(isWebmoeError(r.error, 'integrity')).toBe(true);
      expect((r.error as Error).message).toMatch(pattern);
    }
  });

  /** A loaded one-shard model whose stored chunk `index` is then replaced by `change(bytes)`. */
  async function loadedThenChanged(index: number, change: (data: Uint8Array) => Uint8Array) {
    const server = folder([4000]);
    const store = memoryCacheStore();
    const cache = newCache(store);
    await load(server, cache);
    const key = keyOf.chunk('m', server.shards[0].sha256, index);
    const c = (await store.get<StoredChunk>(key))!;
    await store.set(key, { ...c, data: change(new Uint8Array(c.data.slice(0))).buffer });
    return { server, cache };
  }

  it('an evicted or short chunk of a verified shard is fetched again from there', async () => {
    const { server, cache } = await loadedThenChanged(2, (d) => d.slice(0, 100));
    const r = await load(server, cache);
    expect(r.error).toBeNull();
    expect(r.same).toBe(true);
    expect(r.served).toEqual([{ file: 's0.bin', range: 'bytes=2048-', status: 206, bytes: 4000 - 2048 }]);
    expect(r.bytesHashed).toBe(4000 - 2048);
  });

  it("bit rot in a verified chunk passes a plain load; verifyCache 'always' hashes, finds it, refetches", async () => {
    const { server, cache } = await loadedThenChanged(1, (d) => {
      d[10] ^= 0x40;
      return d;
    });
    const plain = await load(server, cache);
    expect([plain.error, plain.same, plain.served.length, plain.bytesHashed]).toEqual([null, false, 0, 0]);
    const always = await load(server, cache, 'always');
    expect(always.error).toBeNull();
    expect(always.same).toBe(true);
    expect(always.served).toEqual([{ file: 's0.bin', range: null, status: 200, bytes: 4000 }]);
    expect(always.bytesHashed).toBe(8000);
    const after = await load(server, cache, 'always');
    expect([after.same, after.served.length, after.bytesHashed]).toEqual([true, 0, 4000]);
  });

  it('asks for persistent storage once, above the threshold, and keeps the answer', async () => {
    const server = folder([3000]);
    let asked = 0;
    const storage = { estimate: async () => ({ quota: 1e9, usage: 0 }), persist: async () => (++asked, true), persisted: async () => false };
    const cache = newCache(memoryCacheStore(), { storage, persistAboveBytes: 2000 });
    await load(server, cache);
    await cache.delete('m');
    await load(server, cache);
    expect(asked).toBe(2);
    await load(server, cache);
    expect(asked).toBe(2);
    expect((await cache.list())[0].persisted).toBe(true);
    const small = newCache(memoryCacheStore(), { storage, persistAboveBytes: 4000 });
    await load(server, small);
    expect(asked).toBe(2);
  });

  it('download progress carries a speed and the time left', async () => {
    const server = folder([20000]);
    const r = await load(server, newCache());
    const d = r.progress.filter((p) => p.phase === 'download');
    expect(d.length).toBeGreaterThan(0);
    expect(d.every((p) => p.bytesPerSecond !== undefined && p.bytesPerSecond >= 0)).toBe(true);
  });
});
