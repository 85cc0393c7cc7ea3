import { describe, expect, it } from 'vitest';
import { chooseSplits, decodeScratchBytes, defaultDecodeKernel, headsPlan, kvCacheBytesPerToken, latentCacheLayout, latentGemmPlan, mlaScratchBytes, prefillKernel } from './mla';
import type { KernelContext } from '../gpu/kernel-context';

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

  it('packs f16 rows in pairs and fp8 rows in fours plus a scale word, odd widths rounded up', () => {
    expect(latentCacheLayout(v3, 10, 'f16').bytesPerLayer).toBe(10 * 288 * 4);
    expect(latentCacheLayout(v3, 10, 'fp8').bytesPerLayer).toBe(10 * 145 * 4);
    const odd = { kvLoraRank: 37, qkRopeHeadDim: 6 };
    expect(latentCacheLayout(odd, 3, 'f16').rowWords).toBe(22);
    expect(latentCacheLayout(odd, 3, 'fp8').rowWords).toBe(12);
    expect(kvCacheBytesPerToken(v3, 61, 'fp8').latent).toBe(145 * 61 * 4);
    expect(() => latentCacheLayout(v3, 10, 'bf16' as never)).toThrow(/kvCacheFormat is bf16/);
  });

});

describe('mla_attend_heads layout', () => {
  const limits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupStorageSize: 16384 } as GPUSupportedLimits;
  it('serves V2-Lite\'s 16 heads in one group and V3\'s 128 in 8, within the registers and workgroup memory', () => {
    const layout = latentCacheLayout(v3, 4096);
    const lite = headsPlan(limits, layout, 16, 1);
    expect(lite).toMatchObject({ lanes: 16, headsPerGroup: 16, groups: 1 });
    const v3Plan = headsPlan(limits, layout, 128, 1);
    expect(v3Plan).toMatchObject({ lanes: 16, headsPerGroup: 16, groups: 8 });
    for (const [heads, p] of [[16, lite], [128, v3Plan]] as const) {
      expect(Math.ceil(576 / p.lanes)).toBeLessThanOrEqual(40);
      expect((p.tile * 576 + p.headsPerGroup * p.tile * p.lanes) * 4).toBeLessThanOrEqual(16384);
      // The partial records stay within half the full cache's bytes.
      expect(p.splits * heads * 514).toBeLessThanOrEqual((4096 * 576) / 2);
      expect(p.splits).toBeGreaterThan(1);
    }
    expect(headsPlan(limits, layout, 21, 1)).toMatchObject({ groups: 2, headsPerGroup: 11 });
  });
});

describe('latent GEMM layout', () => {
  const limits = { maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256, maxComputeWorkgroupStorageSize: 16384, maxStorageBufferBindingSize: 2 ** 27 } as GPUSupportedLimits;
  const layout = latentCacheLayout(v3, 2048);
  it('holds all of V3\'s 128 heads in one row group and fits the invocation and workgroup-memory limits', () => {
    for (const [heads, tokens] of [[128, 1], [16, 1], [5, 1], [21, 5], [300, 1]] as const) {
      const p = latentGemmPlan(limits, layout, heads, tokens);
      const rows = heads * tokens;
      expect(4 * p.rowBlocks * p.rowGroups).toBeGreaterThanOrEqual(rows);
      expect(4 * p.rowBlocks * (p.rowGroups - 1)).toBeLessThan(rows);
      expect(p.rowBlocks * p.positionBlocks).toBeLessThanOrEqual(256);
      expect(p.rowBlocks * p.columnGroups).toBeLessThanOrEqual(256);
      expect((p.rowBlocks + 2 * p.positionBlocks) * p.dimChunk * 16).toBeLessThanOrEqual(16384);
      expect((p.rowBlocks + p.columnGroups * p.columnVecs) * p.tile * 16 + p.rowBlocks * 32).toBeLessThanOrEqual(16384);
      // The slices cover kv_lora_rank, and one fewer would not.
      expect(4 * p.columnGroups * p.columnVecs * p.slices).toBeGreaterThanOrEqual(512);
      expect(4 * p.columnGroups * p.columnVecs * (p.slices - 1)).toBeLessThan(512);
      expect(p.columnVecs).toBeLessThanOrEqual(4);
      expect(p.scoresBytes).toBe(rows * 2048 * 4);
      expect(p.splits * rows * 514).toBeLessThanOrEqual((2048 * 576) / 2 + rows * 514);
    }
    expect(latentGemmPlan(limits, layout, 128, 1)).toMatchObject({ rowBlocks: 32, rowGroups: 1, positionBlocks: 8, dimChunk: 16, columnGroups: 8, columnVecs: 4, slices: 4, tile: 8 });
    expect(latentGemmPlan(limits, layout, 300, 1).rowGroups).toBe(3);
    expect(latentGemmPlan(limits, layout, 128, 1, { splits: 3 }).splits).toBe(3);
  });

  it('is the default past one mla_attend_heads group, while its scores fit a binding', () => {
    expect(defaultDecodeKernel(limits, layout, 16)).toBe('heads');
    expect(defaultDecodeKernel(limits, layout, 128)).toBe('latent-gemm');
    expect(defaultDecodeKernel({ ...limits, maxStorageBufferBindingSize: 128 * 2048 * 4 - 4 } as GPUSupportedLimits, layout, 128)).toBe('heads');
    const v3Scratch = decodeScratchBytes(limits, layout, 128);
    expect(v3Scratch.scores).toBe(128 * 2048 * 4);
    expect(v3Scratch.partials).toBe(mlaScratchBytes(1, 128, latentGemmPlan(limits, layout, 128, 1).splits, 512));
    expect(decodeScratchBytes(limits, layout, 16).scores).toBe(0);
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

describe('prefill attention choice', () => {
  const ctx = (extra: Partial<KernelContext> = {}) => ({ device: {}, pipelines: {}, shape: 'workgroup', ...extra }) as unknown as KernelContext;
  it('takes the tile unless the context asks for mla_attend_heads', () => {
    expect(prefillKernel(ctx())).toBe('tile');
    expect(prefillKernel(ctx({ mlaPrefill: 'heads' }))).toBe('heads');
  });
});
