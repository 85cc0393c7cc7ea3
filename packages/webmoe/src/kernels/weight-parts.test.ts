// The checks of launches over an expert group split into parts (weight-parts.ts, matmul-experts.ts), without
// a GPU: they run before any device call, and a pipeline cache that records its key stops the launch there.
import { describe, expect, it } from 'vitest';
import { tensorLayout } from '../model/formats';
import type { KernelContext } from '../gpu/kernel-context';
import type { PipelineKey } from '../gpu/pipelines';
import { matmul, type MatmulArgs } from './matmul';
import { matmulExpertParts, type ExpertPart } from './weight-parts';

const buffer = (label: string, bytes: number) => ({ label, size: bytes }) as GPUBuffer;
const ctx = {
  device: {}, shape: 'row',
  pipelines: { get: (key: PipelineKey) => { throw Object.assign(new Error('pipeline requested'), { key }); } },
} as unknown as KernelContext;

const layout = tensorLayout('f32', [8, 16]);
const stride = 512;
const part = (base: number, count: number): ExpertPart => ({ buffer: buffer(`experts#${base}`, count * stride), base, count });
const down = (extra: Partial<MatmulArgs> = {}): MatmulArgs => ({
  weight: { buffer: buffer('experts', 6 * stride), offset: 0, layout }, x: buffer('h', 4 * 4 * 16), y: buffer('y', 4 * 8), batch: 4, xBatchStride: 16,
  experts: { ids: buffer('ids', 16), strideBytes: stride, weights: buffer('w', 16), sum: true }, ...extra,
});

describe('matmulExpertParts', () => {
  it('refuses parts that do not follow each other from expert 0', () => {
    expect(() => matmulExpertParts(ctx, [part(0, 3), part(4, 3)], down(), 'L1.experts_down')).toThrow(/L1\.experts_down: expert parts do not follow each other from expert 0/);
    expect(() => matmulExpertParts(ctx, [part(1, 3)], down(), 'L1.experts_down')).toThrow(/expert parts do not follow/);
  });

  it('passes the launcher checks for a part whose buffer holds only its own experts', () => {
    try {
      matmulExpertParts(ctx, [part(0, 3), part(3, 3)], down(), 'L1.experts_down');
      expect.unreachable();
    } catch (e) {
      expect((e as { key?: PipelineKey }).key?.entryPoint).toBe('experts_row');
    }
  });

  it('refuses an empty expert range', () => {
    const a = down();
    a.experts = { ...a.experts!, range: { base: 2, count: 0 } };
    expect(() => matmul(ctx, a, 'L1.x')).toThrow(/L1\.x: experts\.range must be a base ≥ 0 and a count ≥ 1, got 2 \+ 0/);
  });
});
