import { describe, expect, it } from 'vitest';
import { chooseSplits, kvCacheBytesPerToken, latentCacheLayout, mlaScratchBytes } from './mla';

const v3 = { kvLoraRank: 512, qkRopeHeadDim: 64, numHeads: 128, qkNopeHeadDim: 128, vHeadDim: 128, numLayers: 61 };

describe('latent KV cache', () => {
  it('holds kvLoraRank + rope values per token per layer: 1.4 % of a multi-head cache for V3', () => {
    const b = kvCacheBytesPerToken(v3);
    expect(b.latent).toBe(576 * 61 * 4);
    expect(b.mha).toBe(128 * 320 * 61 * 4);
    expect(b.ratio).toBeCloseTo(576 / 40960, 12);
    expect(kvCacheBytesPerToken(v3, 62).latent).toBe(576 * 62 * 4);
  });

  it('lays a layer out as [maxContext, kvLoraRank + rope] f32', () => {
    const l = latentCacheLayout(v3, 4096);
    expect(l.rowFloats).toBe(576);
    expect(l.bytesPerLayer).toBe(4096 * 576 * 4);
  });
});

describe('split-K choice', () => {
  it('splits only when (token, head) pairs alone leave the GPU idle, never below one tile', () => {
    expect(chooseSplits(512, 163840)).toBe(1);
    expect(chooseSplits(128, 163840)).toBe(4);
    expect(chooseSplits(16, 163840)).toBe(32);
    expect(chooseSplits(1, 163840)).toBe(64);
    expect(chooseSplits(1, 100)).toBe(2);
    expect(mlaScratchBytes(1, 16, 32, 512)).toBe(16 * 32 * 514 * 4);
  });
});
