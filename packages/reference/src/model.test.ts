import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isWebmoeError, parseHfConfig } from './engine';
import { ReferenceModel } from './model';
import { syntheticWeights } from './synthetic';
import { MapWeightSource, type Tensor64, type WeightSource } from './weights';
import { relativeError } from './math';

const goldenConfig = (m: string) => JSON.parse(readFileSync(new URL(`../../../fixtures/golden/${m}/config.json`, import.meta.url), 'utf8'));

const variants = {
  v3: parseHfConfig(goldenConfig('v3')),
  v2lite: parseHfConfig(goldenConfig('v2lite')),
  // V2 (not Lite): q LoRA with softmax group-limited routing and normalized, scaled weights
  v2: parseHfConfig({ ...goldenConfig('v2lite'), q_lora_rank: 40, n_group: 3, topk_group: 2, topk_method: 'group_limited_greedy', norm_topk_prob: true, routed_scaling_factor: 16 }),
};

describe.each(Object.entries(variants))('reference model (%s, synthetic weights)', (name, config) => {
  const weights = syntheticWeights(config, 42);
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
    expect(routing.length).toBe(config.numLayers);
    config.layers.forEach((l, i) => {
      if (l.ffn === 'dense') return expect(routing[i]).toBeNull();
      expect(routing[i]!.length).toBe(10);
      const m = config.moe!;
      for (const r of routing[i]!) {
        expect(new Set(r.experts).size).toBe(m.topK);
        r.experts.forEach((e) => expect(e).toBeGreaterThanOrEqual(0));
        r.experts.forEach((e) => expect(e).toBeLessThan(m.nRoutedExperts));
        if (m.normTopkProb) expect(r.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(m.routedScalingFactor, 12);
        if (m.nGroup > 1 && m.topkMethod !== 'greedy') {
          const groups = new Set(r.experts.map((e) => Math.floor(e / (m.nRoutedExperts / m.nGroup))));
          expect(groups.size).toBeLessThanOrEqual(m.topkGroup);
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
  const weights = syntheticWeights(config, 7);

  /** A source that fails on any MTP tensor: proves the main model never reads them. */
  class NoMtp implements WeightSource {
    readonly seen: string[] = [];
    get(name: string): Tensor64 {
      if (name.startsWith(`model.layers.${config.numLayers}.`)) throw new Error(`read MTP tensor ${name}`);
      this.seen.push(name);
      return weights.get(name);
    }
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
      get: (n) => (n === 'model.layers.1.self_attn.kv_b_proj.weight' ? { shape: [120, 23], data: new Float64Array(120 * 23) } : weights.get(n)),
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
    expect(() => new ReferenceModel(variants.v2lite, syntheticWeights(variants.v2lite, 1), { mtp: true })).toThrow(/no MTP layer/);
  });
});
