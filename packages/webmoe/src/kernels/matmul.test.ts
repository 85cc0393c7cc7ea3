// The matmul launchers' argument checks and their choice of shader, entry point and tile, without a GPU:
// the checks run before any device call, and a pipeline cache that records its key stops the launch there.
import { describe, expect, it } from 'vitest';
import { matmul, gatherRows, type MatmulArgs } from './matmul';
import { tensorLayout } from '../model/formats';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import type { PipelineKey } from '../gpu/pipelines';

const buffer = (label: string, bytes: number) => ({ label, size: bytes }) as GPUBuffer;
/** A buffer as createStorage makes it: whole vec4s. */
const storage = (label: string, bytes: number) => buffer(label, Math.ceil(bytes / 16) * 16);

class Reached extends Error {
  constructor(readonly key: PipelineKey) {
    super('pipeline requested');
  }
}

function fakeContext(shape: KernelShape, extra: Partial<KernelContext> = {}): KernelContext {
  const pipelines = { get: (key: PipelineKey) => { throw new Reached(key); } };
  return { device: {} as GPUDevice, pipelines, shape, ...extra } as unknown as KernelContext;
}

/** The pipeline key a launch asks for. */
function keyOf(shape: KernelShape, a: MatmulArgs, extra: Partial<KernelContext> = {}): PipelineKey {
  try {
    matmul(fakeContext(shape, extra), a);
  } catch (e) {
    if (e instanceof Reached) return e.key;
    throw e;
  }
  throw new Error('matmul did not ask for a pipeline');
}

const layout = tensorLayout('q4', [67, 130]);
const weight = { buffer: buffer('w', 4096 + layout.bytes), offset: 256, layout };
const args = (T: number, extra: Partial<MatmulArgs> = {}): MatmulArgs => ({
  weight, x: storage('x', 4 * T * 130), y: buffer('y', 4 * T * 67), tokens: T, ...extra,
});

describe('matmul entry points', () => {
  it('composes the weight format\'s dequantization into the role\'s source', () => {
    expect(keyOf('row', args(1)).source.id).toBe('matmul-dense+dequant-q4');
    const f8 = tensorLayout('fp8', [67, 130]);
    expect(keyOf('row', args(1, { weight: { ...weight, layout: f8 } })).source.id).toBe('matmul-dense+dequant-fp8');
  });

  it('spreads a row over a workgroup for decode and tiles prefill by rows', () => {
    expect(keyOf('workgroup', args(1))).toMatchObject({ entryPoint: 'matmul_wg', constants: { TT: 1 } });
    expect(keyOf('workgroup', args(3))).toMatchObject({ entryPoint: 'matmul_wg', constants: { TT: 4 } });
    // 130 columns: rows of x are not 4-float aligned, so prefill takes matmul_row's scalar loads.
    expect(keyOf('workgroup', args(17))).toMatchObject({ entryPoint: 'matmul_row', constants: { TT: 8, X4: 0 } });
    expect(keyOf('row', args(1))).toMatchObject({ entryPoint: 'matmul_row', constants: { TT: 1, X4: 0 } });
    const aligned = tensorLayout('q4', [67, 132]);
    const a4 = (T: number): MatmulArgs => ({ weight: { ...weight, layout: aligned }, x: storage('x', 4 * T * 132), y: buffer('y', 4 * T * 67), tokens: T });
    expect(keyOf('row', a4(17))).toMatchObject({ entryPoint: 'matmul_tile', constants: { X4: 1 } });
    expect(keyOf('workgroup', a4(17))).toMatchObject({ entryPoint: 'matmul_tile', constants: { X4: 1 } });
    expect(keyOf('row', a4(1))).toMatchObject({ entryPoint: 'matmul_row', constants: { TT: 1, X4: 1 } });
    expect(keyOf('workgroup', a4(1))).toMatchObject({ entryPoint: 'matmul_wg', constants: { TT: 1, X4: 1 } });
    // An x offset off the vec4 grid keeps the scalar loads.
    expect(keyOf('row', { ...a4(17), xOffset: 2, x: storage('x', 4 * (17 * 132 + 2)) })).toMatchObject({ entryPoint: 'matmul_row', constants: { X4: 0 } });
  });

  it('sums decode rows by subgroup only where the context chose it and the device has the feature', () => {
    const sg = { matmulReduce: 'subgroup', subgroups: { min: 4, max: 4 } } as const;
    expect(keyOf('workgroup', args(1), sg)).toMatchObject({
      entryPoint: 'product_sg', variant: 'sg', constants: { TT: 1, ROWS_SG: 16 }, source: { id: 'matmul-dense+dequant-q4+product-subgroup' },
    });
    expect(keyOf('workgroup', args(3), { ...sg, subgroups: { min: 32, max: 64 } })).toMatchObject({ entryPoint: 'product_sg', constants: { TT: 4, ROWS_SG: 2 } });
    expect(keyOf('workgroup', args(3), { ...sg, subgroups: { min: 128, max: 128 } })).toMatchObject({ constants: { ROWS_SG: 1 } });
    // Without the feature, or beyond decode's token counts, or on the row shape: no subgroup code.
    expect(keyOf('workgroup', args(1), { matmulReduce: 'subgroup' })).toMatchObject({ entryPoint: 'matmul_wg', source: { id: 'matmul-dense+dequant-q4' } });
    expect(keyOf('workgroup', args(17), sg).entryPoint).toBe('matmul_row');
    expect(keyOf('row', args(1), sg).entryPoint).toBe('matmul_row');
    const experts = { ids: buffer('ids', 16), strideBytes: 4096 };
    const layer = { ...weight, buffer: buffer('w', 8 * 4096) };
    expect(keyOf('workgroup', args(1, { weight: layer, experts, batch: 2, xBatchStride: 0, y: buffer('y', 8 * 67) }), sg)).toMatchObject({
      entryPoint: 'product_sg', source: { id: 'matmul-experts+dequant-q4+product-subgroup' },
    });
  });

  it('takes product_gemm for prefill chunks of 64 tokens where the prefill choice is gemm (the workgroup shape\'s default)', () => {
    const limits = { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 };
    const gpu = { device: { limits } as GPUDevice };
    expect(keyOf('workgroup', args(64), gpu)).toMatchObject({
      entryPoint: 'product_gemm', variant: 'gemm', source: { id: 'matmul-dense+dequant-q4+product-gemm+gemm-f32' },
      constants: { WG: 256, GM: 64, GN: 64, GK: 32, GU: 1, SWIGLU: 0, X4: 0 },
    });
    expect(keyOf('workgroup', args(64, { up: weight }), gpu)).toMatchObject({ entryPoint: 'product_gemm', constants: { GK: 32, GU: 512, SWIGLU: 1 } });
    // Fewer tokens, the row shape, or a context that chose tiles: the rows entries, without the piece.
    expect(keyOf('workgroup', args(63), gpu)).toMatchObject({ entryPoint: 'matmul_row', source: { id: 'matmul-dense+dequant-q4' } });
    expect(keyOf('row', args(64), gpu).entryPoint).toBe('matmul_row');
    expect(keyOf('workgroup', args(64), { ...gpu, matmulPrefill: 'tile' }).entryPoint).toBe('matmul_row');
    expect(keyOf('row', args(64), { ...gpu, matmulPrefill: 'gemm' }).entryPoint).toBe('product_gemm');
    const groups = { offsets: buffer('offsets', 16), strideBytes: 2048 };
    const L = tensorLayout('q4', [19, 36]);
    const grouped: MatmulArgs = { weight: { buffer: buffer('w', 3 * 2048), layout: L }, x: storage('x', 4 * 90 * 36), y: buffer('y', 4 * 90 * 19), tokens: 90, batch: 3, groups: { ...groups, maxRows: 70 } };
    expect(keyOf('workgroup', grouped, gpu)).toMatchObject({ entryPoint: 'product_gemm', source: { id: 'matmul-grouped+dequant-q4+product-gemm+gemm-f32' }, constants: { X4: 1 } });
    // f16 arithmetic: its own piece (and variant, so its own pipeline), and twice the columns per step.
    const f16 = { device: { limits, features: new Set(['shader-f16']) } as unknown as GPUDevice, matmulPrefill: 'gemm-f16' as const };
    expect(keyOf('workgroup', args(64), f16)).toMatchObject({
      entryPoint: 'product_gemm', variant: 'gemm-f16', source: { id: 'matmul-dense+dequant-q4+product-gemm+gemm-f16' }, constants: { GK: 64 },
    });
  });

  it('takes matmul_t for the transposed product on either shape', () => {
    const t = { transposed: true, x: buffer('x', 4 * 2 * 67), y: buffer('y', 4 * 2 * 130) };
    expect(keyOf('workgroup', args(2, t))).toMatchObject({ entryPoint: 'matmul_t', constants: { TT: 8 } });
    expect(keyOf('row', args(2, t)).source.id).toBe('matmul-transposed+dequant-q4');
  });

  it('routes expert slots and groups to their own shaders', () => {
    const experts = { ids: buffer('ids', 16), strideBytes: 4096 };
    const slots = args(1, { batch: 3, experts, xBatchStride: 0, y: buffer('y', 4 * 3 * 67), weight: { ...weight, buffer: buffer('w', 8192) } });
    expect(keyOf('workgroup', slots)).toMatchObject({ source: { id: 'matmul-experts+dequant-q4' }, entryPoint: 'experts_wg' });
    expect(keyOf('row', slots).entryPoint).toBe('experts_row');
    const groups = { offsets: buffer('offsets', 16), strideBytes: 2048 };
    const grouped = (T: number, maxRows: number, cols: number): MatmulArgs => {
      const L = tensorLayout('q4', [19, cols]);
      return { weight: { buffer: buffer('w', 3 * 2048), layout: L }, x: storage('x', 4 * T * cols), y: buffer('y', 4 * T * 19), tokens: T, batch: 3, groups: { ...groups, maxRows } };
    };
    expect(keyOf('workgroup', grouped(9, 4, 36))).toMatchObject({ source: { id: 'matmul-grouped+dequant-q4' }, entryPoint: 'grouped_wg', constants: { TT: 4 } });
    expect(keyOf('row', grouped(9, 5, 36))).toMatchObject({ entryPoint: 'grouped_tile', constants: { X4: 1 } });
    expect(keyOf('row', grouped(9, 5, 33))).toMatchObject({ entryPoint: 'grouped_row', constants: { TT: 8, X4: 0 } });
  });
});

describe('matmul argument checks', () => {
  const fails = (a: MatmulArgs, message: RegExp) => expect(() => matmul(fakeContext('row'), a, 'L3.q_b')).toThrow(message);

  it('refuses an x buffer that is not whole vec4s (the row-parallel entries view it so)', () => {
    fails(args(3, { x: buffer('xn', 4 * 3 * 130 + 4) }), /x \(xn\) must be a multiple of 16 bytes, got 1564/);
  });

  it('names the buffer that is too small', () => {
    fails(args(3, { y: buffer('q', 4 * 3 * 67 - 4) }), /L3\.q_b: y needs 804 bytes of q, which holds 800/);
    expect(() => matmul(fakeContext('row'), args(3, { y: buffer('q', 4) }), 'L3.q_b')).toThrow(expect.objectContaining({ code: 'invalid-request', detail: { kernel: 'L3.q_b', field: 'y' } }));
    fails(args(3, { x: storage('xn', 4 * 130) }), /x needs 1560 bytes of xn/);
    fails(args(1, { weight: { ...weight, buffer: buffer('shard', 256 + layout.bytes - 16) } }), /the weight needs/);
  });

  it('refuses rows past the tensor and unaligned offsets', () => {
    fails(args(1, { rows: 40, rowBase: 10, rowStride: 20, batch: 2, y: buffer('y', 4 * 80) }), /rows 10\+1·20\+40 exceed the tensor's 67/);
    fails(args(1, { weight: { ...weight, offset: 258 } }), /weight offset \(258\) must be a non-negative multiple of 4/);
  });

  it('refuses a SwiGLU pair of different shapes, transposed or summed', () => {
    const other = tensorLayout('q4', [66, 130]);
    fails(args(1, { up: { buffer: buffer('u', other.bytes), layout: other } }), /up q4\[66, 130\] differs from gate q4\[67, 130\]/);
    fails(args(1, { up: weight, transposed: true, x: buffer('x', 4 * 67), y: buffer('y', 4 * 130) }), /transposed excludes SwiGLU/);
    fails(args(1, { up: weight, batch: 2, experts: { ids: buffer('ids', 8), strideBytes: 0, sum: true }, xBatchStride: 0 }), /experts\.sum excludes SwiGLU/);
  });

  it('checks the router and segment buffers', () => {
    const experts = { ids: buffer('ids', 8), strideBytes: 4096 };
    fails(args(1, { batch: 3, experts, xBatchStride: 0, y: buffer('y', 4 * 3 * 67) }), /expert ids needs 12 bytes of ids/);
    const groups = { offsets: buffer('offsets', 12), strideBytes: 0 };
    fails(args(4, { batch: 3, groups }), /segment offsets needs 16 bytes/);
    fails(args(1, { experts, groups }), /transposed, experts and groups exclude each other/);
  });

  it('names a weight format no kernel reads', () => {
    const u32 = tensorLayout('u32', [67, 130]);
    fails(args(1, { weight: { ...weight, layout: u32 } }), /L3\.q_b has weight format u32, which no matrix kernel reads/);
  });

  it('checks the gather table and output', () => {
    const ctx = fakeContext('row');
    expect(() => gatherRows(ctx, { weight, ids: buffer('ids', 8), y: buffer('h', 4 * 3 * 130), tokens: 3 }, 'embed')).toThrow(/embed: ids needs 12 bytes/);
  });
});
