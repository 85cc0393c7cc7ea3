import { describe, expect, it } from 'vitest';
import { PipelineCache, grid1d, pipelineKeyString } from './pipelines';

const source = { id: 'matmul-dense+dequant-q4', code: 'fn f() {}' };

describe('pipeline keys', () => {
  it('start with the source id and do not depend on the order of override constants', () => {
    const a = pipelineKeyString({ source, entryPoint: 'main', variant: 'row', constants: { WG: 64, K: 3 } });
    const b = pipelineKeyString({ source, entryPoint: 'main', variant: 'row', constants: { K: 3, WG: 64 } });
    expect(a).toBe(b);
    expect(a).toBe('matmul-dense+dequant-q4/main/row{K=3,WG=64}');
  });
});

describe('pipeline cache', () => {
  it('compiles one module per source id and refuses a different source under the same id', () => {
    const made: string[] = [];
    const device = { createShaderModule: (d: { code: string }) => (made.push(d.code), {}) } as unknown as GPUDevice;
    const cache = new PipelineCache(device);
    expect(cache.module(source)).toBe(cache.module({ ...source }));
    expect(made).toEqual([source.code]);
    expect(() => cache.module({ id: source.id, code: 'fn g() {}' })).toThrow(/two different WGSL sources share the id matmul-dense\+dequant-q4/);
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
