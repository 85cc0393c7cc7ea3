// How the runtime builds a backend: the model's files, streamed weights and progress reporting.
import type { Generator } from '../executor/generator';
import type { LoadProgress, ShardEntry } from './cache/shards';

/** What a backend gets to build itself: the model's files, streamed weights, and progress reporting. */
export interface GeneratorLoadContext {
  readonly modelId: string;
  /** Parsed manifest.json (its shard list already validated). */
  readonly manifest: { readonly shards: readonly ShardEntry[] } & Record<string, unknown>;
  /** The context length the application asked for, if any (the backend may clamp it to the model's). */
  readonly contextLength?: number;
  /** Any other small JSON file of the model directory (config.json, ...), cached for offline use. */
  readonly fetchJson: (name: string) => Promise<unknown>;
  /**
   * Streams every shard, verified, one at a time, in manifest order: download or cache read, SHA-256
   * check, then `onShard` (the GPU upload); only one shard is held in memory at a time.
   */
  readonly loadShards: (onShard: (shard: ShardEntry, data: Uint8Array, index: number) => Promise<void> | void) => Promise<void>;
  /** For the phases the backend runs itself ('compile'). */
  readonly onProgress: (p: LoadProgress) => void;
  readonly signal?: AbortSignal;
}

export type GeneratorFactory = (ctx: GeneratorLoadContext) => Promise<Generator>;
