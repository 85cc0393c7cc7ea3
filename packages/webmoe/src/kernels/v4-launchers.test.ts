// The DeepSeek-V4 launchers (mhc, indexer, quant-sim) without a GPU: bad arguments fail before any device
// call with a WebmoeError naming the field, and good ones reach the pipeline cache with the entry point
// and workgroup size of their shape (a cache that throws its key stops the launch there).
import { describe, expect, it } from 'vitest';
import { mhcPost, mhcPre } from './mhc';
import { indexerScores, topkSelect } from './indexer';
import { quantSim } from './quant-sim';
import { isWebmoeError } from '../errors';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import type { PipelineKey } from '../gpu/pipelines';

const buffer = (values: number) => ({ label: 'b', size: 4 * values }) as GPUBuffer;

class Reached extends Error {
  constructor(readonly key: PipelineKey) {
    super('pipeline requested');
  }
}

function fakeContext(shape: KernelShape = 'workgroup'): KernelContext {
  const pipelines = { get: (key: PipelineKey) => { throw new Reached(key); } };
  return { device: {} as GPUDevice, pipelines, shape } as unknown as KernelContext;
}

function keyOf(launch: () => unknown): PipelineKey {
  try {
    launch();
  } catch (e) {
    if (e instanceof Reached) return e.key;
    throw e;
  }
  throw new Error('the launcher did not ask for a pipeline');
}

/** The field a launch's WebmoeError('invalid-request') names. */
function rejected(launch: () => unknown): unknown {
  try {
    launch();
  } catch (e) {
    if (isWebmoeError(e, 'invalid-request')) return e.detail?.field;
    throw e;
  }
  return undefined;
}

const T = 3, hc = 4, d = 10;
const pre = (extra: object = {}) => ({
  x: buffer(T * hc * d), mix: buffer(T * 24), base: buffer(24), scale: buffer(3), u: buffer(T * d), post: buffer(T * hc),
  comb: buffer(T * hc * hc), tokens: T, hc, dim: d, sinkhornIters: 20, hcEps: 1e-6, normEps: 1e-6, ...extra,
});

describe('mhc launchers', () => {
  it('pick the entry point and workgroup size of the shape', () => {
    expect(keyOf(() => mhcPre(fakeContext('row'), pre()))).toMatchObject({ entryPoint: 'mhc_pre_row', constants: { WG: 64 } });
    expect(keyOf(() => mhcPre(fakeContext(), pre()))).toMatchObject({ entryPoint: 'mhc_pre_wg', constants: { WG: 128 } });
  });
  it('reject bad sizes, short buffers and an output aliasing its input', () => {
    expect(rejected(() => mhcPre(fakeContext(), pre({ hc: 9, mix: buffer(T * 99), base: buffer(99) })))).toBe('hc');
    expect(rejected(() => mhcPre(fakeContext(), pre({ comb: buffer(T * hc * hc - 1) })))).toBe('comb');
    expect(rejected(() => mhcPre(fakeContext(), pre({ sinkhornIters: 0 })))).toBe('sinkhornIters');
    const x = buffer(T * hc * d);
    expect(rejected(() => mhcPost(fakeContext(), { x, f: buffer(T * d), post: buffer(T * hc), comb: buffer(T * hc * hc), out: x, tokens: T, hc, dim: d })))
      .toBe('out');
  });
});

describe('indexer launchers', () => {
  const positions = buffer(1);
  it('reject short buffers and sizes the scan cannot count', () => {
    expect(rejected(() => indexerScores(fakeContext(), {
      q: buffer(2 * 4 * 8), w: buffer(2 * 4), keys: buffer(99 * 8), positions, scores: buffer(2 * 100), tokens: 2, heads: 4, dim: 8,
      ratio: 4, maxBlocks: 100, scale: 1,
    }))).toBe('keys');
    expect(rejected(() => topkSelect(fakeContext(), { scores: buffer(2 ** 24 + 1), positions, ids: buffer(8), tokens: 1, k: 8, ratio: 4, maxBlocks: 2 ** 24 + 1 })))
      .toBe('maxBlocks');
    expect(rejected(() => topkSelect(fakeContext(), { scores: buffer(10), positions, ids: buffer(1), tokens: 1, k: 0, ratio: 4, maxBlocks: 10 }))).toBe('k');
  });
  it('run top-k with fewer invocations on the row shape', () => {
    const a = { scores: buffer(10), positions, ids: buffer(8), tokens: 1, k: 8, ratio: 4, maxBlocks: 10 };
    expect(keyOf(() => topkSelect(fakeContext('row'), a)).constants).toEqual({ WG: 64 });
    expect(keyOf(() => topkSelect(fakeContext(), a)).constants).toEqual({ WG: 256 });
  });
});

describe('quantSim', () => {
  it('takes any count for fp8 and a power of two up to 1024 for the Hadamard transform', () => {
    expect(keyOf(() => quantSim(fakeContext(), { x: buffer(300), rows: 3, heads: 1, dim: 100, mode: 'fp8' })).entryPoint).toBe('quant_fp8');
    expect(rejected(() => quantSim(fakeContext(), { x: buffer(300), rows: 3, heads: 1, dim: 100, mode: 'hadamard-fp4' }))).toBe('count');
    expect(rejected(() => quantSim(fakeContext(), { x: buffer(2048), rows: 1, heads: 1, dim: 2048, mode: 'hadamard-fp4' }))).toBe('count');
    expect(keyOf(() => quantSim(fakeContext('row'), { x: buffer(256), rows: 2, heads: 1, dim: 128, mode: 'hadamard-fp4' })))
      .toMatchObject({ entryPoint: 'hadamard_fp4', constants: { WG: 16 } });
  });
  it('checks the last element against the buffer', () => {
    expect(rejected(() => quantSim(fakeContext(), { x: buffer(273), rows: 2, heads: 2, dim: 64, headStride: 70, mode: 'fp8' }))).toBe('x');
    expect(keyOf(() => quantSim(fakeContext(), { x: buffer(274), rows: 2, heads: 2, dim: 64, headStride: 70, mode: 'fp8' })).entryPoint).toBe('quant_fp8');
  });
});
