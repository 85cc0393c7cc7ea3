// How the runtime builds a backend: the model's files, streamed weights and progress reporting.
import type { Generator } from '../executor/generator';
import type { KvCacheFormat } from '../kernels/mla';
import type { LoadProgress, ShardEntry } from './cache/shards';

/** What a backend gets to build itself: the model's files, streamed weights, and progress reporting. */
export interface GeneratorLoadContext {
  readonly modelId: string;
  /** Parsed manifest.json (its shard list already validated). */
  readonly manifest: { readonly shards: readonly ShardEntry[] } & Record<string, unknown>;
  /** The context length the application asked for, if any (the backend may clamp it to the model's). */
  readonly contextLength?: number;
  readonly kvCacheFormat?: KvCacheFormat;
  /** Speculative decoding (GpuModelOptions.speculative); absent: the backend's default. */
  readonly speculative?: 'mtp' | 'off';
  /** Drafts per speculative step (GpuModelOptions.speculativeDepth); absent: the backend's default. */
  readonly speculativeDepth?: 1 | 2 | 3;
  /** Plain decode steps kept in flight (GpuModelOptions.decodeAhead); absent: the backend's default. */
  readonly decodeAhead?: number;
  /** Any other small JSON file of the model directory (config.json, ...), cached for offline use. */
  readonly fetchJson: (name: string) => Promise<unknown>;
  /**
   * Streams every shard in manifest order, in pieces (`data` holds the shard's bytes from `offset` on):
   * cache reads and downloads alike, so that only one piece is held in memory at a time. A shard's hash is
   * checked when its last piece is stored: a piece may come again when a shard restarts from 0 (a server
   * that ignores Range, a corrupt transfer), so a consumer writes pieces where they belong.
   */
  readonly loadShards: (onShard: (shard: ShardEntry, data: Uint8Array, index: number, offset: number) => Promise<void> | void) => Promise<void>;
  /** GPU bytes the model may take; a larger model runs with its experts paged (docs/paging.md). Absent: no limit. */
  readonly gpuMemoryBudget?: number;
  /** A byte range of stored shard `index` (after loadShards): where paged experts are read from. */
  readonly readShardRange?: (index: number, offset: number, bytes: number) => Promise<Uint8Array>;
  /** For the phases the backend runs itself ('compile'). */
  readonly onProgress: (p: LoadProgress) => void;
  readonly signal?: AbortSignal;
}

export type GeneratorFactory = (ctx: GeneratorLoadContext) => Promise<Generator>;
