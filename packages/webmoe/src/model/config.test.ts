import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseHfConfig, requireV3, type ModelConfig } from './config';
import type { V4Config } from './config-v4';
import { yarnCorrectionRange } from './rope';
import { expectedTensors } from './tensors';

const golden = (m: string) => JSON.parse(readFileSync(new URL(`../../../../fixtures/golden/${m}/config.json`, import.meta.url), 'utf8'));

describe('parseHfConfig', () => {
  it('reads the V3 golden config', () => {
    const c = parseHfConfig(golden('v3')) as ModelConfig;
    expect(c.family).toBe('v3');
    expect(c.modelType).toBe('deepseek_v3');
    expect(c.layers.map((l) => l.ffn)).toEqual(['dense', 'moe', 'moe']);
    expect(c.numMtpLayers).toBe(1);
    expect(c.moe).toMatchObject({ nRoutedExperts: 8, topK: 2, nGroup: 2, topkGroup: 1, scoring: 'sigmoid', topkMethod: 'noaux_tc', hasCorrectionBias: true, normTopkProb: true, routedScalingFactor: 2.5 });
    expect(c.rope.yarn).toMatchObject({ factor: 40, originalMaxPositions: 4096, mscaleAllDim: 1 });
    expect(c.eosTokenIds).toEqual([1]);
  });

  it('reads the V2-Lite golden config', () => {
    const c = parseHfConfig(golden('v2lite')) as ModelConfig;
    expect(c.qLoraRank).toBeNull();
    expect(c.moe).toMatchObject({ scoring: 'softmax', topkMethod: 'greedy', nSharedExperts: 2, hasCorrectionBias: false });
    expect(c.numMtpLayers).toBe(0);
  });

  it.each([
    ['model_type', { model_type: 'llama' }, /model_type "llama" is not supported/],
    ['hidden_size', { hidden_size: undefined }, /"hidden_size" is missing/],
    ['q_lora_rank', { q_lora_rank: undefined }, /"q_lora_rank" is missing/],
    ['topk_group', { topk_group: 3 }, /"topk_group" \(3\) must not exceed n_group \(2\)/],
    ['num_experts_per_tok', { num_experts_per_tok: 9 }, /"num_experts_per_tok" \(9\) must not exceed/],
    ['qk_rope_head_dim', { qk_rope_head_dim: 7 }, /must be even/],
    ['scoring_func', { scoring_func: 'relu' }, /"scoring_func" must be one of/],
  ])('names a bad %s', (_field, patch, message) => {
    const json = { ...golden('v3'), ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete (json as Record<string, unknown>)[k];
    expect(() => parseHfConfig(json, 'x/config.json')).toThrow(message);
  });
});

describe('parseHfConfig on DeepSeek-V4 configs', () => {
  const v4 = (m = 'v4fp8', patch: Record<string, unknown> = {}) => {
    const json = { ...golden(m), ...patch };
    for (const [k, v] of Object.entries(patch)) if (v === undefined) delete (json as Record<string, unknown>)[k];
    return parseHfConfig(json, 'x/config.json') as V4Config;
  };

  it('reads the V4 golden config: layer kinds from compress_ratios, hash layers, MTP layer last', () => {
    const c = v4();
    expect(c.family).toBe('v4');
    expect(c.modelType).toBe('deepseek_v4');
    // compress_ratios [0, 4, 16, 4, 0], num_hash_layers 2 (the golden README's layer list)
    expect(c.layers.map((l) => [l.attention, l.compressRatio, l.hashRouting])).toEqual([['swa', 0, true], ['csa', 4, true], ['hca', 16, false], ['csa', 4, false]]);
    expect(c.mtpLayers.map((l) => [l.attention, l.compressRatio, l.hashRouting])).toEqual([['swa', 0, false]]);
    expect(c).toMatchObject({
      vocabSize: 320, hiddenSize: 96, numLayers: 4, numMtpLayers: 1, numHeads: 4, headDim: 80, qkRopeHeadDim: 16, qLoraRank: 48,
      oGroups: 2, oLoraRank: 40, slidingWindow: 16, indexer: { nHeads: 16, headDim: 32, topK: 8 },
      moe: { nRoutedExperts: 8, nSharedExperts: 1, topK: 3, scoring: 'sqrtsoftplus', routedScalingFactor: 1.5, intermediateSize: 32, numHashLayers: 2, swigluLimit: 2.5 },
      hc: { mult: 4, sinkhornIters: 20, eps: 1e-6 }, rmsNormEps: 1e-6, bosTokenId: 0, eosTokenIds: [1], kvFp8Roundtrip: true, expertDtype: 'fp4',
    });
    expect(v4('v4long')).toMatchObject({ kvFp8Roundtrip: false, expertDtype: null });
  });

  it('gives window-only layers plain rope_theta and compressed layers compress_rope_theta with YaRN', () => {
    const c = v4();
    expect(c.layers[0].rope).toEqual({ theta: 10000, dim: 16, yarn: null });
    for (const l of [c.layers[1], c.layers[2], c.layers[3]]) {
      expect(l.rope).toEqual({ theta: 160000, dim: 16, yarn: { factor: 16, originalMaxPositions: 65536, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 0 } });
    }
    expect(c.mtpLayers[0].rope.yarn).toBeNull();
    // The release's rope (r = 64): YaRN's ramp runs over pairs 15 … 25 (docs/architecture-v4.md#rope).
    expect(yarnCorrectionRange(c.layers[1].rope.yarn!, 64, 160000)).toEqual([15, 25]);
  });

  it('recognizes V4 by its architecture too', () => {
    expect(v4('v4fp8', { model_type: undefined }).family).toBe('v4');
  });

  it.each([
    ['compress_ratios length', { compress_ratios: [0, 4, 16, 4] }, /"compress_ratios" has 4 entries; num_hidden_layers \+ num_nextn_predict_layers = 4 \+ 1 needs 5/],
    ['compress_ratios entry', { compress_ratios: [0, 4, 16, -4, 0] }, /"compress_ratios" entry 3 must be an integer ≥ 0/],
    ['compress_ratios of 1', { compress_ratios: [0, 4, 1, 4, 0] }, /"compress_ratios" entry 2 is 1/],
    ['compress_ratios missing', { compress_ratios: undefined }, /"compress_ratios" is missing/],
    ['num_hash_layers', { num_hash_layers: 5 }, /"num_hash_layers" \(5\) exceeds num_hidden_layers \(4\)/],
    ['o_groups', { o_groups: 3 }, /"o_groups" \(3\) must divide num_attention_heads \(4\)/],
    ['index_head_dim', { index_head_dim: 48 }, /"index_head_dim" must be a power of two/],
    ['num_key_value_heads', { num_key_value_heads: 4 }, /"num_key_value_heads" must be 1/],
    ['scoring_func', { scoring_func: 'sigmoid' }, /"scoring_func" must be one of sqrtsoftplus/],
    ['hc_mult', { hc_mult: undefined }, /"hc_mult" is missing/],
    ['qk_rope_head_dim', { qk_rope_head_dim: 80 }, /"qk_rope_head_dim" \(80\) must be less than head_dim \(80\)/],
    ['expert_dtype', { expert_dtype: 'int4' }, /"expert_dtype" must be one of fp4, fp8/],
    ['kv_fp8_roundtrip', { kv_fp8_roundtrip: 'yes' }, /"kv_fp8_roundtrip" must be true or false/],
  ])('names a bad %s', (_what, patch, message) => {
    expect(() => v4('v4fp8', patch)).toThrow(message);
    expect(() => v4('v4fp8', patch)).toThrow(/x\/config\.json/);
  });

  it('requireV3 passes V2/V3 descriptions and refuses V4 with a clear error', () => {
    const v3 = parseHfConfig(golden('v3'));
    expect(requireV3(v3, 'The executor')).toBe(v3);
    expect(() => requireV3(v4(), 'The executor')).toThrow(/The executor does not run DeepSeek-V4 models \(model_type deepseek_v4\) yet/);
  });
});

/** The tensor names and shapes of a golden checkpoint, read straight from its safetensors header. */
function goldenHeader(m: string): Record<string, { dtype: string; shape: number[] }> {
  const buf = readFileSync(new URL(`../../../../fixtures/golden/${m}/model.safetensors`, import.meta.url));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  delete header.__metadata__;
  return header;
}

describe('expectedTensors', () => {
  it('matches the golden checkpoints tensor for tensor', () => {
    for (const m of ['v3', 'v2lite']) {
      const header = goldenHeader(m);
      const specs = expectedTensors(parseHfConfig(golden(m)));
      expect(Object.fromEntries(specs.map((s) => [s.name, s.shape]))).toEqual(Object.fromEntries(Object.entries(header).map(([k, v]) => [k, v.shape])));
    }
  });

  it('matches the V4 goldens tensor for tensor: BF16 shapes as stored, FP4 experts at twice the packed columns, scales aside', () => {
    for (const m of ['v4long', 'v4fp8']) {
      const header = goldenHeader(m);
      const stored = Object.fromEntries(Object.entries(header).filter(([k]) => !k.endsWith('.scale')).map(([k, v]) => [k, v.dtype === 'I8' ? [v.shape[0], 2 * v.shape[1]] : v.shape]));
      const specs = expectedTensors(parseHfConfig(golden(m)));
      expect(Object.fromEntries(specs.map((s) => [s.name, s.shape]))).toEqual(stored);
      expect(specs.filter((s) => s.kind === 'table').map((s) => s.name)).toEqual(['layers.0.ffn.gate.tid2eid', 'layers.1.ffn.gate.tid2eid']);
      expect(expectedTensors(parseHfConfig(golden(m)), false).some((s) => s.mtp || s.name.startsWith('mtp.'))).toBe(false);
    }
  });

  it('gives each V4 tensor the kind that decides its format', () => {
    const specs = expectedTensors(parseHfConfig(golden('v4fp8')));
    const kind = (name: string) => specs.find((s) => s.name === name)?.kind;
    expect(kind('embed.weight')).toBe('embedding');
    expect(kind('head.weight')).toBe('linear');
    for (const n of ['layers.1.attn.wq_a.weight', 'layers.1.attn.wo_a.weight', 'layers.1.attn.indexer.wq_b.weight', 'layers.2.ffn.experts.7.w2.weight', 'layers.0.ffn.shared_experts.w3.weight', 'mtp.0.e_proj.weight']) expect(kind(n), n).toBe('linear');
    for (const n of ['norm.weight', 'layers.1.attn.compressor.norm.weight', 'layers.1.attn.indexer.compressor.norm.weight', 'mtp.0.enorm.weight', 'layers.3.attn.kv_norm.weight']) expect(kind(n), n).toBe('norm');
    for (const n of ['hc_head_fn', 'layers.2.hc_ffn_scale', 'layers.0.attn.attn_sink', 'layers.1.attn.compressor.ape', 'layers.1.attn.compressor.wkv.weight', 'layers.1.attn.indexer.weights_proj.weight', 'mtp.0.hc_head_base']) expect(kind(n), n).toBe('precise');
    expect(kind('layers.2.ffn.gate.weight')).toBe('router');
    expect(kind('layers.2.ffn.gate.bias')).toBe('bias');
    const e = specs.filter((s) => s.layer === 3 && s.expert === 5);
    expect(e.map((s) => s.name)).toEqual(['layers.3.ffn.experts.5.w1.weight', 'layers.3.ffn.experts.5.w3.weight', 'layers.3.ffn.experts.5.w2.weight']);
    expect(specs.filter((s) => s.name.startsWith('mtp.0.')).every((s) => s.mtp && s.layer === 4)).toBe(true);
  });
});
