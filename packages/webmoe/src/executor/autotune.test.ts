import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/device';
import type { KernelContext } from '../gpu/kernel-context';
import { parseHfConfig, requireV3 } from '../model/config';
import { STORE_KEY, autotune, measureCandidate, uniformTuning, type TuningStore } from './autotune';
import { isWebmoeError } from '../errors';
import type { GpuWeights } from './weights';

const config = requireV3(parseHfConfig({
  model_type: 'deepseek_v3', vocab_size: 64, hidden_size: 32, intermediate_size: 48, moe_intermediate_size: 16, num_hidden_layers: 2,
  first_k_dense_replace: 1, num_attention_heads: 2, n_routed_experts: 4, n_shared_experts: 1, num_experts_per_tok: 2, n_group: 1, topk_group: 1,
  q_lora_rank: 16, kv_lora_rank: 16, qk_nope_head_dim: 8, qk_rope_head_dim: 8, v_head_dim: 8, scoring_func: 'sigmoid', topk_method: 'noaux_tc',
}, 'test config'), 'autotune');

/** A GPU that fails every call: autotune must not touch it when the choices are cached, and report it otherwise. */
function setup(description: string, format = 'q4') {
  const device = new Proxy({}, { get: () => { throw new Error('no GPU in this test'); } }) as GPUDevice;
  const gpu = { summary: { vendor: 'v', architecture: 'a', device: 'd', description }, check() {} } as unknown as GpuContext;
  const ctx = { device, shape: 'row', features: {}, pipelines: {} } as unknown as KernelContext;
  const weights = { has: () => true, tensor: () => ({ layout: { format }, buffer: {}, byteOffset: 0 }), experts: () => { throw new Error('no GPU'); } } as unknown as GpuWeights;
  return { gpu, ctx, weights };
}

function memoryStore(init: Record<string, string> = {}): TuningStore & { data: Map<string, string> } {
  const data = new Map(Object.entries(init));
  return { data, getItem: (k) => data.get(k) ?? null, setItem: (k, v) => void data.set(k, v) };
}


describe('autotune', () => {
  it('uses the cached choices of this adapter and format without touching the GPU', async () => {
    const { gpu, ctx, weights } = setup('cached adapter');
    const stored = { 'v|a|d|cached adapter|matmul.q4': 'workgroup', 'v|a|d|cached adapter|mla': 'row', 'v|a|d|cached adapter|rmsnorm': 'workgroup', 'v|a|d|cached adapter|router': 'workgroup' };
    const t = await autotune(gpu, ctx, weights, config, { contextLength: 64, store: memoryStore({ [STORE_KEY]: JSON.stringify(stored) }) });
    expect(t.shapes).toEqual({ matmul: 'workgroup', mla: 'row', rmsnorm: 'workgroup', router: 'workgroup' });
    expect(Object.values(t.source)).toEqual(['cached', 'cached', 'cached', 'cached']);
  });

  it('takes a cached subgroup choice only on a device with the feature', async () => {
    const { gpu, ctx, weights } = setup('subgroup adapter');
    const stored = { 'v|a|d|subgroup adapter|matmul.q4': 'subgroup', 'v|a|d|subgroup adapter|mla': 'row', 'v|a|d|subgroup adapter|rmsnorm': 'row', 'v|a|d|subgroup adapter|router': 'row' };
    const store = () => memoryStore({ [STORE_KEY]: JSON.stringify(stored) });
    const t = await autotune(gpu, { ...ctx, subgroups: { min: 32, max: 32 } }, weights, config, { contextLength: 64, store: store() });
    expect(t.shapes.matmul).toBe('workgroup');
    expect(t.matmulReduce).toBe('subgroup');
    expect(t.source.matmul).toBe('cached');
    // Without the feature the cached choice does not apply: the family is measured (and this GPU fails).
    await expect(autotune(gpu, ctx, weights, config, { contextLength: 64, store: store() })).rejects.toThrow('no GPU in this test');
  });

  it('measures a family with no cached choice for this format, and a failing GPU fails the load', async () => {
    const { gpu, ctx, weights } = setup('other adapter', 'f32');
    const stored = { 'v|a|d|other adapter|matmul.q4': 'workgroup', 'v|a|d|other adapter|mla': 'sideways', 'v|a|d|other adapter|router': 'workgroup' };
    await expect(autotune(gpu, ctx, weights, config, { contextLength: 64, store: memoryStore({ [STORE_KEY]: JSON.stringify(stored) }) }))
      .rejects.toThrow('no GPU in this test');
  });

  it('gets past unreadable storage to the measurement', async () => {
    const { gpu, ctx, weights } = setup('broken storage');
    await expect(autotune(gpu, ctx, weights, config, { contextLength: 64, store: memoryStore({ [STORE_KEY]: '{not json' }) }))
      .rejects.toThrow('no GPU in this test');
  });

  it('gives every family one shape for an override', () => {
    const t = uniformTuning('workgroup', 'override');
    expect(new Set(Object.values(t.shapes))).toEqual(new Set(['workgroup']));
    expect(new Set(Object.values(t.source))).toEqual(new Set(['override']));
  });
});

describe('measureCandidate', () => {
  /** A device whose error scopes report `errors` (innermost first: validation, then out-of-memory). */
  function scoped(errors: { validation?: string; oom?: string }) {
    const pushed: string[] = [];
    const device = {
      pushErrorScope: (f: string) => void pushed.push(f),
      popErrorScope: async () => {
        const f = pushed.pop();
        const m = f === 'validation' ? errors.validation : errors.oom;
        return m ? { message: m } : null;
      },
    } as unknown as GPUDevice;
    return { device, pushed };
  }

  it('returns the time of a clean run and closes both scopes', async () => {
    const { device, pushed } = scoped({});
    expect(await measureCandidate(device, 'x', async () => 1.5)).toBe(1.5);
    expect(pushed).toEqual([]);
  });

  it('fails loudly, naming the candidate, on a validation error', async () => {
    const { device } = scoped({ validation: 'binding 2 is too small' });
    const err = await measureCandidate(device, 'autotune matmul (workgroup)', async () => 1).catch((e: unknown) => e);
    expect(isWebmoeError(err) && err.code).toBe('gpu-validation');
    expect(String((err as Error).message)).toContain('autotune matmul (workgroup): binding 2 is too small');
  });

  it('gives up on the measurement (null) when the GPU runs out of memory, even if the run threw', async () => {
    expect(await measureCandidate(scoped({ oom: 'no memory' }).device, 'x', async () => 1)).toBeNull();
    expect(await measureCandidate(scoped({ oom: 'no memory', validation: 'invalid buffer' }).device, 'x', async () => { throw new Error('map failed'); })).toBeNull();
  });

  it('passes on any other failure of the run', async () => {
    await expect(measureCandidate(scoped({}).device, 'x', async () => { throw new Error('lost'); })).rejects.toThrow('lost');
  });
});
