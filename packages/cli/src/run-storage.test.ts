import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { STREAM_ABOVE_BYTES, folderShardBytes, profilePort, runStorage } from './run-storage';

describe('webmoe run storage', () => {
  it('keeps a profile\'s model in IndexedDB on a port fixed by the profile, streams large models without one', () => {
    const a = runStorage(10, 'some/profile');
    expect(a).toEqual({ mode: 'indexeddb', userDataDir: resolve('some/profile'), port: profilePort(resolve('some/profile')) });
    expect(runStorage(10, 'some/profile').port).toBe(a.port);
    expect(a.port).toBeGreaterThanOrEqual(20000);
    expect(a.port).toBeLessThan(30000);
    expect(runStorage(STREAM_ABOVE_BYTES, undefined)).toEqual({ mode: 'memory', userDataDir: null, port: 0 });
    expect(runStorage(STREAM_ABOVE_BYTES + 1, undefined)).toEqual({ mode: 'stream', userDataDir: null, port: 0 });
  });

  it('adds up the shards manifest.json lists', () => {
    const dir = mkdtempSync(join(tmpdir(), 'webmoe-run-storage-'));
    try {
      writeFileSync(join(dir, 'manifest.json'), JSON.stringify({ shards: [{ file: 'a', bytes: 7 }, { file: 'b', bytes: 2 ** 31 }] }));
      expect(folderShardBytes(dir)).toBe(7 + 2 ** 31);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
