// product_gemm's tile plan against device limits, and which launches take it, without a GPU.
import { describe, expect, it } from 'vitest';
import type { KernelContext } from '../gpu/kernel-context';
import type { ProductPlan } from './product';
import { GEMM_MIN_TOKENS, gemmLaunch, gemmStorage, gemmTile, type GemmLimits } from './product-gemm';

const MIN: GemmLimits = { maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 };
const GPU: GemmLimits = { ...MIN, maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024 };

describe('gemmTile', () => {
  it('counts the slabs in vec4s, the up slab only with SwiGLU', () => {
    // 64 rows × 32 columns: 512 vec4s per weight slab; 64 tokens × 32 columns another 512; 16 for the range.
    expect(gemmStorage({ rows: 64, tokens: 64, cols: 32 }, false)).toBe(16 * (512 + 1 + 512) + 16);
    expect(gemmStorage({ rows: 64, tokens: 64, cols: 32 }, true)).toBe(16 * (512 + 512 + 512) + 16);
  });

  it('fits every tile it picks into the device, at WebGPU\'s minimum limits too', () => {
    for (const limits of [MIN, GPU]) {
      for (const swiglu of [false, true]) {
        for (const T of [5, 8, 9, 16, 17, 33, GEMM_MIN_TOKENS, 65, 512]) {
          const t = gemmTile(limits, swiglu, T)!;
          expect(t, `${swiglu} ${T}`).not.toBeNull();
          expect(gemmStorage(t, swiglu)).toBeLessThanOrEqual(limits.maxComputeWorkgroupStorageSize);
          expect((t.rows / 4) * (t.tokens / 4)).toBeLessThanOrEqual(limits.maxComputeInvocationsPerWorkgroup);
          expect(t.rows % 4 + t.tokens % 4 + t.cols % 8).toBe(0);
        }
      }
    }
  });

  it('takes the longest slab rows and most tokens the memory allows', () => {
    expect(gemmTile(GPU, false, 64)).toEqual({ rows: 64, tokens: 64, cols: 32 });
    expect(gemmTile({ ...GPU, maxComputeWorkgroupStorageSize: 65536 }, false, 64)).toEqual({ rows: 64, tokens: 64, cols: 64 });
    // 16 KiB: 64 × 32 misses by the 16 bytes of the range, so fewer tokens; SwiGLU's second slab halves the step.
    expect(gemmTile(MIN, false, 64)).toEqual({ rows: 64, tokens: 32, cols: 32 });
    expect(gemmTile(MIN, true, 64)).toEqual({ rows: 64, tokens: 64, cols: 16 });
    // 64-token tiles only for launches with as many tokens; a launch that fills at most half a tile a smaller one.
    expect(gemmTile(GPU, false, 40)?.tokens).toBe(32);
    expect(gemmTile(GPU, false, 17)?.tokens).toBe(32);
    expect(gemmTile(GPU, false, 16)).toEqual({ rows: 64, tokens: 16, cols: 64 });
    expect(gemmTile(GPU, false, 9)?.tokens).toBe(16);
    expect(gemmTile(GPU, false, 8)).toEqual({ rows: 64, tokens: 8, cols: 64 });
    expect(gemmTile(MIN, true, 5)).toEqual({ rows: 64, tokens: 8, cols: 16 });
    expect(gemmTile(MIN, true, 16)).toEqual({ rows: 64, tokens: 16, cols: 16 });
  });

  it('refuses a device too small for any tile', () => {
    expect(gemmTile({ ...MIN, maxComputeWorkgroupStorageSize: 2048 }, false, 64)).toBeNull();
    expect(gemmTile({ ...MIN, maxComputeInvocationsPerWorkgroup: 16 }, false, 64)).toBeNull();
  });

  it('halves the slabs in f16 arithmetic, so a step of the same memory holds twice the columns', () => {
    expect(gemmStorage({ rows: 64, tokens: 64, cols: 32 }, true, 'gemm-f16')).toBe(8 * (512 + 512 + 512) + 16);
    expect(gemmTile(GPU, false, 64, 'gemm-f16')).toEqual({ rows: 64, tokens: 64, cols: 64 });
    expect(gemmTile(MIN, true, 64, 'gemm-f16')).toEqual({ rows: 64, tokens: 64, cols: 32 });
  });
});

describe('gemmLaunch', () => {
  const plan = { maxTokens: 64, outLen: 130, xAligned: true } as ProductPlan;
  const context = (features: string[], matmulPrefill?: KernelContext['matmulPrefill'], gemmMinTokens?: number) =>
    ({ device: { features: new Set(features), limits: GPU }, shape: 'workgroup', matmulPrefill, gemmMinTokens }) as unknown as KernelContext;

  it('takes product_gemm in the arithmetic the context asks for', () => {
    expect(gemmLaunch(context([]), plan, undefined, false)?.kind).toBe('gemm');
    const f16 = gemmLaunch(context(['shader-f16'], 'gemm-f16'), plan, undefined, false)!;
    expect(f16.kind).toBe('gemm-f16');
    expect(f16.constants.GK).toBe(64);
    expect(f16.blocks).toBe(3);
    expect(gemmLaunch(context(['shader-f16'], 'tile'), plan, undefined, false)).toBeNull();
    expect(gemmLaunch(context(['shader-f16'], 'gemm-f16'), { ...plan, maxTokens: GEMM_MIN_TOKENS - 1 }, undefined, false)).toBeNull();
  });

  it('takes shorter launches where gemmMinTokens lets them in, never decode\'s', () => {
    expect(gemmLaunch(context([]), { ...plan, maxTokens: 16 }, undefined, false)).toBeNull();
    const short = gemmLaunch(context([], undefined, 8), { ...plan, maxTokens: 16 }, undefined, true)!;
    expect(short.tile.tokens).toBe(16);
    expect(short.constants).toMatchObject({ GN: 16, WG: 64, SWIGLU: 1 });
    expect(gemmLaunch(context([], undefined, 8), { ...plan, maxTokens: 7 }, undefined, false)).toBeNull();
    expect(gemmLaunch(context([], undefined, 1), { ...plan, maxTokens: 4 }, undefined, false)).toBeNull();
    expect(gemmLaunch(context([], undefined, 1), { ...plan, maxTokens: 5 }, undefined, false)?.tile.tokens).toBe(8);
  });

  it('refuses f16 arithmetic on a device without shader-f16 instead of failing to compile', () => {
    expect(() => gemmLaunch(context([], 'gemm-f16'), plan, undefined, false)).toThrow(/shader-f16/);
  });
});
