// The part of a model manifest the cache needs (the shard list), and the progress events of loading.
import { WebmoeError } from '../../errors';

export interface ShardEntry {
  /** Path relative to the model's base URL. */
  readonly file: string;
  readonly bytes: number;
  /** Lower-case hex SHA-256 of the file. */
  readonly sha256: string;
}

export type LoadPhase = 'download' | 'verify' | 'upload' | 'compile';

export interface LoadProgress {
  readonly phase: LoadPhase;
  /** Over all shards: bytes finished plus what the current phase has done of the current shard. */
  readonly bytesDone: number;
  readonly bytesTotal: number;
  readonly shardsDone: number;
  readonly shardsTotal: number;
  /** The shard this event is about, if any. */
  readonly file?: string;
  /** For 'download': bytes per second over the last seconds, and the time left for the missing bytes at that speed. */
  readonly bytesPerSecond?: number;
  readonly secondsLeft?: number;
  /** For 'compile': pipelines done and total. */
  readonly stepsDone?: number;
  readonly stepsTotal?: number;
}

/** Validates manifest.json's shard list; errors name the manifest field. */
export function readShardList(manifest: unknown): ShardEntry[] {
  const shards = (manifest as { shards?: unknown } | null)?.shards;
  if (!Array.isArray(shards) || shards.length === 0) throw new WebmoeError('model-format', 'manifest.json: "shards" must be a non-empty list');
  const seen = new Set<string>();
  return shards.map((s: unknown, i) => {
    const e = s as Partial<ShardEntry> | null;
    const where = `manifest.json: shards[${i}]`;
    if (typeof e?.file !== 'string' || !e.file) throw new WebmoeError('model-format', `${where}.file must be a file name`);
    if (!Number.isSafeInteger(e.bytes) || (e.bytes as number) < 0) throw new WebmoeError('model-format', `${where}.bytes must be a byte count (${e.file})`);
    if (typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/i.test(e.sha256)) throw new WebmoeError('model-format', `${where}.sha256 must be 64 hex digits (${e.file})`);
    if (seen.has(e.file)) throw new WebmoeError('model-format', `${where}: ${e.file} is listed twice`);
    seen.add(e.file);
    return { file: e.file, bytes: e.bytes as number, sha256: e.sha256.toLowerCase() };
  });
}

export async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', data as Uint8Array<ArrayBuffer>));
  let hex = '';
  for (const b of digest) hex += b.toString(16).padStart(2, '0');
  return hex;
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[u]}`;
}
