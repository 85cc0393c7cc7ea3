import { describe, expect, it } from 'vitest';
import { acquireGpu } from './device';
import { WebmoeError, isWebmoeError } from '../errors';

describe('acquireGpu', () => {
  it('names missing WebGPU', async () => {
    await expect(acquireGpu({ navigator: {} })).rejects.toMatchObject({ code: 'no-webgpu' });
  });

  it('names a missing adapter', async () => {
    const gpu = { requestAdapter: async () => null } as unknown as GPU;
    await expect(acquireGpu({ navigator: { gpu } })).rejects.toMatchObject({ code: 'no-adapter' });
  });

  it('asks the GPU object it is given (Dawn\'s in Node) rather than navigator.gpu', async () => {
    const asked: string[] = [];
    const gpu = (name: string) => ({ requestAdapter: async () => (asked.push(name), null) }) as unknown as GPU;
    await expect(acquireGpu({ gpu: gpu('given'), navigator: { gpu: gpu('navigator') } })).rejects.toMatchObject({ code: 'no-adapter' });
    expect(asked).toEqual(['given']);
  });

  it('lists every limit the adapter lacks', async () => {
    const adapter = {
      limits: { maxStorageBufferBindingSize: 1024, maxBufferSize: 1 << 30, maxStorageBuffersPerShaderStage: 8, maxComputeWorkgroupSizeX: 256,
        maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 16384 },
      features: new Set<string>(),
      info: { vendor: 'x', architecture: '', device: '', description: '' },
    };
    const gpu = { requestAdapter: async () => adapter } as unknown as GPU;
    const err = await acquireGpu({ navigator: { gpu }, limits: { maxBufferSize: 2 ** 31 } }).catch((e: unknown) => e);
    expect(isWebmoeError(err, 'insufficient-limits')).toBe(true);
    expect((err as WebmoeError).message).toContain('maxStorageBufferBindingSize: need 134217728, adapter has 1024');
    expect((err as WebmoeError).message).toContain('maxBufferSize: need 2147483648');
  });
});

describe('WebmoeError', () => {
  it('survives a round trip through plain data (the Worker protocol)', () => {
    const e = new WebmoeError('context-overflow', 'too long', { detail: { tokens: 9000, context: 4096 } });
    const back = WebmoeError.fromData(JSON.parse(JSON.stringify(e.toData())));
    expect(back).toBeInstanceOf(WebmoeError);
    expect(back.code).toBe('context-overflow');
    expect(back.message).toBe('too long');
    expect(back.detail).toEqual({ tokens: 9000, context: 4096 });
  });
});

describe('device loss and uncaptured errors', () => {
  function fakeGpu(features: string[] = [], wgsl?: string[]) {
    const asked: string[][] = [];
    let lose: (info: { reason: string; message: string }) => void = () => {};
    const listeners: ((ev: unknown) => void)[] = [];
    const device = {
      lost: new Promise((r) => (lose = r)),
      features: new Set<string>(),
      addEventListener: (_: string, f: (ev: unknown) => void) => listeners.push(f),
      destroy() {},
    };
    const adapter = {
      limits: { maxStorageBufferBindingSize: 1 << 30, maxBufferSize: 1 << 30, maxStorageBuffersPerShaderStage: 10, maxComputeWorkgroupSizeX: 256,
        maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupStorageSize: 32768 },
      features: new Set<string>(features),
      info: { vendor: 'google', architecture: 'swiftshader', device: '', description: '' },
      requestDevice: async (d: { requiredFeatures: string[] }) => (asked.push(d.requiredFeatures), device),
    };
    const gpu = { requestAdapter: async () => adapter, ...(wgsl ? { wgslLanguageFeatures: new Set(wgsl) } : {}) } as unknown as GPU;
    return { gpu, asked, lose, fire: (ev: unknown) => listeners.forEach((f) => f(ev)) };
  }

  it('asks for the optional features the adapter has, and records the WGSL language features', async () => {
    const f = fakeGpu(['subgroups', 'shader-f16', 'timestamp-query'], ['unrestricted_pointer_parameters']);
    const ctx = await acquireGpu({ navigator: { gpu: f.gpu } });
    expect(f.asked).toEqual([['timestamp-query', 'subgroups', 'shader-f16']]);
    expect(ctx.summary.wgslFeatures).toEqual(['unrestricted_pointer_parameters']);
    // A runtime that does not list its language features is taken to have none (the kernels are lowered).
    expect((await acquireGpu({ navigator: { gpu: fakeGpu().gpu } })).summary.wgslFeatures).toEqual([]);
  });

  it('reports a lost device as device-lost, in plain words', async () => {
    const f = fakeGpu();
    const ctx = await acquireGpu({ navigator: { gpu: f.gpu } });
    expect(ctx.summary.isSoftware).toBe(true);
    expect(() => ctx.check()).not.toThrow();
    f.lose({ reason: 'unknown', message: 'GPU process crashed' });
    const err = await ctx.lost;
    expect(err.code).toBe('device-lost');
    expect(ctx.isLost()).toBe(true);
    expect(() => ctx.check()).toThrow(/GPU device was lost \(GPU process crashed\)/);
  });

  it('turns the first uncaptured validation error into gpu-validation', async () => {
    const f = fakeGpu();
    const ctx = await acquireGpu({ navigator: { gpu: f.gpu } });
    f.fire({ error: { message: 'binding 3 is missing' } });
    f.fire({ error: { message: 'a later consequence' } });
    expect(() => ctx.check()).toThrow(/WebGPU rejected a command: binding 3 is missing/);
    expect(() => ctx.check()).not.toThrow();
  });
});
