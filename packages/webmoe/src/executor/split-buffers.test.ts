// Split tensors (split-buffers.ts): where the parts start, and that the uploader fills each part with exactly
// the rows it holds. Expected values come from formats.ts (the layouts and dequantize of the whole tensor),
// not from the planning under test.
import { describe, expect, it } from 'vitest';
import { isWebmoeError } from '../errors';
import { dequantize, tensorLayout, type TensorLayout, type WeightFormat } from '../model/formats';
import type { ManifestExpert, ManifestTensor } from '../model/manifest';
import { createRng } from '../util/random';
import { checkWeightBindings, planExpertParts, planRowSplit, rowAlignment } from './split-buffers';
import { GpuWeights } from './weights';
import { fakeDevice, testManifest, type FakeBuffer } from '../../test-support/fake-upload';

function errorOf(f: () => unknown): { code: string; message: string } | null {
  try {
    f();
    return null;
  } catch (e) {
    return isWebmoeError(e) ? { code: e.code, message: e.message } : { code: 'other', message: String(e) };
  }
}

/** The parts tile the rows in order, each fits, every boundary is on `align`, and one part fewer could not hold them. */
function expectPlan(L: TensorLayout, limit: number, align: number): number {
  const parts = planRowSplit(L, limit, 'w');
  let next = 0;
  for (const p of parts) {
    expect(p.rowStart).toBe(next);
    expect(p.layout).toEqual(tensorLayout(L.format, [p.layout.rows, L.cols]));
    expect(p.layout.bytes).toBeLessThanOrEqual(limit);
    if (p !== parts.at(-1)) expect(p.layout.rows % align).toBe(0);
    next += p.layout.rows;
  }
  expect(next).toBe(L.rows);
  // The biggest aligned part that fits, found by counting up: fewer parts than rows / it cannot exist.
  let most = 0;
  while (tensorLayout(L.format, [most + align, L.cols]).bytes <= limit) most += align;
  expect(parts.length).toBe(Math.ceil(L.rows / most));
  return parts.length;
}

describe('planRowSplit', () => {
  it('keeps a tensor that fits whole', () => {
    const L = tensorLayout('q8', [1000, 96]);
    expect(planRowSplit(L, L.bytes, 'w')).toEqual([{ rowStart: 0, layout: L }]);
  });

  it('splits odd sizes of every format into the fewest aligned parts', () => {
    const cases: [WeightFormat, number, number, number][] = [
      // format, rows, cols, the row multiple its sections need (worked out by hand from formats.ts)
      ['f32', 1001, 37, 1],
      ['f16', 999, 37, 2], // 74-byte rows: two rows make whole words
      ['f16', 1000, 64, 1],
      ['bf16', 777, 45, 2],
      ['q8', 1003, 100, 1], // 4 groups: 128 + 8 bytes a row
      ['q4', 1001, 70, 2], // 3 groups: 48 + 6 + 6 bytes a row
      ['q4', 501, 64, 1],
      ['fp8', 1000, 200, 128], // scales per 128×128 block
      ['fp8', 1700, 33, 128],
      ['fp4', 999, 96, 4], // 3 groups: 48 + 3 bytes a row
      ['q4_k', 301, 256, 1],
      ['q6_k', 301, 256, 2], // 210-byte rows
    ];
    for (const [format, rows, cols, align] of cases) {
      const L = tensorLayout(format, [rows, cols]);
      expect(rowAlignment(L), `${format}[${rows}, ${cols}]`).toBe(align);
      for (const share of [2.5, 3.2, 7]) expect(expectPlan(L, Math.ceil(L.bytes / share), align)).toBeGreaterThanOrEqual(Math.ceil(share));
    }
  });

  it('refuses a limit below one aligned run of rows, naming the tensor', () => {
    const L = tensorLayout('fp8', [1000, 200]);
    const e = errorOf(() => planRowSplit(L, 1000, 'lm_head.weight'));
    expect(e?.code).toBe('insufficient-limits');
    expect(e?.message).toMatch(/^lm_head\.weight: 128 rows of fp8\[1000, 200\]/);
  });
});

/**
 * A V3 folder over two shards: a q8 embedding [rows, cols] that starts in shard 0 and runs on into shard 1,
 * a norm, and one MoE layer of four experts (the embedding's bytes random).
 */
function folder(format: WeightFormat, rows: number, cols: number) {
  const L = tensorLayout(format, [rows, cols]);
  const tensors: ManifestTensor[] = [];
  const experts: ManifestExpert[] = [];
  const first = 4096;
  const total = 256 + L.bytes + 4 * 1024;
  const sizes = [first, total - first];
  const at = (offset: number) => (offset < first ? { shard: 0, offset } : { shard: 1, offset: offset - first });
  tensors.push({ name: 'model.norm.weight', kind: 'norm', shape: [64], format: 'f32', layer: null, expert: null, mtp: false, ...at(0), bytes: 256 });
  tensors.push({ name: 'model.embed_tokens.weight', kind: 'embedding', shape: [rows, cols], format, layer: null, expert: null, mtp: false, ...at(256), bytes: L.bytes });
  let offset = 256 + L.bytes;
  for (let e = 0; e < 4; e++) {
    const start = offset;
    for (const m of ['gate', 'up', 'down']) {
      tensors.push({ name: `model.layers.0.mlp.experts.${e}.${m}_proj.weight`, kind: 'linear', shape: [16, 4], format: 'f32', layer: 0, expert: e, mtp: false, ...at(offset), bytes: 256 });
      offset += 256;
    }
    offset += 256;
    experts.push({ layer: 0, expert: e, mtp: false, ...at(start), bytes: 3 * 256 });
  }
  const rng = createRng(5);
  const data = sizes.map((n) => new Uint8Array(n).map(() => rng.int(256)));
  const manifest = testManifest(data, tensors, experts);
  const all = new Uint8Array(total);
  all.set(data[0]);
  all.set(data[1], first);
  return { manifest, data, L, tableBytes: all.subarray(256, 256 + L.bytes) };
}

describe('split tensors through the uploader', () => {
  for (const [format, rows, cols] of [['q8', 301, 100], ['f16', 253, 37], ['q4', 199, 70], ['fp8', 400, 33]] as const) {
    it(`${format}[${rows}, ${cols}] spanning two shards: each part dequantizes to its rows of the whole table`, () => {
      const { manifest, data, L, tableBytes } = folder(format, rows, cols);
      const up = GpuWeights.uploader(fakeDevice({ maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 }).device, manifest, { maxBindingBytes: Math.floor(L.bytes / 3) + 16 });
      data.forEach((d, i) => {
        for (let at = 0; at < d.length; at += 1024) up.write(i, d.subarray(at, at + 1024), at);
      });
      const w = up.finish();
      const t = w.tensor('model.embed_tokens.weight');
      const whole = dequantize(L, tableBytes);
      expect(t.parts!.length).toBeGreaterThanOrEqual(3);
      for (const p of t.parts!) {
        const bytes = (p.buffer as unknown as FakeBuffer).bytes;
        expect(p.buffer.size).toBeLessThanOrEqual(Math.floor(L.bytes / 3) + 16);
        expect(Array.from(dequantize(p.layout, bytes))).toEqual(Array.from(whole.subarray(p.rowStart * cols, (p.rowStart + p.layout.rows) * cols)));
      }
      expect(w.tensor('model.norm.weight').parts).toBeUndefined();
    });
  }
});

describe('checkWeightBindings', () => {
  const { manifest } = folder('q8', 301, 100);
  const expertLayer = 4 * 3 * 256;

  it('passes a split embedding, an expert group split over buffers, and a paged expert pool that fits', () => {
    expect(errorOf(() => checkWeightBindings(manifest, expertLayer))).toBeNull();
    expect(errorOf(() => checkWeightBindings(manifest, 2000, { expertSlots: 2 }))).toBeNull();
    expect(errorOf(() => checkWeightBindings(manifest, 2000))).toBeNull();
  });

  it('refuses a paged expert pool above the limit, naming the layer, its size and the slots that fit', () => {
    const e = errorOf(() => checkWeightBindings(manifest, expertLayer - 256, { expertSlots: 4 }));
    expect(e?.code).toBe('insufficient-limits');
    expect(e?.message).toMatch(/the expert pool of layer 0 takes .* MiB in one buffer \(4 slots of .*at most 3 slots per layer/);
  });

  it('refuses a group whose single expert exceeds the limit, naming the layer, the expert size and the limit', () => {
    const e = errorOf(() => checkWeightBindings(manifest, 700));
    expect(e?.code).toBe('insufficient-limits');
    expect(e?.message).toMatch(/^one routed expert of layer 0 takes 0\.0 MiB \(768 bytes\).* at most 0\.0 MiB \(700 bytes\) per buffer/);
  });

  it('refuses a tensor above the limit that no reader can take in parts', () => {
    const big = { ...manifest, tensors: manifest.tensors.map((t) => (t.name === 'model.norm.weight' ? { ...t, name: 'model.layers.0.mlp.gate_proj.weight' } : t)) };
    const e = errorOf(() => checkWeightBindings(big, 200));
    expect(e?.code).toBe('insufficient-limits');
    expect(e?.message).toMatch(/^model\.layers\.0\.mlp\.gate_proj\.weight takes .* only the embedding and LM head tables can be split/);
  });
});

describe('planExpertParts', () => {
  it('covers every expert in order with runs that each fit, as few as whole experts allow', () => {
    // [experts, stored after them, stride, limit]
    const cases: [number, number, number, number][] = [
      [8, 1, 36864, 160_000], [160, 0, 256 * 1013, 2 ** 31 - 1], [256, 1, 256 * 7, 256 * 7 * 3], [5, 1, 512, 512],
      [7, 0, 768, 10_000], [3, 1, 1024, 1024 * 4 - 1],
    ];
    for (const [count, extra, stride, limit] of cases) {
      const parts = planExpertParts(3, count, stride, limit, extra);
      let next = 0;
      for (const p of parts) {
        expect(p.base).toBe(next);
        expect(p.count).toBeGreaterThan(0);
        expect(p.count * stride).toBeLessThanOrEqual(limit);
        next += p.count;
      }
      expect(next).toBe(count + extra);
      let most = 0;
      while ((most + 1) * stride <= limit) most++;
      expect(parts.length, `${count}+${extra} of ${stride} under ${limit}`).toBe(Math.ceil((count + extra) / most));
      // Nearly equal: no part more than one expert larger than another.
      expect(Math.max(...parts.map((p) => p.count)) - Math.min(...parts.map((p) => p.count))).toBeLessThanOrEqual(1);
    }
  });

  it('keeps a group that fits as one part', () => {
    expect(planExpertParts(0, 8, 1024, 9 * 1024, 1)).toEqual([{ base: 0, count: 9 }]);
  });

  it('refuses an expert larger than the limit', () => {
    const e = errorOf(() => planExpertParts(12, 160, 3 * 2 ** 20, 2 ** 21));
    expect(e?.code).toBe('insufficient-limits');
    expect(e?.message).toMatch(/^one routed expert of layer 12 takes 3\.0 MiB \(3145728 bytes\); this GPU binds at most 2\.0 MiB \(2097152 bytes\) per buffer/);
  });
});

describe('an expert group split through the uploader', () => {
  it('holds each expert\'s stored bytes at its index in the part that has it', () => {
    const { manifest, data } = folder('q8', 301, 100);
    const all = new Uint8Array(data[0].length + data[1].length);
    all.set(data[0]);
    all.set(data[1], data[0].length);
    const up = GpuWeights.uploader(fakeDevice({ maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 }).device, manifest, { maxBindingBytes: 2000 });
    data.forEach((d, i) => up.write(i, d));
    const ex = up.finish().experts(0);
    expect(ex.parts.map((p) => [p.base, p.count])).toEqual([[0, 2], [2, 2]]);
    expect(ex.buffer).toBe(ex.parts[0].buffer);
    for (const e of manifest.experts) {
      const p = ex.parts.find((q) => e.expert >= q.base && e.expert < q.base + q.count)!;
      const at = (e.expert - p.base) * ex.strideBytes;
      const start = e.shard * data[0].length + e.offset;
      expect(p.buffer.size).toBeLessThanOrEqual(2000);
      expect(Buffer.from((p.buffer as unknown as FakeBuffer).bytes.subarray(at, at + e.bytes)).equals(Buffer.from(all.subarray(start, start + e.bytes))), `expert ${e.expert}`).toBe(true);
    }
  });
});
