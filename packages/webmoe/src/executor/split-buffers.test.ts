// Split tensors (split-buffers.ts): where the parts start, and that the uploader fills each part with exactly
// the rows it holds. Expected values come from formats.ts (the layouts and dequantize of the whole tensor),
// not from the planning under test.
import { describe, expect, it } from 'vitest';
import { isWebmoeError } from '../errors';
import { dequantize, tensorLayout, type TensorLayout, type WeightFormat } from '../model/formats';
import type { ManifestExpert, ManifestTensor } from '../model/manifest';
import { createRng } from '../util/random';
import { checkWeightBindings, planRowSplit, rowAlignment } from './split-buffers';
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

  it('passes a split embedding, and a paged expert pool that fits', () => {
    expect(errorOf(() => checkWeightBindings(manifest, expertLayer))).toBeNull();
    expect(errorOf(() => checkWeightBindings(manifest, 2000, { expertSlots: 2 }))).toBeNull();
    expect(errorOf(() => checkWeightBindings(manifest, 2000))?.code).toBe('insufficient-limits');
  });

  it('refuses an expert group above the limit, naming the layer, its size and the slots that fit', () => {
    const e = errorOf(() => checkWeightBindings(manifest, expertLayer - 256));
    expect(e?.code).toBe('insufficient-limits');
    expect(e?.message).toMatch(/the routed experts of layer 0 take .* MiB in one buffer \(4 experts of .*at most 3 slots per layer/);
  });

  it('refuses a tensor above the limit that no reader can take in parts', () => {
    const big = { ...manifest, tensors: manifest.tensors.map((t) => (t.name === 'model.norm.weight' ? { ...t, name: 'model.layers.0.mlp.gate_proj.weight' } : t)) };
    const e = errorOf(() => checkWeightBindings(big, 200));
    expect(e?.code).toBe('insufficient-limits');
    expect(e?.message).toMatch(/^model\.layers\.0\.mlp\.gate_proj\.weight takes .* only the embedding and LM head tables can be split/);
  });
});
