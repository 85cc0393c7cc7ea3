// ModelSource.readRange: after a load, any byte range of a stored shard (across chunk boundaries, inside one
// chunk) comes back from the stored chunks without a request; a chunk gone from storage is a clear error.
// With streamOnly nothing is stored and a range is one Range request, checked against what was asked.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../util/random';
import { ModelSource } from './loader';
import { ModelCache } from './model-cache';
import type { ShardEntry } from './shards';
import { keyOf, memoryCacheStore } from './store';

const BASE = 'https://models.test/r/';
const CHUNK = 1024;

describe('ModelSource.readRange', () => {
  it('reads ranges of stored shards from their chunks, with no request', async () => {
    const rng = createRng(9);
    const data = new Uint8Array(5000).map(() => rng.int(256));
    const shard: ShardEntry = { file: 's0.bin', bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    let requests = 0;
    const fetchFn = (async () => {
      requests++;
      return new Response(data.slice());
    }) as typeof fetch;
    const store = memoryCacheStore();
    const source = new ModelSource({ modelId: 'r', baseUrl: BASE, cache: new ModelCache({ store, storage: null, chunkBytes: CHUNK }), fetch: fetchFn });
    await source.loadShards([shard], () => {});
    const before = requests;
    for (const [offset, bytes] of [[0, 1], [1000, 100], [1024, 1024], [100, 4900], [4999, 1], [2047, 2]]) {
      expect(await source.readRange(shard, offset, bytes)).toEqual(data.slice(offset, offset + bytes));
    }
    expect(requests).toBe(before);
    await store.del(keyOf.chunk('r', shard.sha256, 2));
    await expect(source.readRange(shard, 2000, 100)).rejects.toThrow(/s0.bin: chunk 2 is no longer in the browser's storage/);
  });

  it('streamOnly: hands every byte on, stores no chunk, and reads ranges with Range requests', async () => {
    const rng = createRng(10);
    const data = new Uint8Array(3001).map(() => rng.int(256));
    const shard: ShardEntry = { file: 's0.bin', bytes: data.length, sha256: createHash('sha256').update(data).digest('hex') };
    const ranges: string[] = [];
    let lie = false;
    const fetchFn = (async (_url: string, init?: RequestInit) => {
      const range = (init?.headers as Record<string, string> | undefined)?.range;
      if (!range) return new Response(data.slice());
      ranges.push(range);
      const [a, b] = range.slice('bytes='.length).split('-').map(Number);
      const start = lie ? a + 1 : a;
      return new Response(data.slice(start, b + 1), { status: 206, headers: { 'content-range': `bytes ${start}-${b}/${data.length}` } });
    }) as typeof fetch;
    const store = memoryCacheStore();
    const source = new ModelSource({ modelId: 'r', baseUrl: BASE, cache: new ModelCache({ store, storage: null, chunkBytes: CHUNK }), fetch: fetchFn, streamOnly: true });
    const got = new Uint8Array(data.length);
    await source.loadShards([shard], (_s, piece, _i, offset) => got.set(piece, offset));
    expect(got).toEqual(data);
    expect((await store.keys()).filter((k) => k.startsWith('chunk/') || k.startsWith('shard/'))).toEqual([]);
    for (const [offset, bytes] of [[0, 1], [1000, 1100], [3000, 1]]) {
      expect(await source.readRange(shard, offset, bytes)).toEqual(data.slice(offset, offset + bytes));
    }
    expect(ranges).toEqual(['bytes=0-0', 'bytes=1000-2099', 'bytes=3000-3000']);
    lie = true;
    await expect(source.readRange(shard, 10, 20)).rejects.toThrow(/asked for bytes 10-29 and got HTTP 206 bytes 11-29/);
    await expect(source.readRange(shard, 3000, 2)).rejects.toThrow(/past the shard's 3001 bytes/);
  });
});
