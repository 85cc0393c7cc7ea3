// Expert paging's figures (docs/paging.md) as `webmoe run --json` and the bench print them.
import type { PagingStats } from 'webmoe';

export interface PagingReport {
  slots_per_layer: number;
  experts: number;
  pool_bytes: number;
  /** Of the distinct experts each call chose per layer, the share already in a GPU slot (null: none chosen). */
  hit_rate: number | null;
  /** Bytes copied into GPU slots, and read from storage, per token fed since the counters started. */
  bytes_uploaded_per_token: number | null;
  bytes_read_per_token: number | null;
  /** Of the experts paged in, the share that came from host memory rather than storage. */
  host_hit_rate: number | null;
  host_cache_bytes: number;
  tokens: number;
}

export function pagingReport(s: PagingStats | null): PagingReport | null {
  if (!s) return null;
  const paged = s.hostHits + s.storageReads;
  return {
    slots_per_layer: s.slotsPerLayer,
    experts: s.experts,
    pool_bytes: s.poolBytes,
    hit_rate: s.lookups ? s.hits / s.lookups : null,
    bytes_uploaded_per_token: s.tokens ? s.bytesUploaded / s.tokens : null,
    bytes_read_per_token: s.tokens ? s.bytesRead / s.tokens : null,
    host_hit_rate: paged ? s.hostHits / paged : null,
    host_cache_bytes: s.hostCacheBytes,
    tokens: s.tokens,
  };
}
