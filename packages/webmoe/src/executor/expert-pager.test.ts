// The pager against a recording fake device: after each call, every chosen expert's slot in the pool holds
// exactly that expert's bytes of the shards (two of them span two shards), read by byte range; a second
// choice of an evicted expert comes from host memory, not storage.
import { describe, expect, it } from 'vitest';
import type { Manifest, ManifestExpert, ManifestTensor } from '../model/manifest';
import { createRng } from '../util/random';
import { ExpertPager } from './expert-pager';
import { GpuWeights } from './weights';

const EXPERTS = 5;
/** Words per matrix: an expert is 3 × 4 × 70 = 840 bytes, stored 1024 apart; shards of 1800 bytes split experts 1 and 3. */
const WORDS = 70;
const SHARD = 1800;

function fakeDevice() {
  const device = {
    createBuffer: ({ label, size }: { label: string; size: number }) => ({ label, size, bytes: new Uint8Array(size), destroy() {} }),
    queue: {
      writeBuffer(b: { bytes: Uint8Array }, offset: number, data: Uint8Array, dataOffset = 0, size = data.byteLength - dataOffset) {
        if (offset % 4 || size % 4) throw new Error(`writeBuffer: unaligned offset ${offset} or size ${size}`);
        b.bytes.set(data.subarray(dataOffset, dataOffset + size), offset);
      },
    },
  };
  return device as unknown as GPUDevice;
}

function model() {
  const tensors: ManifestTensor[] = [];
  const experts: ManifestExpert[] = [];
  const total = EXPERTS * 1024;
  const at = (off: number) => ({ shard: Math.floor(off / SHARD), offset: off % SHARD });
  for (let e = 0; e < EXPERTS; e++) {
    ['gate', 'up', 'down'].forEach((m, i) => {
      tensors.push({ name: `model.layers.1.mlp.experts.${e}.${m}_proj.weight`, kind: 'norm', shape: [WORDS], format: 'f32', layer: 1, expert: e, mtp: false, ...at(e * 1024 + i * 4 * WORDS), bytes: 4 * WORDS });
    });
    experts.push({ layer: 1, expert: e, mtp: false, ...at(e * 1024), bytes: 12 * WORDS });
  }
  const rng = createRng(5);
  const all = new Uint8Array(total).map(() => rng.int(256));
  const shards = Array.from({ length: Math.ceil(total / SHARD) }, (_, i) => all.subarray(i * SHARD, Math.min(total, (i + 1) * SHARD)));
  const manifest = {
    model: { config: { family: 'v3', numLayers: 2, numMtpLayers: 0 }, hf: {} },
    mtp: false,
    shards: shards.map((d, i) => ({ file: `shard-${i}.bin`, bytes: d.length, sha256: '0'.repeat(64) })),
    tensors,
    experts,
  } as unknown as Manifest;
  return { manifest, shards, all };
}

describe('ExpertPager', () => {
  it('fills slots with the chosen experts\' bytes, from storage once and then from host memory', async () => {
    const { manifest, shards, all } = model();
    const device = fakeDevice();
    const up = GpuWeights.uploader(device, manifest, { expertSlots: 2 });
    shards.forEach((d, i) => up.write(i, d));
    const weights = up.finish();
    const reads: [number, number, number][] = [];
    const pager = new ExpertPager(device, manifest, weights, 2, async (shard, offset, bytes) => {
      reads.push([shard, offset, bytes]);
      return shards[shard].slice(offset, offset + bytes);
    });
    const pool = (weights.experts(1).buffer as unknown as { bytes: Uint8Array }).bytes;
    const stride = weights.experts(1).strideBytes;
    const check = (ids: number[], slots: Uint32Array) => ids.forEach((e, i) => {
      expect(pool.subarray(slots[i] * stride, slots[i] * stride + 12 * WORDS)).toEqual(all.subarray(e * 1024, e * 1024 + 12 * WORDS));
    });
    for (const ids of [[1, 3], [3, 1], [4, 1], [3, 0], [1, 4]]) check(ids, await pager.slotsFor(1, Uint32Array.from(ids)));
    const s = pager.stats();
    // Calls: {1,3} 2 misses; {3,1} 2 hits; {4,1} 1 hit; {3,0} 2 misses (3 again from memory); {1,4} 2 misses, both from memory.
    expect([s.lookups, s.hits]).toEqual([10, 3]);
    expect([s.storageReads, s.hostHits]).toEqual([4, 3]);
    expect(s.bytesUploaded).toBe(7 * 12 * WORDS);
    expect(s.bytesRead).toBe(4 * 12 * WORDS);
    // Experts 1 and 3 span two shards: two byte-range reads each, read once; never a whole shard.
    expect(reads.filter(([, , n]) => n < 12 * WORDS).length).toBe(4);
    expect(reads.every(([, , n]) => n <= 12 * WORDS)).toBe(true);
  });
});
