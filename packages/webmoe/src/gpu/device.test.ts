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
