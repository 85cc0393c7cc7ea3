import { describe, expect, it } from 'vitest';
import { grid1d, pipelineKeyString } from './pipelines';

describe('pipeline keys', () => {
  it('do not depend on the order of override constants', () => {
    const a = pipelineKeyString({ kernel: 'matmul', entryPoint: 'main', variant: 'row', constants: { WG: 64, K: 3 } });
    const b = pipelineKeyString({ kernel: 'matmul', entryPoint: 'main', variant: 'row', constants: { K: 3, WG: 64 } });
    expect(a).toBe(b);
    expect(a).toBe('matmul/main/row{K=3,WG=64}');
  });
});

describe('grid1d', () => {
  it('covers every workgroup within the per-dimension cap', () => {
    for (const n of [1, 65535, 65536, 200000, 1 << 22]) {
      const [x, y] = grid1d(n);
      expect(x).toBeLessThanOrEqual(65535);
      expect(x * y).toBeGreaterThanOrEqual(n);
    }
  });
});
