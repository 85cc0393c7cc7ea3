// The load-time fusions (fused-weights.ts) through the uploader, on a recording fake device: the fused
// q_a + kv_a tensor must hold, section by section, q_a's rows then kv_a's (the expected bytes are cut from
// the shards with the layouts of formats.ts, not with the code under test), pairs that cannot split at a row
// stay apart, and a shared expert shaped like the routed ones lands after them in the experts' buffer.
import { describe, expect, it } from 'vitest';
import { tensorLayout, type WeightFormat } from '../model/formats';
import type { Manifest, ManifestExpert, ManifestTensor } from '../model/manifest';
import { createRng } from '../util/random';
import { fusedQkvName, sharedExpertIndex } from './fused-weights';
import { GpuWeights, type WeightOptions } from './weights';

// Small shards, so that tensors continue from one shard into the next.
const SHARD = 4096;

interface FakeBuffer { size: number; bytes: Uint8Array; destroy(): void }

function load(build: (t: (name: string, format: WeightFormat, shape: number[], expert?: number) => ManifestTensor) => ManifestExpert[], opts: WeightOptions = {}) {
  const tensors: ManifestTensor[] = [];
  let at = 0;
  const t = (name: string, format: WeightFormat, shape: number[], expert?: number) => {
    const bytes = tensorLayout(format, shape).bytes;
    at = Math.ceil(at / 256) * 256;
    const m = { name, kind: 'linear', shape, format, layer: 0, expert: expert ?? null, mtp: false, shard: Math.floor(at / SHARD), offset: at % SHARD, bytes } as ManifestTensor;
    at += bytes;
    tensors.push(m);
    return m;
  };
  const experts = build(t);
  const rng = createRng(5);
  const all = new Uint8Array(at).map(() => rng.int(256));
  const shards = Array.from({ length: Math.ceil(at / SHARD) }, (_, i) => all.subarray(i * SHARD, Math.min(at, (i + 1) * SHARD)));
  const manifest = {
    model: { config: { family: 'v3', numLayers: 1, numMtpLayers: 0 }, hf: {} }, mtp: false,
    shards: shards.map((d, i) => ({ file: `s${i}`, bytes: d.length, sha256: '0'.repeat(64) })), tensors, experts,
  } as unknown as Manifest;
  const live = new Set<FakeBuffer>();
  const device = {
    createBuffer: ({ size }: { size: number }): FakeBuffer => {
      const b: FakeBuffer = { size, bytes: new Uint8Array(size), destroy() { live.delete(b); } };
      live.add(b);
      return b;
    },
    queue: { writeBuffer: (b: FakeBuffer, o: number, d: Uint8Array, s: number, n: number) => {
      if (o % 4 || n % 4) throw new Error(`unaligned write at ${o} of ${n}`);
      b.bytes.set(d.subarray(s, s + n), o);
    } },
  } as unknown as GPUDevice;
  const up = GpuWeights.uploader(device, manifest, opts);
  shards.forEach((d, i) => up.write(i, d));
  const bytesOf = (m: ManifestTensor, from = 0, n = m.bytes) => all.subarray(m.shard * SHARD + m.offset + from, m.shard * SHARD + m.offset + from + n);
  return { weights: up.finish(), bytesOf, liveBytes: () => [...live].reduce((n, b) => n + b.size, 0) };
}

const held = (w: GpuWeights, name: string) => {
  const g = w.tensor(name);
  return (g.buffer as unknown as FakeBuffer).bytes.subarray(g.byteOffset, g.byteOffset + g.layout.bytes);
};

describe('FusedWeights', () => {
  for (const format of ['q4', 'q8', 'f32', 'bf16'] as const) {
    it(`stores q_a then kv_a section by section (${format}, odd rows)`, () => {
      const d = 64;
      let qa!: ManifestTensor, kv!: ManifestTensor;
      const { weights, bytesOf } = load((t) => {
        qa = t('model.layers.0.self_attn.q_a_proj.weight', format, [5, d]);
        t('model.layers.0.self_attn.q_b_proj.weight', format, [900, 5]); // puts kv_a in a later shard than q_a
        kv = t('model.layers.0.self_attn.kv_a_proj_with_mqa.weight', format, [7, d]);
        return [];
      });
      expect(weights.has(qa.name) || weights.has(kv.name)).toBe(false);
      const fused = held(weights, fusedQkvName('model.layers.0'));
      const L = tensorLayout(format, [12, d]), A = tensorLayout(format, [5, d]), B = tensorLayout(format, [7, d]);
      for (const s of ['q', 'scales', 'mins'] as const) {
        if (!L[s]) continue;
        const want = new Uint8Array([...bytesOf(qa, A[s]!.offset, A[s]!.bytes), ...bytesOf(kv, B[s]!.offset, B[s]!.bytes)]);
        expect(Buffer.from(fused.subarray(L[s]!.offset, L[s]!.offset + L[s]!.bytes)).equals(Buffer.from(want)), s).toBe(true);
      }
    });
  }

  it('keeps pairs apart whose sections do not split at a row (fp8 scale blocks, q8 half-word scales)', () => {
    for (const [format, rows] of [['fp8', 5], ['q8', 5]] as const) {
      let kv!: ManifestTensor;
      const { weights, bytesOf } = load((t) => {
        t('model.layers.0.self_attn.q_a_proj.weight', format, [rows, 32]);
        kv = t('model.layers.0.self_attn.kv_a_proj_with_mqa.weight', format, [7, 32]);
        return [];
      });
      expect(weights.has(fusedQkvName('model.layers.0')), format).toBe(false);
      expect(Buffer.from(held(weights, kv.name)).equals(Buffer.from(bytesOf(kv))), format).toBe(true);
    }
  });

  // Split: a limit of two experts' stride (three q4 tensors each 256-aligned in the shards: 2304 bytes) holds 3 + 1 experts in 2 parts.
  for (const [what, opts] of [['routed experts', {}], ['paging pool', { expertSlots: 2 }], ['routed experts, at the end of the last part', { maxBindingBytes: 2 * 2304 }]] as const) {
    it(`puts a shared expert of the routed shape after the ${what}`, () => {
      const slots = 'expertSlots' in opts ? opts.expertSlots : undefined;
      const shared: ManifestTensor[] = [];
      const { weights, bytesOf, liveBytes } = load((t) => {
        const experts: ManifestExpert[] = [];
        for (let e = 0; e < 3; e++) {
          const g = t(`model.layers.0.mlp.experts.${e}.gate_proj.weight`, 'q4', [9, 64], e);
          t(`model.layers.0.mlp.experts.${e}.up_proj.weight`, 'q4', [9, 64], e);
          const dn = t(`model.layers.0.mlp.experts.${e}.down_proj.weight`, 'q4', [64, 9], e);
          experts.push({ layer: 0, expert: e, mtp: false, shard: g.shard, offset: g.offset, bytes: (dn.shard - g.shard) * SHARD + dn.offset + dn.bytes - g.offset });
        }
        shared.push(t('model.layers.0.mlp.shared_experts.gate_proj.weight', 'q4', [9, 64]));
        shared.push(t('model.layers.0.mlp.shared_experts.up_proj.weight', 'q4', [9, 64]));
        shared.push(t('model.layers.0.mlp.shared_experts.down_proj.weight', 'q4', [64, 9]));
        return experts;
      }, opts);
      const ex = weights.experts(0);
      expect(sharedExpertIndex(weights, ex)).toBe(slots ?? 3);
      // The shared expert's tensors point into the experts buffer: the weights' bytes count it once.
      expect(weights.bytes).toBe(liveBytes());
      const split = 'maxBindingBytes' in opts;
      expect(ex.strideBytes).toBe(2304);
      expect(ex.parts.map((p) => [p.base, p.count])).toEqual(split ? [[0, 2], [2, 2]] : [[0, (slots ?? 3) + 1]]);
      const buf = (ex.parts.at(-1)!.buffer as unknown as FakeBuffer).bytes;
      const base = (split ? 1 : slots ?? 3) * ex.strideBytes;
      expect(weights.tensor(shared[0].name).buffer).toBe(ex.parts.at(-1)!.buffer);
      expect(buf.length).toBeGreaterThanOrEqual(base + ex.strideBytes);
      for (const [i, m] of (['gate', 'up', 'down'] as const).entries()) {
        const at = base + ex[m].offset;
        expect(Buffer.from(buf.subarray(at, at + shared[i].bytes)).equals(Buffer.from(bytesOf(shared[i]))), m).toBe(true);
      }
    });
  }

  it('leaves two shared experts (a wider SwiGLU) as their own tensors', () => {
    const { weights } = load((t) => {
      const g = t('model.layers.0.mlp.experts.0.gate_proj.weight', 'f32', [4, 8], 0);
      t('model.layers.0.mlp.experts.0.up_proj.weight', 'f32', [4, 8], 0);
      const dn = t('model.layers.0.mlp.experts.0.down_proj.weight', 'f32', [8, 4], 0);
      t('model.layers.0.mlp.shared_experts.gate_proj.weight', 'f32', [8, 8]);
      t('model.layers.0.mlp.shared_experts.up_proj.weight', 'f32', [8, 8]);
      t('model.layers.0.mlp.shared_experts.down_proj.weight', 'f32', [8, 8]);
      return [{ layer: 0, expert: 0, mtp: false, shard: g.shard, offset: g.offset, bytes: dn.offset + dn.bytes - g.offset }];
    });
    expect(sharedExpertIndex(weights, weights.experts(0))).toBe(null);
  });
});
