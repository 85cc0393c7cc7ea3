import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { referenceArgs } from './args';
import { isWebmoeError } from 'webmoe/model';
import { ReferenceModel } from './model';
import { syntheticWeights } from './synthetic';
import { MapWeightSource, type Tensor64, type WeightSource } from './weights';
import { relativeError } from './math';

const goldenConfig = (m: string) => JSON.parse(readFileSync(new URL(`../../../fixtures/golden/${m}/config.json`, import.meta.url), 'utf8'));

const variants = {
  v3: referenceArgs(goldenConfig('v3')),
  v2lite: referenceArgs(goldenConfig('v2lite')),
  // V2 (not Lite): q LoRA with softmax group-limited routing and normalized, scaled weights
  v2: referenceArgs({ ...goldenConfig('v2lite'), q_lora_rank: 40, n_group: 3, topk_group: 2, topk_method: 'group_limited_greedy', norm_topk_prob: true, routed_scaling_factor: 16 }),
};

describe.each(Object.entries(variants))('reference model (%s, synthetic weights)', (name, config) => {
  const weights = syntheticWeights(42);
  const sequence = [0, 5, 17, 300, 42, 42, 7, 311, 128, 2, 99, 64, 250, 1];

  it('gives the same logits fed whole, token by token, or in chunks', () => {
    const model = new ReferenceModel(config, weights);
    const whole = model.forward(sequence, 0);
    expect(model.position).toBe(sequence.length);
    for (const row of whole) {
      expect(row.length).toBe(config.vocabSize);
      expect(row.every(Number.isFinite)).toBe(true);
    }
    model.reset();
    const single = sequence.map((t, i) => model.forward([t], i)[0]);
    model.reset();
    const chunks = [...model.forward(sequence.slice(0, 5), 0), ...model.forward(sequence.slice(5, 6), 5), ...model.forward(sequence.slice(6), 6)];
    for (let i = 0; i < sequence.length; i++) {
      expect(relativeError(single[i], whole[i])).toBeLessThan(1e-12);
      expect(relativeError(chunks[i], whole[i])).toBeLessThan(1e-12);
    }
    // a different prefix must change later rows: the cache is really used
    model.reset();
    const other = model.forward([1, ...sequence.slice(1)], 0);
    expect(relativeError(other.at(-1)!, whole.at(-1)!)).toBeGreaterThan(1e-3);
  });

  it('rewinds when fed again from an earlier position', () => {
    const model = new ReferenceModel(config, weights);
    const first = model.forward(sequence, 0);
    model.forward([3, 4, 5], 4);
    const again = model.forward(sequence.slice(4), 4);
    for (let i = 4; i < sequence.length; i++) expect(relativeError(again[i - 4], first[i])).toBeLessThan(1e-12);
  });

  it('greedy matches its own logits and reports the routing of every MoE layer', () => {
    const model = new ReferenceModel(config, weights);
    const { tokens, logits } = model.greedy(sequence.slice(0, 6), 5);
    expect(tokens.length).toBe(5);
    expect(logits.length).toBe(5);
    // replaying prompt + tokens[0..3] in one prefill reproduces logits[1..4]
    const replay = model.forward([...sequence.slice(0, 6), ...tokens.slice(0, 4)], 0);
    for (let i = 1; i < 5; i++) expect(relativeError(replay[5 + i], logits[i])).toBeLessThan(1e-12);
    const routing = model.lastRouting;
    expect(routing.length).toBe(config.nLayers);
    config.ffn.forEach((kind, i) => {
      if (kind === 'dense') return expect(routing[i]).toBeNull();
      expect(routing[i]!.length).toBe(10);
      const m = config;
      for (const r of routing[i]!) {
        expect(new Set(r.experts).size).toBe(m.nActivatedExperts);
        r.experts.forEach((e) => expect(e).toBeGreaterThanOrEqual(0));
        r.experts.forEach((e) => expect(e).toBeLessThan(m.nRoutedExperts));
        if (m.normTopkProb) expect(r.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(m.routeScale, 12);
        if (m.nExpertGroups > 1 && m.topkMethod !== 'greedy') {
          const groups = new Set(r.experts.map((e) => Math.floor(e / (m.nRoutedExperts / m.nExpertGroups))));
          expect(groups.size).toBeLessThanOrEqual(m.nLimitedGroups);
        }
      }
    });
    void name;
  });

  it('rejects tokens outside the vocabulary and a start past the cache, and stays usable', () => {
    const model = new ReferenceModel(config, weights);
    const before = model.forward([3, 4], 0);
    expect(() => model.forward([config.vocabSize], 2)).toThrow(/outside the vocabulary/);
    expect(() => model.forward([-1], 2)).toThrow(/outside the vocabulary/);
    expect(() => model.forward([1], 3)).toThrow(/startPos 3/);
    try {
      model.forward([1.5], 2);
    } catch (e) {
      expect(isWebmoeError(e, 'invalid-request')).toBe(true);
    }
    expect(model.position).toBe(2);
    expect(relativeError(model.forward([3, 4], 0)[1], before[1])).toBe(0);
  });
});

describe('reference model and MTP', () => {
  const config = variants.v3;
  const weights = syntheticWeights(7);

  /** A source that fails on any MTP tensor: proves the main model never reads them. */
  class NoMtp implements WeightSource {
    readonly seen: string[] = [];
    get(name: string, shape?: readonly number[]): Tensor64 {
      if (name.startsWith(`model.layers.${config.nLayers}.`)) throw new Error(`read MTP tensor ${name}`);
      this.seen.push(name);
      return weights.get(name, shape);
    }
    has = () => true;
  }

  it('runs the main model without touching the MTP layer', () => {
    const source = new NoMtp();
    const model = new ReferenceModel(config, source);
    expect(model.forward([0, 1, 2], 0).length).toBe(3);
    expect(source.seen).toContain('lm_head.weight');
  });

  it('names a tensor with the wrong shape', () => {
    const broken = new Map<string, Tensor64>();
    const source: WeightSource = {
      get: (n, shape) => (n === 'model.layers.1.self_attn.kv_b_proj.weight' ? { shape: [120, 23], data: new Float64Array(120 * 23) } : weights.get(n, shape)),
      has: () => true,
    };
    expect(() => new ReferenceModel(config, source)).toThrow(/model.layers.1.self_attn.kv_b_proj.weight has shape \[120, 23\].*expected \[120, 24\]/);
    expect(() => new ReferenceModel(config, new MapWeightSource(broken))).toThrow(/model.embed_tokens.weight is missing/);
  });

  it('drafts with the MTP head, incrementally as well as in one go', () => {
    const model = new ReferenceModel(config, weights, { mtp: true });
    const seq = [0, 9, 33, 120, 7, 7, 250];
    model.forward(seq.slice(0, -1), 0);
    const whole = model.mtpForward(seq.slice(1));
    expect(whole.length).toBe(seq.length - 1);
    model.reset();
    const single = seq.slice(0, -1).map((t, i) => {
      model.forward([t], i);
      return model.mtpForward([seq[i + 1]])[0];
    });
    for (let i = 0; i < single.length; i++) expect(relativeError(single[i], whole[i])).toBeLessThan(1e-12);
    // the draft differs from the main head's prediction for the same position: a separate module
    model.reset();
    const main = model.forward(seq, 0);
    expect(relativeError(whole[0], main[1])).toBeGreaterThan(1e-3);
    expect(() => new ReferenceModel(variants.v2lite, syntheticWeights(1), { mtp: true })).toThrow(/no MTP layer/);
  });
});

describe('V2/V3 config reading', () => {
  const base = goldenConfig('v3');
  const fails = (patch: Record<string, unknown>, message: RegExp) => {
    let err: unknown;
    try {
      referenceArgs({ ...base, ...patch });
    } catch (e) {
      err = e;
    }
    expect(isWebmoeError(err, 'model-format')).toBe(true);
    expect((err as Error).message).toMatch(message);
  };

  it('takes the released checkpoints\' values for absent behavioural fields', () => {
    const strip = (keys: string[]) => Object.fromEntries(Object.entries(base).filter(([k]) => !keys.includes(k)));
    const behaviour = ['scoring_func', 'topk_method', 'norm_topk_prob', 'routed_scaling_factor', 'first_k_dense_replace', 'num_nextn_predict_layers', 'rms_norm_eps', 'rope_theta'];
    const v3 = referenceArgs(strip(behaviour));
    expect([v3.scoreFunc, v3.topkMethod, v3.normTopkProb, v3.routeScale, v3.ffn, v3.nMtpLayers, v3.rmsNormEps, v3.ropeTheta])
      .toEqual(['sigmoid', 'noaux_tc', true, 2.5, ['dense', 'dense', 'dense'], 0, 1e-6, 10000]);
    const v2 = referenceArgs({ ...strip(behaviour), model_type: 'deepseek_v2', n_group: 1, topk_group: 1 });
    expect([v2.scoreFunc, v2.topkMethod, v2.normTopkProb, v2.routeScale, v2.ffn]).toEqual(['softmax', 'greedy', false, 1, ['dense', 'moe', 'moe']]);
    const byArchitecture = referenceArgs({ ...strip(['model_type']), architectures: ['DeepseekV2ForCausalLM'] });
    expect(byArchitecture.scoreFunc).toBe('sigmoid'); // given explicitly in the file
  });

  it('names the field that is missing or does not fit', () => {
    fails({ hidden_size: undefined }, /field "hidden_size" is missing/);
    fails({ qk_rope_head_dim: 7 }, /qk_rope_head_dim.*even/);
    fails({ n_group: 3 }, /n_group.*must divide n_routed_experts/);
    fails({ topk_group: 3 }, /topk_group.*must not exceed n_group/);
    fails({ num_experts_per_tok: 5 }, /num_experts_per_tok.*exceeds the 4 experts/);
    fails({ n_group: 8, topk_group: 4 }, /n_group.*groups of one expert/);
    fails({ rope_scaling: { type: 'linear', factor: 2 } }, /rope_scaling: field "type" "linear" is not supported \(only yarn\)/);
    fails({ model_type: 'llama' }, /model_type.*not supported/);
    fails({ model_type: 'deepseek_v4' }, /read it with v4Args/);
  });
});
