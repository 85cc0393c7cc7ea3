import { describe, expect, it } from 'vitest';
import type { RopeConfig, YarnConfig } from './config';
import { ropeInvFreq, ropeTable, softmaxScale, yarnCorrectionRange, yarnMscale } from './rope';

// The released configs' rope settings (docs/architecture-v3.md#config).
const yarnV3: YarnConfig = { factor: 40, originalMaxPositions: 4096, betaFast: 32, betaSlow: 1, mscale: 1, mscaleAllDim: 1 };
const yarnV2Lite: YarnConfig = { ...yarnV3, mscale: 0.707, mscaleAllDim: 0.707 };
const ropeV3: RopeConfig = { theta: 10000, dim: 64, yarn: yarnV3 };
const dims = { qkNopeHeadDim: 128, qkRopeHeadDim: 64 };

describe('YaRN frequencies', () => {
  it('ramps between pairs 10 and 23 for V3', () => {
    expect(yarnCorrectionRange(yarnV3, 64, 10000)).toEqual([10, 23]);
  });

  it('keeps the original frequencies below the ramp and divides by the factor above it', () => {
    const inv = ropeInvFreq(ropeV3);
    expect(inv.length).toBe(32);
    for (let i = 0; i <= 10; i++) expect(inv[i]).toBeCloseTo(10000 ** (-i / 32), 15);
    for (let i = 23; i < 32; i++) expect(inv[i] / (10000 ** (-i / 32) / 40)).toBeCloseTo(1, 14);
    // Inside the ramp: a blend, weight (i - 10) / 13 on the interpolated frequency.
    const f16 = 10000 ** (-16 / 32);
    expect(inv[16]).toBeCloseTo(f16 * (7 / 13) + (f16 / 40) * (6 / 13), 15);
  });

  it('is plain base^(-2i/dim) without rope_scaling (Moonlight)', () => {
    const inv = ropeInvFreq({ theta: 50000, dim: 8, yarn: null });
    expect(Array.from(inv)).toEqual([0, 1, 2, 3].map((i) => 50000 ** (-2 * i / 8)));
  });

  it('adds 0.001 to an empty ramp instead of dividing by zero', () => {
    // A context so short that both correction dims clamp to 0.
    const short: YarnConfig = { ...yarnV3, originalMaxPositions: 6 };
    expect(yarnCorrectionRange(short, 64, 10000)).toEqual([0, 0]);
    const inv = ropeInvFreq({ theta: 10000, dim: 64, yarn: short });
    expect(inv[0]).toBe(1);
    expect(inv[1]).toBeCloseTo(10000 ** (-1 / 32) / 40, 15);
  });
});

describe('softmax scale', () => {
  it('matches the released models', () => {
    expect(yarnMscale(40, 1)).toBeCloseTo(1.3688879, 7);
    expect(softmaxScale({ ...dims, rope: ropeV3 })).toBeCloseTo(0.1352338, 7);
    expect(softmaxScale({ ...dims, rope: { ...ropeV3, yarn: yarnV2Lite } })).toBeCloseTo(0.1147214, 7);
  });

  it('is (nope+rope)^-0.5 without YaRN or without mscale_all_dim', () => {
    expect(softmaxScale({ ...dims, rope: { ...ropeV3, yarn: null } })).toBe(192 ** -0.5);
    expect(softmaxScale({ ...dims, rope: { ...ropeV3, yarn: { ...yarnV3, mscaleAllDim: 0 } } })).toBe(192 ** -0.5);
  });
});

describe('ropeTable', () => {
  it('holds inv_freq / 2π as hi + lo to well beyond f32 precision', () => {
    const inv = ropeInvFreq(ropeV3);
    const t = ropeTable(ropeV3);
    expect(t.length).toBe(64);
    for (let i = 0; i < 32; i++) {
      const turns = inv[i] / (2 * Math.PI);
      expect(t[2 * i]).toBe(Math.fround(turns));
      expect(Math.abs(t[2 * i] + t[2 * i + 1] - turns)).toBeLessThan(turns * 2 ** -40);
    }
  });
});
