// The grouped GEMM's tile bound (the grid it launches over the (expert, tile) pairs that exist) against
// the tiles counted from drawn segment sizes, and the tile arguments' checks, without a GPU.
import { describe, expect, it } from 'vitest';
import { tileBound } from './matmul-grouped';
import { matmul } from './matmul';
import { moePlan } from './moe';
import { tensorLayout } from '../model/formats';
import { createRng } from '../util/random';
import type { KernelContext } from '../gpu/kernel-context';

const buffer = (label: string, bytes: number) => ({ label, size: bytes }) as GPUBuffer;
const ctx = { device: {} as GPUDevice, pipelines: { get: () => { throw new Error('pipeline requested'); } }, shape: 'row' } as unknown as KernelContext;

/** Segment sizes of `rows` rows over `experts` experts, each at most maxRows, skewed so that some stay empty. */
function drawCounts(rng: { next(): number }, rows: number, experts: number, maxRows: number): number[] {
  const counts = new Array<number>(experts).fill(0);
  for (let placed = 0; placed < rows;) {
    const e = Math.floor(experts * rng.next() ** 3);
    if (counts[e] < maxRows) { counts[e]++; placed++; }
  }
  return counts;
}

describe('tileBound', () => {
  it('holds every tile of drawn segments, and is reached where the segments allow it', () => {
    const rng = createRng(4242);
    for (let i = 0; i < 400; i++) {
      const experts = 1 + Math.floor(rng.next() * 40);
      const maxRows = 1 + Math.floor(rng.next() * 70);
      const rows = Math.floor(rng.next() * (experts * maxRows + 1));
      const tile = 1 + Math.floor(rng.next() * 20);
      const tiles = drawCounts(rng, rows, experts, maxRows).reduce((s, n) => s + Math.ceil(n / tile), 0);
      expect(tiles).toBeLessThanOrEqual(tileBound(rows, experts, maxRows, tile));
    }
    // One row each for as many experts as there are rows: every tile the bound counts exists.
    expect(tileBound(16, 256, 2, 64)).toBe(16);
    // Full segments of whole tiles.
    expect(tileBound(4 * 64, 4, 64, 16)).toBe(16);
    expect(tileBound(0, 8, 4, 4)).toBe(0);
  });
});

describe('tile arguments', () => {
  const layout = tensorLayout('f32', [8, 12]);
  const a = {
    weight: { buffer: buffer('w', 4 * layout.bytes), offset: 0, layout }, x: buffer('x', 4 * 10 * 12), y: buffer('y', 4 * 10 * 8),
    tokens: 10, batch: 4,
  };
  it('refuses tile starts past the offsets buffer, and a tile of no rows', () => {
    const groups = { offsets: buffer('offsets', 4 * 9), strideBytes: layout.bytes, maxRows: 5 };
    expect(() => matmul(ctx, { ...a, groups: { ...groups, tiles: { tokens: 4, offset: 5 } } })).toThrow(/tile starts needs 40 bytes/);
    expect(() => matmul(ctx, { ...a, groups: { ...groups, tiles: { tokens: 0, offset: 5 } } })).toThrow(/tiles\.tokens/);
  });
  it('moe_plan needs room for the tile starts when asked for them', () => {
    const plan = { ids: buffer('ids', 40), slot: buffer('slot', 40), tokens: 5, topK: 2, experts: 4 };
    expect(() => moePlan(ctx, { ...plan, offsets: buffer('offsets', 20), tileTokens: 3 })).toThrow(/offsets with tile starts holds 20 bytes, 10 values need 40/);
    expect(() => moePlan(ctx, { ...plan, offsets: buffer('offsets', 40), tileTokens: 0 })).toThrow(/tileTokens/);
  });
});
