import { describe, expect, it } from 'vitest';
import { evaluateBar, formatDetails, formatTable, summarize, type BenchModelResult, type ScalingRow } from './bench-report';

function result(over: Partial<BenchModelResult>): BenchModelResult {
  return {
    model: '100M', quant: 'q4', adapter: 'test adapter', software: true, experts: 256, params_total: 95e6, params_active: 7.5e6, load_ms: 1000,
    prefill_tokens_per_s: { 16: 40, 128: 50, 1024: 60 }, prefill_chunk: 512, decode_tokens_per_s: 10, decode_ms_per_token: 100, decode_steps: 64,
    dispatches_per_token: 103, submits_per_token: 1, readback_bytes_per_token: 4, bytes_read_per_token: 6e6,
    bytes_read_breakdown: { weights: 4e6, experts: 1.9e6, kv: 1e5 }, read_probe_ms: 10, dequant_probe_ms: 80,
    read_probe_gpu_ms: null, decode_gpu_ms: null, chain_probe_ms: 40, chain_probe_gpu_ms: null, decode_ahead_ms_per_token: { 1: 100, 4: 60.5 },
    probes: { read_ms: 10, read_shape: 'chunks', weights_ms: 80, read_gpu_ms: null, decode_gpu_ms: null, chain_ms: 40, chain_gpu_ms: null }, kernels: [{ kernel: 'lm_head', ms: 20, launches: 1, variants: ['matmul/matmul_row/row.q4'] }], prefill_kernels: null, short_prefill_kernels: null,
    kernel_shapes: { matmul: 'row' }, kernel_shape_source: { matmul: 'measured' }, kernel_shape_ms: {}, kernel_variants: { lm_head: ['matmul/matmul_row/row.q4'] },
    memory: { weights: 6e7, kvCache: 1e5, scratch: 2e6 }, kv_bytes_per_token: 768, mha_kv_bytes_per_token: 40320, kv_expected_bytes_per_token: 768,
    ...over,
  };
}

const scaling = (ms: number[], bytes: number[]): ScalingRow[] => [8, 32, 128].map((experts, i) => ({
  experts, quant: 'q4', params_total: 1e6 * (i + 1), params_active: 1e6, decode_ms_per_token: ms[i], bytes_read_per_token: bytes[i], expert_bytes_per_token: 1000,
}));

const item = (bar: ReturnType<typeof evaluateBar>, prefix: string) => bar.find((b) => b.item.startsWith(prefix));

describe('the bar', () => {
  it('passes and misses by the issue’s thresholds', () => {
    const models = [result({}), result({ quant: 'f32', decode_ms_per_token: 130, dequant_probe_ms: 80 })];
    const bar = evaluateBar(models, scaling([10, 10.5, 11.4], [100, 105, 109]), [16, 128, 1024]);
    expect(item(bar, 'decode 100M q4')?.pass).toBe(true); // 1.25×
    expect(item(bar, 'decode 100M f32')?.pass).toBe(false); // 1.625×
    expect(item(bar, 'queue submissions')?.pass).toBe(true);
    expect(item(bar, 'bytes read per step')?.pass).toBe(true); // 9%
    expect(item(bar, 'decode time across')?.pass).toBe(true); // 14%
    expect(item(bar, 'prefill of 1024')?.pass).toBe(true); // 6× decode
    expect(item(bar, 'KV bytes')?.pass).toBe(true);
  });

  it('misses on extra submissions, readback, scaling spread, slow prefill and a wrong KV size', () => {
    const models = [result({ submits_per_token: 2, readback_bytes_per_token: 16, prefill_tokens_per_s: { 1024: 30 }, kv_bytes_per_token: 800 })];
    const bar = evaluateBar(models, scaling([10, 10, 12], [100, 100, 120]), [1024]);
    expect(item(bar, 'queue submissions')?.pass).toBe(false);
    expect(item(bar, 'bytes read per step')?.pass).toBe(false);
    expect(item(bar, 'decode time across')?.pass).toBe(false);
    expect(item(bar, 'prefill of 1024')?.pass).toBe(false);
    expect(item(bar, 'KV bytes')?.pass).toBe(false);
  });

  it('holds decode on the 500M q4 model against probe (a) in wall and GPU time', () => {
    const slowWall = result({ model: '500M', decode_ms_per_token: 2, read_probe_ms: 1, decode_gpu_ms: 0.14, read_probe_gpu_ms: 0.1 });
    const bar = evaluateBar([slowWall], [], [16]);
    expect(item(bar, 'decode 500M q4 vs probe (a), wall')?.pass).toBe(false); // 2×
    expect(item(bar, 'decode 500M q4 vs probe (a), GPU')?.pass).toBe(true); // 1.4×
    const slowGpu = evaluateBar([result({ model: '500M', decode_ms_per_token: 1.2, read_probe_ms: 1, decode_gpu_ms: 0.2, read_probe_gpu_ms: 0.1 })], [], [16]);
    expect(item(slowGpu, 'decode 500M q4 vs probe (a), wall')?.pass).toBe(true);
    expect(item(slowGpu, 'decode 500M q4 vs probe (a), GPU')?.pass).toBe(false);
  });

  it('marks what a run did not measure', () => {
    const bar = evaluateBar([result({ model: '10M' })], [], [16, 64]);
    expect(item(bar, 'decode 500M q4 vs probe (a), wall')?.pass).toBeNull();
    expect(item(bar, 'decode 500M q4 vs probe (a), GPU')?.pass).toBeNull();
    expect(item(bar, 'decode 100M q4')?.pass).toBeNull();
    expect(item(bar, 'MoE scaling')?.pass).toBeNull();
    expect(item(bar, 'prefill of')).toBeUndefined();
  });
});

describe('the report', () => {
  it('holds the keys the issue asks for, per model and for MoE scaling', () => {
    const s = summarize([result({})], scaling([10, 10, 10], [1, 1, 1]), { quick: true, prompts: [16, 64], decodePrompt: 16, decodeTokens: 16, repeats: 1, notes: [] });
    const json = JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
    const m = (json.models as Record<string, unknown>[])[0];
    for (const key of ['model', 'quant', 'params_total', 'params_active', 'prefill_tokens_per_s', 'decode_tokens_per_s', 'decode_ms_per_token',
      'dispatches_per_token', 'submits_per_token', 'readback_bytes_per_token', 'bytes_read_per_token', 'read_probe_ms', 'dequant_probe_ms',
      'kv_bytes_per_token', 'mha_kv_bytes_per_token', 'kernel_variants', 'kernel_shapes']) {
      expect(m, key).toHaveProperty(key);
    }
    expect(m.decode_over_dequant_probe).toBeCloseTo(100 / 80);
    expect(json.moe_scaling).toEqual(expect.arrayContaining([expect.objectContaining({ experts: 8, decode_ms_per_token: 10 })]));
  });

  it('prints a row per model and the details', () => {
    const models = [result({}), result({ model: '10M', quant: 'f32' })];
    const table = formatTable(models).split('\n');
    expect(table).toHaveLength(4);
    expect(table[0]).toContain('pre@1024 t/s');
    expect(table[3]).toMatch(/^10M\s+f32/);
    const details = formatDetails(summarize(models, [], { quick: false, prompts: [16], decodePrompt: 16, decodeTokens: 64, repeats: 3, notes: ['n'] }));
    expect(details).toContain('lm_head');
    expect(details).toContain('note: n');
    // Probe (c) against the decode step: 100 ms over 40 ms of the chained read.
    expect(details).toContain('decode with n steps in flight (decodeAhead), ms/token: n=1 100.000, n=4 60.500');
    expect(details).toContain('probe (c), the same bytes read by 103 chained dispatches: 40.000 ms wall, – ms GPU; decode 2.50× of it (wall), –× (GPU)');
  });
});
