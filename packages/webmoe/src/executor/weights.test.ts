// The uploader against a recording fake device: pieces of any size (splitting tensors, experts and a
// tensor that spans shards) must leave every buffer holding exactly its bytes of the model folder.
import { describe, expect, it } from 'vitest';
import type { ManifestExpert, ManifestTensor } from '../model/manifest';
import { createRng } from '../util/random';
import { GpuWeights } from './weights';
import { fakeDevice, testManifest, type FakeBuffer } from '../../test-support/fake-upload';

const SHARD_BYTES = 8192;

/** A v3-named model: two plain tensors, one larger than a shard, and one MoE layer of three experts. */
function model() {
  const shards: number[] = [0];
  let shard = 0, at = 0;
  const place = (bytes: number) => {
    let start = Math.ceil(at / 256) * 256;
    if (start > 0 && start + bytes > SHARD_BYTES) {
      shards.push(0);
      shard++;
      start = 0;
    }
    const r = { shard, offset: start };
    // A range larger than a shard fills shards to the brim (docs/model-folder.md, Placement).
    let left = bytes, off = start;
    while (off + left > SHARD_BYTES) {
      left -= SHARD_BYTES - off;
      shards[shard] = SHARD_BYTES;
      shards.push(0);
      shard++;
      off = 0;
    }
    at = off + left;
    shards[shard] = at;
    return r;
  };
  const tensors: ManifestTensor[] = [];
  const experts: ManifestExpert[] = [];
  const tensor = (name: string, n: number, expert: number | null = null) => {
    const r = place(4 * n);
    tensors.push({ name, kind: 'norm', shape: [n], format: 'f32', layer: expert === null ? null : 0, expert, mtp: false, shard: r.shard, offset: r.offset, bytes: 4 * n });
    return r;
  };
  tensor('model.norm.weight', 1000);
  tensor('model.embed_tokens.weight', 5000); // 20000 bytes: spans three shards
  for (let e = 0; e < 3; e++) {
    const first = tensor(`model.layers.0.mlp.experts.${e}.gate_proj.weight`, 300, e);
    tensor(`model.layers.0.mlp.experts.${e}.up_proj.weight`, 300, e);
    tensor(`model.layers.0.mlp.experts.${e}.down_proj.weight`, 301, e);
    const last = tensors[tensors.length - 1];
    experts.push({ layer: 0, expert: e, mtp: false, shard: first.shard, offset: first.offset, bytes: last.offset + last.bytes - first.offset });
  }
  const rng = createRng(11);
  const data = shards.map((n) => new Uint8Array(n).map(() => rng.int(256)));
  return { manifest: testManifest(data, tensors, experts), data };
}

/** What a range holds, read from the shards laid end to end (independent of the uploader's routing). */
function rangeBytes(data: Uint8Array[], r: { shard: number; offset: number; bytes: number }): Uint8Array {
  let start = r.offset;
  for (let s = 0; s < r.shard; s++) start += data[s].length;
  const all = new Uint8Array(data.reduce((n, d) => n + d.length, 0));
  let at = 0;
  for (const d of data) {
    all.set(d, at);
    at += d.length;
  }
  return all.subarray(start, start + r.bytes);
}

function upload(pieceBytes: number | null) {
  const { manifest, data } = model();
  const { device, buffers } = fakeDevice();
  const up = GpuWeights.uploader(device, manifest);
  // Shards in reverse order, each in pieces; the second shard also restarts from 0 half-way.
  for (let i = data.length - 1; i >= 0; i--) {
    const step = pieceBytes ?? data[i].length;
    for (let at = 0; at < data[i].length; at += step) {
      up.write(i, data[i].subarray(at, at + step), at);
      if (i === 1 && at === step) for (let again = 0; again <= at; again += step) up.write(i, data[i].subarray(again, again + step), again);
    }
  }
  const weights = up.finish();
  return { manifest, data, buffers, weights };
}

describe('GpuWeights.uploader', () => {
  for (const piece of [null, 256, 1024, 3072, 4100]) {
    it(`places every tensor and expert exactly, with pieces of ${piece ?? 'a whole shard'}`, () => {
      const { manifest, data, weights } = upload(piece);
      expect(manifest.shards.length).toBeGreaterThanOrEqual(4);
      for (const t of manifest.tensors.filter((x) => x.expert === null)) {
        const g = weights.tensor(t.name) as unknown as { buffer: FakeBuffer };
        expect(Buffer.from(g.buffer.bytes.subarray(0, t.bytes)).equals(Buffer.from(rangeBytes(data, t))), t.name).toBe(true);
      }
      const ex = weights.experts(0);
      const buf = ex.buffer as unknown as FakeBuffer;
      for (const e of manifest.experts) {
        const got = buf.bytes.subarray(e.expert * ex.strideBytes, e.expert * ex.strideBytes + e.bytes);
        expect(Buffer.from(got).equals(Buffer.from(rangeBytes(data, e))), `expert ${e.expert}`).toBe(true);
      }
    });
  }

  it('refuses a gap, and a shard that never arrived in full', () => {
    const { manifest, data } = model();
    const up = GpuWeights.uploader(fakeDevice().device, manifest);
    up.write(0, data[0].subarray(0, 1024), 0);
    expect(() => up.write(0, data[0].subarray(2048, 3072), 2048)).toThrow(/shard-0\.bin: a piece of 1024 bytes at offset 2048 does not continue the 1024 bytes/);
    for (let i = 1; i < data.length; i++) up.write(i, data[i], 0);
    expect(() => up.finish()).toThrow(/shard-0\.bin were not uploaded in full/);
  });
});
