// The bench's expert-paging section (docs/paging.md): what the page measures (page/paging.ts) and how the CLI
// prints it. Pure TypeScript, shared by the CLI and the page.
import { columns, num } from './bench-report';

export interface PagingRow {
  model: string;
  quant: string;
  experts: number;
  slots_per_layer: number;
  /** Decode tokens/s with every expert resident, and paged. */
  resident_tokens_per_s: number;
  paged_tokens_per_s: number;
  /** Paged decode: share of chosen experts already in a slot, bytes uploaded and read from storage per token, host-cache share. */
  hit_rate: number | null;
  bytes_uploaded_per_token: number | null;
  bytes_read_per_token: number | null;
  host_hit_rate: number | null;
  submits_per_token: number | null;
  /** Whether the paged greedy tokens equal the resident ones. */
  same_greedy_tokens: boolean;
}

const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)}%`);
const kib = (v: number | null) => (v === null ? '–' : `${num(v / 1024)} KiB`);

export function formatPaging(rows: readonly PagingRow[]): string[] {
  if (!rows.length) return [];
  const head = ['model', 'quant', 'slots', 'resident t/s', 'paged t/s', 'hit rate', 'uploaded/token', 'read/token', 'host hits', 'submits/token', 'same tokens'];
  const body = rows.map((r) => [
    r.model, r.quant, `${r.slots_per_layer}/${r.experts}`, num(r.resident_tokens_per_s), num(r.paged_tokens_per_s), pct(r.hit_rate),
    kib(r.bytes_uploaded_per_token), kib(r.bytes_read_per_token), pct(r.host_hit_rate), r.submits_per_token === null ? '–' : String(r.submits_per_token),
    r.same_greedy_tokens ? 'yes' : 'NO',
  ]);
  return ['Expert paging (greedy decode; a quarter of each MoE layer\'s experts in GPU slots unless stated):', columns(head, body)];
}

/** Decode settings of the paging rows: a short prompt and enough tokens for a hit rate. */
export const PAGING_BENCH = { promptTokens: 16, decodeTokens: 24 };

/** The paging rows' request: the demo model and the given generated models (label → URL). */
export function pagingRequest(demoUrl: string, models: readonly { label: string; url: string }[]) {
  return { ...PAGING_BENCH, models: [{ url: demoUrl, label: 'demo (webmoe-tiny)' }, ...models] };
}
