import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseHfConfig } from './config';
import { expectedTensors } from './tensors';

const golden = (m: string) => JSON.parse(readFileSync(new URL(`../../../../fixtures/golden/${m}/config.json`, import.meta.url), 'utf8'));

describe('parseHfConfig', () => {
  it('reads the V3 golden config', () => {
    const c = parseHfConfig(golden('v3'));
    expect(c.modelType).toBe('deepseek_v3');
    expect(c.layers.map((l) => l.ffn)).toEqual(['dense', 'moe', 'moe']);
    expect(c.numMtpLayers).toBe(1);
    expect(c.moe).toMatchObject({ nRoutedExperts: 8, topK: 2, nGroup: 2, topkGroup: 1, scoring: 'sigmoid', topkMethod: 'noaux_tc', hasCorrectionBias: true, normTopkProb: true, routedScalingFactor: 2.5 });
    expect(c.rope.yarn).toMatchObject({ factor: 40, originalMaxPositions: 4096, mscaleAllDim: 1 });
    expect(c.eosTokenIds).toEqual([1]);
  });

  it('reads the V2-Lite golden config', () => {
    const c = parseHfConfig(golden('v2lite'));
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

describe('expectedTensors', () => {
  it('matches the golden checkpoints tensor for tensor', () => {
    for (const m of ['v3', 'v2lite']) {
      const buf = readFileSync(new URL(`../../../../fixtures/golden/${m}/model.safetensors`, import.meta.url));
      const n = Number(buf.readBigUInt64LE(0));
      const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { shape: number[] }>;
      delete header.__metadata__;
      const specs = expectedTensors(parseHfConfig(golden(m)));
      expect(Object.fromEntries(specs.map((s) => [s.name, s.shape]))).toEqual(Object.fromEntries(Object.entries(header).map(([k, v]) => [k, v.shape])));
    }
  });
});
