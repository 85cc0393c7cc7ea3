// Where `webmoe run` keeps a model's shards in the browser (docs/paging.md, Full-size models). A page's
// engine stores them in IndexedDB, which needs a Chromium profile on disk: Playwright's private contexts keep
// IndexedDB in memory and refuse writes past about 1.3 GiB. Without a profile to keep, storing a
// multi-gigabyte model only to delete it after the run is wasted work, and holding it in the page's memory
// does not fit: such a model streams instead (hashed on the way, paged experts fetched by Range requests).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RunStorageMode } from '../page/run';

/** Models with more shard bytes than this stream from the page server unless --profile is given. */
export const STREAM_ABOVE_BYTES = 2 ** 30;

export interface RunStorage {
  mode: RunStorageMode;
  /** The Chromium profile to run in (mode 'indexeddb'), or null for a private context. */
  userDataDir: string | null;
  /** The page server's port (0: any free one); IndexedDB is per origin, port included. */
  port: number;
}

/** The total bytes of a converted folder's shards, from its manifest.json. */
export function folderShardBytes(folder: string): number {
  const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { shards?: { bytes?: unknown }[] };
  return (manifest.shards ?? []).reduce((a, s) => a + (typeof s.bytes === 'number' ? s.bytes : 0), 0);
}

/**
 * `profile` given: IndexedDB in that folder, kept (a second run loads from its storage, like a returning
 * user's page). Otherwise a model above STREAM_ABOVE_BYTES streams, a smaller one is held in memory.
 */
export function runStorage(shardBytes: number, profile: string | undefined): RunStorage {
  if (profile !== undefined) return { mode: 'indexeddb', userDataDir: resolve(profile), port: profilePort(resolve(profile)) };
  return { mode: shardBytes > STREAM_ABOVE_BYTES ? 'stream' : 'memory', userDataDir: null, port: 0 };
}

/** A port in 20000-29999 fixed by the profile's path, so that the same profile always sees the same origin. */
export function profilePort(dir: string): number {
  return 20000 + (Number.parseInt(createHash('sha256').update(dir).digest('hex').slice(0, 8), 16) % 10000);
}
