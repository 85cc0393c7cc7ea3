import { describe, expect, it } from 'vitest';
import { DEFAULT_FULL_SIZE_BUDGET, FULL_SIZE_BENCH, formatFullSize, fullSizeBudgets, fullSizeRequest, fullSizeRow } from './bench-full-size';
import type { RunResult } from '../page/run';

const result = {
  quant: 'q4', tokens: [5, 6],
  timings: { load_ms: 90_000, prefill_ms: 1600, decode_ms: 700, prefill_tokens_per_s: 10, decode_tokens_per_s: 1.4, prefill_ms_per_token: 100, decode_ms_per_token: 700 },
  memory: { weights: 2 ** 31, expert_slots: 2 ** 30, kv_cache: 2 ** 20, scratch: 3 * 2 ** 20, total: 2 ** 31 + 4 * 2 ** 20 },
  paging: { slots_per_layer: 8, experts: 64, pool_bytes: 2 ** 30, hit_rate: 0.25, bytes_uploaded_per_token: 5 * 2 ** 20, bytes_read_per_token: 5 * 2 ** 20, host_hit_rate: 0, host_cache_bytes: 0, tokens: 1 },
} as unknown as RunResult;

describe('bench full-size rows', () => {
  it('asks for the bench prompt, greedy, with or without a budget', () => {
    const paged = fullSizeRequest(3 * 2 ** 30);
    expect(paged.promptIds).toHaveLength(FULL_SIZE_BENCH.promptTokens);
    expect(paged.maxTokens).toBe(FULL_SIZE_BENCH.decodeTokens);
    expect(paged.gpuMemoryBudget).toBe(3 * 2 ** 30);
    expect(paged.temperature).toBe(0);
    expect('gpuMemoryBudget' in fullSizeRequest(null)).toBe(false);
  });

  it('runs paged by default, resident alone with --resident, both with --resident and --gpu-memory', () => {
    expect(fullSizeBudgets(undefined, false)).toEqual([DEFAULT_FULL_SIZE_BUDGET]);
    expect(fullSizeBudgets(4 * 2 ** 30, false)).toEqual([4 * 2 ** 30]);
    expect(fullSizeBudgets(undefined, true)).toEqual([null]);
    expect(fullSizeBudgets(4 * 2 ** 30, true)).toEqual([4 * 2 ** 30, null]);
  });

  it('prints load time, memory by kind, ms per token and paging figures', () => {
    const [title, table] = formatFullSize([fullSizeRow('v2-lite-q4', 10 * 2 ** 30, 3 * 2 ** 30, result), fullSizeRow('v2-lite-q4', 10 * 2 ** 30, null, { ...result, paging: null })]);
    expect(title).toMatch(/Full-size models/);
    const [paged, resident] = table.split('\n').slice(2).map((l) => l.split(/\s{2,}/).join('|'));
    for (const cell of ['10.00 GiB', '3.00 GiB', '90.0', '2.00 GiB', '1.00 GiB', '4.0 MiB', '100', '700', '8/64', '25.0%', '5.0 MiB']) expect(paged).toContain(cell);
    expect(resident).toContain('resident');
    expect(formatFullSize([])).toEqual([]);
  });
});
