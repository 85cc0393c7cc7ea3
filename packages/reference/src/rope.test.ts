import { describe, expect, it } from 'vitest';
import { referenceArgs, type ReferenceArgs } from './args';
import { Rope, ropeAmplitude, softmaxScale, yarnCorrectionRange } from './rope';

/** The released configs' attention and rope fields (docs/architecture-v3.md), with the rest filled in minimally. */
function released(which: 'v3' | 'v2lite', yarn = true): ReferenceArgs {
  const mscale = which === 'v3' ? 1 : 0.707;
  return referenceArgs({
    model_type: which === 'v3' ? 'deepseek_v3' : 'deepseek_v2', vocab_size: 8, hidden_size: 8, intermediate_size: 8,
    num_hidden_layers: 1, first_k_dense_replace: 1, num_attention_heads: 2, n_routed_experts: 0, q_lora_rank: null, kv_lora_rank: 512,
    qk_nope_head_dim: 128, qk_rope_head_dim: 64, v_head_dim: 128, rope_theta: 10000,
    rope_scaling: { type: 'yarn', factor: 40, original_max_position_embeddings: 4096, beta_fast: 32, beta_slow: 1, mscale, mscale_all_dim: mscale },
  }, { yarn });
}

describe('YaRN', () => {
  it('blends between index 10 and 23 for the released rope settings', () => {
    const args = released('v3');
    expect(yarnCorrectionRange(64, 10000, args.yarn!)).toEqual([10, 23]);
    const inv = Rope.forArgs(args).invFreq;
    const plain = Rope.forArgs(released('v3', false)).invFreq;
    expect(inv.length).toBe(32);
    for (let i = 0; i <= 10; i++) expect(inv[i]).toBe(plain[i]);
    for (let i = 23; i < 32; i++) expect(inv[i]).toBeCloseTo(plain[i] / 40, 18);
    // halfway through the ramp: the mean of kept and stretched
    const i = 15, ramp = (15 - 10) / 13;
    expect(inv[i]).toBeCloseTo(plain[i] * (1 - ramp) + (plain[i] / 40) * ramp, 18);
    expect(plain[1]).toBeCloseTo(Math.pow(10000, -2 / 64), 15);
  });

  it('gives the softmax scales of docs/architecture-v3.md', () => {
    expect(softmaxScale(released('v3'))).toBeCloseTo(0.1352338, 7);
    expect(softmaxScale(released('v2lite'))).toBeCloseTo(0.1147214, 7);
    expect(softmaxScale(released('v3', false))).toBeCloseTo(1 / Math.sqrt(192), 15);
    expect(ropeAmplitude(released('v3'))).toBe(1);
    expect(ropeAmplitude(released('v2lite'))).toBe(1);
  });
});

describe('interleaved RoPE', () => {
  const args = released('v3');
  const rope = Rope.forArgs(args);
  const vec = (seed: number) => Float64Array.from({ length: 64 }, (_, i) => Math.sin(seed * 7.3 + i * 1.7));

  it('rotates adjacent pairs as complex numbers times e^(i·pos·θ)', () => {
    const x = vec(1);
    const y = x.slice();
    rope.apply(y, 0, 37);
    for (let i = 0; i < 32; i++) {
      const a = 37 * rope.invFreq[i];
      expect(y[2 * i]).toBeCloseTo(x[2 * i] * Math.cos(a) - x[2 * i + 1] * Math.sin(a), 14);
      expect(y[2 * i + 1]).toBeCloseTo(x[2 * i] * Math.sin(a) + x[2 * i + 1] * Math.cos(a), 14);
    }
  });

  it('makes q·k depend only on the distance between positions', () => {
    const score = (m: number, n: number) => {
      const q = vec(2), k = vec(3);
      rope.apply(q, 0, m);
      rope.apply(k, 0, n);
      return q.reduce((s, v, i) => s + v * k[i], 0);
    };
    expect(score(105, 100)).toBeCloseTo(score(5, 0), 11);
    expect(score(3, 9)).toBeCloseTo(score(1003, 1009), 11);
    expect(score(5, 0)).not.toBeCloseTo(score(6, 0), 3);
  });

  it('only touches the slice it is given', () => {
    const x = new Float64Array(80).fill(1);
    rope.apply(x, 8, 3);
    expect(Array.from(x.subarray(0, 8))).toEqual(new Array(8).fill(1));
    expect(Array.from(x.subarray(72))).toEqual(new Array(8).fill(1));
  });
});
