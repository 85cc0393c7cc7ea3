// ModelSource.readRange: after a load, any byte range of a stored shard (across chunk boundaries, inside one
// chunk) comes back from the stored chunks without a request; a chunk gone from storage is a clear error.
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
});
