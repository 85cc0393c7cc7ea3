// The bench's full-size section (`webmoe bench --full-size <dir>,…`; docs/paging.md, Full-size models):
// generated V2-Lite or Moonlight folders run through `webmoe run`'s page path (HTTP → IndexedDB → GPU),
// paged within a GPU memory budget and, on request, fully resident. Pure TypeScript apart from the types.
import { columns, num } from './bench-report';
import type { RunRequest, RunResult } from '../page/run';

/** A prompt of 16 tokens and 8 decoded, greedy: enough for a hit rate, short enough for a software adapter. */
export const FULL_SIZE_BENCH = { promptTokens: 16, decodeTokens: 8 };

export interface FullSizeRow {
  model: string;
  quant: string;
  shard_bytes: number;
  /** The budget the run was given (null: resident, no budget). */
  gpu_memory_budget: number | null;
  load_ms: number;
  memory: RunResult['memory'];
  prefill_ms_per_token: number;
  decode_ms_per_token: number | null;
  paging: RunResult['paging'];
  tokens: number[];
}

/** A paged run when no budget is given. */
export const DEFAULT_FULL_SIZE_BUDGET = 2 * 2 ** 30;

/**
 * The budgets of a folder's runs (null: resident). A paged full-size prefill on a software adapter can take
 * longer than a resident one by an order of magnitude (docs/paging.md), so `--resident` alone runs only that.
 */
export function fullSizeBudgets(gpuMemory: number | undefined, resident: boolean): (number | null)[] {
  if (!resident) return [gpuMemory ?? DEFAULT_FULL_SIZE_BUDGET];
  return gpuMemory === undefined ? [null] : [gpuMemory, null];
}

/** The run request of one full-size row (the page fills in modelUrl). */
export function fullSizeRequest(budget: number | null): RunRequest {
  return {
    modelUrl: '', promptIds: Array.from({ length: FULL_SIZE_BENCH.promptTokens }, (_, i) => i + 1), maxTokens: FULL_SIZE_BENCH.decodeTokens,
    temperature: 0, topP: 1, topK: 0, seed: 0, logits: false, ...(budget !== null ? { gpuMemoryBudget: budget } : {}),
  };
}

export function fullSizeRow(model: string, shardBytes: number, budget: number | null, r: RunResult): FullSizeRow {
  return {
    model, quant: r.quant, shard_bytes: shardBytes, gpu_memory_budget: budget, load_ms: r.timings.load_ms, memory: r.memory,
    prefill_ms_per_token: r.timings.prefill_ms_per_token, decode_ms_per_token: r.timings.decode_ms_per_token, paging: r.paging, tokens: r.tokens,
  };
}

const gib = (v: number) => `${num(v / 2 ** 30, 2)} GiB`;
const mib = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${num(v / 2 ** 20, 1)} MiB`);

export function formatFullSize(rows: readonly FullSizeRow[]): string[] {
  if (!rows.length) return [];
  const head = ['model', 'quant', 'weights', 'budget', 'load s', 'GPU weights', 'of which slots', 'KV + scratch', 'prefill ms/tok', 'decode ms/tok', 'slots', 'hit rate', 'uploaded/token'];
  const body = rows.map((r) => [
    r.model, r.quant, gib(r.shard_bytes), r.gpu_memory_budget === null ? 'resident' : gib(r.gpu_memory_budget), num(r.load_ms / 1000),
    gib(r.memory.weights), r.paging ? gib(r.memory.expert_slots) : '–', mib(r.memory.kv_cache + r.memory.scratch),
    num(r.prefill_ms_per_token, 0), num(r.decode_ms_per_token, 0),
    r.paging ? `${r.paging.slots_per_layer}/${r.paging.experts}` : '–',
    r.paging?.hit_rate === null || !r.paging ? '–' : `${(100 * r.paging.hit_rate).toFixed(1)}%`, r.paging ? mib(r.paging.bytes_uploaded_per_token) : '–',
  ]);
  return [`Full-size models (page path: HTTP → IndexedDB → GPU; ${FULL_SIZE_BENCH.promptTokens}-token prompt, ${FULL_SIZE_BENCH.decodeTokens} greedy tokens):`, columns(head, body)];
}
