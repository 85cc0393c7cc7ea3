// How a shard is stored: fixed-size chunk records (keyOf.chunk), each with the SHA-256 state after its
// last byte, written one at a time as the download arrives, and a shard record (keyOf.shard) written once
// the last chunk is stored and the whole shard's hash matched. A shard with its record is read back
// without hashing; one without it resumes after its last stored chunk (docs/model-folder.md, "Browser cache").
import { WebmoeError } from '../../errors';
import type { Sha256State } from './sha256';
import { chunkKeyOf } from './store';

export interface StoredShard {
  readonly bytes: number;
  readonly chunkBytes: number;
  readonly verified: true;
}

export interface StoredChunk {
  /** Where the chunk starts in its shard (index × chunkBytes). */
  readonly offset: number;
  readonly data: ArrayBuffer;
  /** The shard's hash state after this chunk: a resumed download continues from it. */
  readonly hash: Sha256State;
}

/** 8 MiB: a write per chunk stays cheap, and a tab holds one chunk of a shard at a time. */
export const DEFAULT_CHUNK_BYTES = 8 * 1024 * 1024;
/** Chunk boundaries must keep GPU copies 4-byte aligned (writeBuffer) and tensors start 256-aligned. */
const CHUNK_ALIGNMENT = 256;

export function checkChunkBytes(n: number): number {
  if (!Number.isSafeInteger(n) || n <= 0 || n % CHUNK_ALIGNMENT !== 0) {
    throw new WebmoeError('invalid-request', `chunkBytes: must be a positive multiple of ${CHUNK_ALIGNMENT}, got ${n}`);
  }
  return n;
}

export function chunkCount(shardBytes: number, chunkBytes: number): number {
  return Math.ceil(shardBytes / chunkBytes);
}

export function chunkLength(shardBytes: number, chunkBytes: number, index: number): number {
  return Math.min(chunkBytes, shardBytes - index * chunkBytes);
}

export function isStoredShard(v: unknown, bytes: number, chunkBytes: number): v is StoredShard {
  const s = v as Partial<StoredShard> | null | undefined;
  return s?.verified === true && s.bytes === bytes && s.chunkBytes === chunkBytes;
}

/** Per shard hash: the chunk indices stored for `modelId` (from a key listing, no reads). */
export function chunkIndex(keys: Iterable<string>, modelId: string): Map<string, Set<number>> {
  const out = new Map<string, Set<number>>();
  for (const k of keys) {
    const c = chunkKeyOf(k, modelId);
    if (!c) continue;
    if (!out.has(c.sha256)) out.set(c.sha256, new Set());
    out.get(c.sha256)!.add(c.index);
  }
  return out;
}

/** How many chunks from index 0 on are stored without a gap. */
export function leadingChunks(stored: ReadonlySet<number> | undefined): number {
  let n = 0;
  while (stored?.has(n)) n++;
  return n;
}
