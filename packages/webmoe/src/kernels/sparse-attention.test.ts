import { describe, expect, it } from 'vitest';
import { isWebmoeError } from '../errors';
import type { KernelContext } from '../gpu/kernel-context';
import { sparseAttention, sparseAttentionScratchBytes, sparseHeadsPerGroup, sparseTileEntries, type SparseAttentionArgs } from './sparse-attention';

const ctx = { device: new Proxy({}, { get: () => { throw new Error('the launcher used the device'); } }) } as unknown as KernelContext;
const buffer = (bytes: number) => ({ size: bytes }) as GPUBuffer;
const limits = (bytes: number) => ({ limits: { maxComputeWorkgroupStorageSize: bytes } }) as GPUDevice;

describe('attend_wg sizing', () => {
  it('groups up to 8 heads, fewer when their 4-dim pairs would not fit 8 per invocation', () => {
    expect(sparseHeadsPerGroup(64, 512)).toBe(8);
    expect(sparseHeadsPerGroup(3, 80)).toBe(3);
    expect(sparseHeadsPerGroup(128, 2048)).toBe(2);
  });

  it('tiles as many decoded entries as the workgroup memory holds, up to 16', () => {
    // 8 entries of 512 floats (16 KiB) leave no room for the softmax state under the 16 KiB minimum.
    expect(sparseTileEntries(limits(16384), 512, 8)).toBe(4);
    expect(sparseTileEntries(limits(32768), 512, 8)).toBe(8);
    expect(sparseTileEntries(limits(65536), 512, 8)).toBe(16);
    // One invocation scores each (head, entry) pair: 8 heads × 16 entries is the workgroup.
    expect(sparseTileEntries(limits(65536), 80, 8)).toBe(16);
    expect(sparseAttentionScratchBytes(1, 64, 10, 512)).toBe(64 * 10 * 516 * 4);
  });
});

describe('launch checks', () => {
  const big = buffer(1 << 24);
  const base: SparseAttentionArgs = {
    q: big, ring: big, compressed: big, selected: null, topk: 0, sink: big, table: big, positions: big, out: big,
    tokens: 5, heads: 4, dim: 80, rope: 16, window: 16, slots: 20, ratio: 16, maxBlocks: 8, fp8: true, scale: 80 ** -0.5,
  };
  const refusal = (a: Partial<SparseAttentionArgs>) => {
    try {
      sparseAttention(ctx, { ...base, ...a });
    } catch (e) {
      if (isWebmoeError(e, 'invalid-request')) return e.message;
      throw e;
    }
    throw new Error('accepted');
  };

  it('refuse a ring that cannot hold every window of the call', () => {
    expect(refusal({ slots: 19 })).toMatch(/slots is 19, not an integer in \[20/);
  });

  it('refuse compressed entries on a window-only layer and their absence elsewhere', () => {
    expect(refusal({ ratio: 0 })).toMatch(/compressed is given on a window-only layer/);
    expect(refusal({ compressed: null })).toMatch(/compressed is null/);
    expect(refusal({ ratio: 0, compressed: null, selected: big, topk: 8 })).toMatch(/selected is given on a window-only layer/);
  });

  it('refuse rope dims the inverse RoPE cannot take in groups of 4, and short buffers', () => {
    expect(refusal({ rope: 18 })).toMatch(/rope is 18/);
    expect(refusal({ out: buffer(5 * 4 * 80 * 4 - 4) })).toMatch(/out holds/);
    expect(refusal({ selected: buffer(5 * 8 * 4 - 4), topk: 8 })).toMatch(/selected holds/);
  });
});
