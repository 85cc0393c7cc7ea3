import { describe, expect, it } from 'vitest';
import source from '../../../../shaders/mla.wgsl?raw';
import { countingCacheReads } from './mla-reads';

describe('countingCacheReads', () => {
  it('puts a counter in front of mla.wgsl cache_value and keeps the original under another name', () => {
    const counted = countingCacheReads(source);
    expect(counted.match(/^fn cache_value\(/gm)).toHaveLength(1);
    expect(counted.match(/^fn cache_value_uncounted\(/gm)).toHaveLength(1);
    // The counter lives in group 1: group 0 keeps the kernels' binding convention.
    expect(counted).toMatch(/@group\(1\) @binding\(0\) var<storage, read_write> cache_reads: array<atomic<u32>>;/);
    expect(counted.indexOf('atomicAdd(&cache_reads[0], 1u)')).toBeGreaterThan(counted.indexOf('fn cache_value('));
    // Every call still goes to cache_value, now the counting one (the renamed definition was one occurrence, the new one replaces it).
    expect(counted.split('cache_value(').length).toBe(source.split('cache_value(').length);
  });

  it('leaves a source without cache_value as it is', () => {
    const other = 'fn other() -> f32 { return 1.0; }\n';
    expect(countingCacheReads(other)).toBe(other);
  });
});
