import { describe, expect, it } from 'vitest';
import { expectedTensors, tensorLayout, type ModelConfig, type Manifest, type ManifestExpert, type ManifestTensor } from 'webmoe/model';
import { formatFor, type Dtype } from '@webmoe/converter';
import { BENCH_MODELS, SCALING_EXPERTS, benchConfig, decodeStepBytes, paramCounts, scalingModel, v3Config } from './bench-models';

/** Parameters by the architecture's formula (docs/architecture-v3.md#tensors), not by walking the tensor list. */
function formulaCounts(c: ModelConfig): { total: number; active: number } {
  const d = c.hiddenSize, H = c.numHeads, ql = c.qLoraRank!, kv = c.kvLoraRank;
  const attention = d * ql + ql + ql * H * (c.qkNopeHeadDim + c.qkRopeHeadDim) + d * (kv + c.qkRopeHeadDim) + kv
    + kv * H * (c.qkNopeHeadDim + c.vHeadDim) + H * c.vHeadDim * d + 2 * d;
  const m = c.moe!;
  const expert = 3 * d * m.intermediateSize;
  let total = 2 * c.vocabSize * d + d;
  let active = c.vocabSize * d + d + d;
  for (const l of c.layers) {
    const ffn = l.ffn === 'dense' ? 3 * d * c.intermediateSize : m.nRoutedExperts * (d + 1) + m.nSharedExperts * expert + m.nRoutedExperts * expert;
    const used = l.ffn === 'dense' ? ffn : m.nRoutedExperts * (d + 1) + m.nSharedExperts * expert + m.topK * expert;
    total += attention + ffn;
    active += attention + used;
  }
  return { total, active };
}

/** A manifest's sizes as the converter lays them out from a checkpoint of `dtype` (default: router f32). */
function fakeManifest(config: ModelConfig, quant: 'q4' | 'f32', dtype?: Dtype): Manifest {
  const tensors: ManifestTensor[] = [];
  const experts = new Map<string, ManifestExpert>();
  for (const t of expectedTensors(config, false)) {
    const format = formatFor(t, quant, dtype);
    const bytes = tensorLayout(format, t.shape).bytes;
    tensors.push({ ...t, format, shard: 0, offset: 0, bytes });
    if (t.expert !== null) {
      const key = `${t.layer}/${t.expert}`;
      const e = experts.get(key) ?? { layer: t.layer!, expert: t.expert, mtp: false, shard: 0, offset: 0, bytes: 0 };
      e.bytes += bytes;
      experts.set(key, e);
    }
  }
  return { model: { config, hf: {} }, quant, tensors, experts: [...experts.values()] } as unknown as Manifest;
}

describe('bench models', () => {
  it('count parameters as the architecture does', () => {
    for (const m of [...BENCH_MODELS, ...SCALING_EXPERTS.map(scalingModel)]) {
      const c = benchConfig(m);
      const f = formulaCounts(c);
      const p = paramCounts(c);
      expect(p.total, m.name).toBe(f.total);
      expect(p.active, m.name).toBeCloseTo(f.active, 6);
    }
  });

  it('are about 10M, 100M and 500M parameters with V3 routing', () => {
    const targets = [10e6, 100e6, 500e6];
    BENCH_MODELS.forEach((m, i) => {
      const c = benchConfig(m);
      expect(Math.abs(paramCounts(c).total / targets[i] - 1), m.name).toBeLessThan(0.15);
      expect(c.moe).toMatchObject({ nRoutedExperts: 256, topK: 8, nGroup: 8, topkGroup: 4, scoring: 'sigmoid', topkMethod: 'noaux_tc' });
    });
  });

  it("keep V3's widths relative to the hidden size", () => {
    for (const m of BENCH_MODELS) {
      const hf = v3Config(m.shape) as Record<string, number>;
      const d = hf.hidden_size;
      expect(hf.vocab_size / d, m.name).toBeCloseTo(129280 / 7168, 0);
      expect(hf.moe_intermediate_size / d, m.name).toBeGreaterThan(0.2);
      expect(hf.moe_intermediate_size / d, m.name).toBeLessThan(0.4);
      // H·(nope+rope) and H·v over d: 3.43 and 2.29 in V3.
      expect((hf.num_attention_heads * (hf.qk_nope_head_dim + hf.qk_rope_head_dim)) / d, m.name).toBeCloseTo(3.43, 0);
    }
  });

  it('scaling models share their active parameters and differ in experts only', () => {
    const counts = SCALING_EXPERTS.map((e) => paramCounts(benchConfig(scalingModel(e))));
    const active = counts.map((c) => c.active);
    // The router (E × d) and its bias are the only active parameters that grow with E.
    expect(Math.max(...active) / Math.min(...active) - 1).toBeLessThan(0.1);
    expect(counts[2].total).toBeGreaterThan(counts[0].total * 3);
  });
});

describe('decodeStepBytes', () => {
  it('reads K experts per MoE layer, whatever the number of experts', () => {
    const [a, b] = [8, 128].map((e) => {
      const c = benchConfig(scalingModel(e));
      return { c, bytes: decodeStepBytes(fakeManifest(c, 'f32'), 10) };
    });
    const c = a.c;
    const moeLayers = c.layers.filter((l) => l.ffn === 'moe').length;
    expect(a.bytes.experts).toBe(b.bytes.experts);
    expect(a.bytes.experts).toBe(moeLayers * c.moe!.topK * 3 * c.hiddenSize * c.moe!.intermediateSize * 4);
    // Everything else differs by the router weights and bias (f32) only.
    expect(b.bytes.weights - a.bytes.weights).toBe(moeLayers * (128 - 8) * (c.hiddenSize + 1) * 4);
  });

  it('grows by less than 10% from 8 to 128 experts as the bench converts them (q4, bf16 router)', () => {
    const totals = SCALING_EXPERTS.map((e) => decodeStepBytes(fakeManifest(benchConfig(scalingModel(e)), 'q4', 'BF16'), 8).total);
    expect(Math.max(...totals) / Math.min(...totals) - 1).toBeLessThan(0.1);
  });

  it('counts one embedding row, all other weights and the KV rows up to the position', () => {
    const c = benchConfig(BENCH_MODELS[0]);
    const m = fakeManifest(c, 'q4');
    const at3 = decodeStepBytes(m, 3);
    const at4 = decodeStepBytes(m, 4);
    expect(at4.kv - at3.kv).toBe((c.kvLoraRank + c.qkRopeHeadDim) * 4 * c.numLayers);
    expect(at3.kv).toBe(4 * (c.kvLoraRank + c.qkRopeHeadDim) * 4 * c.numLayers);
    const embed = m.tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
    const allButExperts = m.tensors.filter((t) => t.expert === null).reduce((s, t) => s + t.bytes, 0);
    expect(at3.weights).toBe(allButExperts - embed.bytes + Math.ceil(embed.bytes / c.vocabSize));
    expect(at3.total).toBe(at3.weights + at3.experts + at3.kv);
  });
});
