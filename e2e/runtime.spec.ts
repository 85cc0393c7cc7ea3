// The runtime in Chromium: IndexedDB shard cache (chunked, resumable by Range, verified once; quota), and the
// Worker engine against the in-process one. Backend and model server are test-only toys
// (e2e/runtime/toy-*.ts); the scenarios run in e2e/runtime/main.ts and return plain data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, expect, test, type Page } from '@playwright/test';
import { CHROMIUM_ARGS, chromiumPath } from '@webmoe/cli/chromium';
import type { RuntimeApi } from './runtime/main';

test.describe.configure({ mode: 'serial' });

let page: Page;

test.beforeAll(async ({ browser }) => {
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && console.error(`[console] ${m.text()}`));
  await page.goto('/e2e/runtime/index.html');
  await page.waitForFunction(() => 'webmoeRuntime' in window);
});

test.afterAll(async () => {
  await page?.close();
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function run(name: string): Promise<any> {
  return page.evaluate((n) => (window as unknown as { webmoeRuntime: RuntimeApi }).webmoeRuntime.run(n), name);
}

interface Cached {
  id: string;
  shardsCached: number;
  shardsTotal: number;
  bytesCached: number;
  bytesTotal: number;
  complete: boolean;
}

test('runtime cache: second load fetches no weights', async () => {
  const r = await run('cache: second load fetches no weights');
  expect(r.firstShardRequests).toEqual(r.shardFiles);
  expect(r.secondShardRequests).toEqual([]);
  // The second load may ask for manifest.json (network first) but for nothing else.
  expect(r.allRequests.filter((f: string) => f !== 'manifest.json').sort()).toEqual([...r.shardFiles, 'tokenizer.json', 'tokenizer_config.json'].sort());
  expect(r.firstPhases).toEqual(expect.arrayContaining(['download', 'verify', 'upload', 'compile']));
  expect(r.firstPhases.indexOf('download')).toBeLessThan(r.firstPhases.indexOf('compile'));
  expect(r.secondPhases).not.toContain('download');
  expect(r.lastUpload).toMatchObject({ bytesDone: r.totalBytes, bytesTotal: r.totalBytes, shardsDone: 4, shardsTotal: 4 });
  expect(r.last.phase).toBe('compile');
  expect(r.sameReply).toBe(true);
  const [m] = r.list as Cached[];
  expect(r.list).toHaveLength(1);
  expect(m).toMatchObject({ shardsCached: 4, shardsTotal: 4, bytesCached: r.totalBytes, complete: true });
  expect(r.bytesUsed).toBe(r.totalBytes);
  // Verified once, when stored: the first load hashed every shard byte (and the tokenizer files), the second nothing.
  expect(r.firstHashed).toBeGreaterThan(r.totalBytes);
  expect(r.secondHashed).toBe(0);
  // The toy shards arrive within one tick of the page's coarse clock at times, so a speed of 0 (no time
  // seen to pass) is possible here; the meter's arithmetic is unit-tested (runtime/cache/rate.test.ts).
  const { bytesPerSecond, secondsLeft } = r.lastDownload;
  expect(Number.isFinite(bytesPerSecond) && bytesPerSecond >= 0).toBe(true);
  if (bytesPerSecond > 0) expect(Number.isFinite(secondsLeft) && secondsLeft >= 0).toBe(true);
  else expect(secondsLeft).toBeUndefined();
});

test('runtime cache: bit rot in a verified chunk, verifyCache always', async () => {
  const r = await run('cache: bit rot in a verified chunk: unseen by default, found by verifyCache always');
  // A verified shard is not hashed again: the flipped byte reaches the backend unnoticed.
  expect(r.plain).toEqual({ shardRequests: [], bytesHashed: 0, sameReply: false });
  // 'always' hashes every cached shard, finds the bad one and downloads it again.
  expect(r.always.shardRequests).toEqual([r.shardFiles[1]]);
  expect(r.always.bytesHashed).toBeGreaterThan(r.totalBytes);
  expect(r.always.phases).toContain('verify');
  expect(r.always.sameReply).toBe(true);
  expect(r.after).toEqual({ shardRequests: [], bytesHashed: 0, sameReply: true });
  expect(r.list[0].complete).toBe(true);
});

test('runtime cache: interrupted download resumes', async () => {
  const r = await run('cache: interrupted download resumes');
  expect(r.error?.code).toBe('network');
  expect(r.error.message).toContain(r.shardFiles[2]);
  expect(r.firstShardRequests).toEqual(r.shardFiles.slice(0, 3));
  expect(r.listAfterFailure[0]).toMatchObject({ shardsCached: 2, complete: false });
  expect(r.cutResponse.bytes).toBe(2 * r.chunkBytes + 5000);
  expect(r.secondShardRequests).toEqual(r.shardFiles.slice(2));
  // The cut shard continues from its stored chunks: only the rest is asked for, sent and hashed.
  const rest = r.shardBytes[2] - 2 * r.chunkBytes;
  expect(r.secondResponses).toEqual([
    { file: r.shardFiles[2], range: `bytes=${2 * r.chunkBytes}-`, status: 206, bytes: rest },
    { file: r.shardFiles[3], range: null, status: 200, bytes: r.shardBytes[3] },
  ]);
  expect(r.secondHashed).toBe(rest + r.shardBytes[3]);
  expect(r.reply.length).toBeGreaterThan(0);
  expect(r.sameReply).toBe(true);
  expect(r.third).toEqual({ shardRequests: [], bytesHashed: 0, sameReply: true });
});

test('runtime cache: a server without Range, a file that changed', async () => {
  const r = await run('cache: a server without Range restarts the shard; a changed file is an error');
  expect(r.restartedResponse).toEqual({ file: r.shardFiles[1], range: 'bytes=65536-', status: 200, bytes: r.shardBytes[1] });
  expect(r.restartedSame).toBe(true);
  expect(r.shorterError?.code).toBe('integrity');
  expect(r.shorterError.message).toMatch(new RegExp(`${r.shardFiles[1]}: the file changed on the server \\(it refused bytes=65536- \\(HTTP 416\\)`));
  expect(r.longerError?.code).toBe('integrity');
  expect(r.longerError.message).toContain(`it is ${r.shardBytes[1] + 4096} bytes now; manifest.json says ${r.shardBytes[1]}`);
});

test('runtime cache: integrity error for a bad download', async () => {
  const r = await run('cache: a shard that does not match its hash is an integrity error');
  expect(r.error?.code).toBe('integrity');
  expect(r.error.message).toMatch(/shard-00001\.bin: SHA-256 [0-9a-f]{64} instead of [0-9a-f]{64}/);
  expect(r.shardRequests).toEqual(['shard-00000.bin', 'shard-00001.bin', 'shard-00001.bin']);
  expect(r.list[0].shardsCached).toBe(1);
});

test('runtime cache: quota error from the storage estimate', async () => {
  const r = await run('cache: quota error (estimate) says what is needed and deletes nothing');
  expect(r.error?.code).toBe('storage-quota');
  expect(r.error.message).toMatch(/needs 787\.\d KiB more, and 97\.\d KiB is available/);
  expect(r.error.message).toContain('other-model');
  expect(r.error.detail).toMatchObject({ neededBytes: r.totalBytes, availableBytes: 100_000 });
  expect(r.shardRequests).toEqual([]);
  expect(r.listAfter.filter((m: Cached) => m.bytesCached > 0)).toEqual(r.listBefore);
});

test('runtime cache: quota error from IndexedDB keeps what is cached', async () => {
  const r = await run('cache: quota error (QuotaExceededError from IndexedDB) keeps what is cached');
  expect(r.error?.code).toBe('storage-quota');
  const remaining = r.shardBytes.slice(2).reduce((a: number, b: number) => a + b, 0);
  expect(r.error.detail.neededBytes).toBe(remaining);
  // The page's storage estimate shows room, so the message says the browser's real limit is lower.
  expect(r.error.message).toMatch(/refused to store .* \(QuotaExceededError\) although its storage estimate shows/);
  expect(r.list[0]).toMatchObject({ shardsCached: 2, complete: false });
});

test('runtime cache: delete a model, persistent storage', async () => {
  const r = await run('cache: delete a model, persistent storage');
  expect(r.listBefore.map((m: Cached) => m.id)).toEqual(['https://models.test/toy', 'second-copy']);
  expect(r.deleted).toBe(true);
  expect(r.deletedAgain).toBe(false);
  expect(r.listAfter.map((m: Cached) => m.id)).toEqual(['second-copy']);
  expect(r.persistent).toBe('boolean');
  expect(r.reloadShardRequests).toBe(4);
});

test('runtime worker: same tokens as in-process, streaming, progress', async () => {
  const r = await run('worker: same tokens as in-process, streaming across the worker, progress');
  for (const row of r.rows) {
    expect(row.local.length).toBeGreaterThan(0);
    expect(row.localStream).toBe(row.local);
    expect(row.worker).toBe(row.local);
    expect(row.workerStream).toBe(row.local);
  }
  expect(new Set(r.rows.map((x: { local: string }) => x.local)).size).toBe(r.rows.length);
  expect(r.progressPhases).toEqual(expect.arrayContaining(['download', 'verify', 'upload', 'compile']));
  expect(r.model).toEqual({ id: 'https://models.test/toy', contextLength: 256 });
  expect(r.lastChunk.usage.total_tokens).toBe(r.lastChunk.usage.prompt_tokens + r.lastChunk.usage.completion_tokens);
  expect(r.lastChunk.timings.decode_tokens_per_second).toBeGreaterThan(0);
});

test('runtime worker: errors keep their type, abort, queue', async () => {
  const r = await run('worker: errors keep their type, abort mid-reply, queue');
  expect(r.overflow).toMatchObject({ code: 'context-overflow', isWebmoeError: true });
  expect(r.overflow.message).toMatch(/context holds 256/);
  expect(r.invalid).toMatchObject({ code: 'invalid-request', isWebmoeError: true });
  expect(r.invalid.message).toMatch(/temperature/);
  expect(r.aborted).toMatchObject({ code: 'aborted', isWebmoeError: true });
  expect(r.piecesAtAbort).toBeGreaterThanOrEqual(4);
  expect(r.piecesAtAbort).toBeLessThanOrEqual(6);
  expect(r.afterAbortMatches).toBe(true);
  expect(r.order).toMatch(/^a+b+$/);
  expect(r.queueMatches).toBe(true);
  expect(r.droppedError).toMatchObject({ code: 'aborted', isWebmoeError: true });
});

test('runtime worker: a crash rejects pending calls, the cache survives, reload works', async () => {
  const r = await run('worker: a crash rejects pending calls, the cache survives, a new worker loads from it');
  expect(r.piecesBeforeCrash).toBeGreaterThanOrEqual(3);
  for (const e of [r.midReply, r.afterCrash, r.statsAfterCrash]) {
    expect(e).toMatchObject({ code: 'worker-lost', isWebmoeError: true });
  }
  expect(r.midReply.message).toContain('crashed on purpose');
  expect(r.disposeAfterCrash).toBeNull();
  expect(r.cached).toHaveLength(1);
  expect(r.cached[0].complete).toBe(true);
  expect(r.reloadPhases).not.toContain('download');
  expect(r.sameReply).toBe(true);
  expect(r.badLoad).toMatchObject({ code: 'worker-lost', isWebmoeError: true });
});

// Figures, not a check: run with WEBMOE_STORAGE_FIGURES=1 to print them (docs/model-folder.md, Browser cache).
test('runtime storage figures: IndexedDB chunks and OPFS, 256 MiB', async () => {
  test.skip(!process.env.WEBMOE_STORAGE_FIGURES, 'set WEBMOE_STORAGE_FIGURES=1 to measure');
  const r = await run('storage figures: 256 MiB through IndexedDB chunks and OPFS');
  console.log(JSON.stringify(r));
  expect(r.indexedDb.readBytes).toBe(256 * 2 ** 20);
  expect(r.opfs.readBytes).toBe(256 * 2 ** 20);
});

// Issue 14's 2 GB download: minutes of IndexedDB writes, so not in CI; run with WEBMOE_FULL=1.
// A persistent profile, as a user's browser has: Playwright's default context is a private one, whose
// IndexedDB lives in memory and refuses writes past about 1.3 GiB here whatever the storage estimate says.
test('runtime cache: a 2 GiB model interrupted inside a shard resumes from that byte and loads again without hashing', async ({ baseURL }) => {
  test.skip(!process.env.WEBMOE_FULL, 'set WEBMOE_FULL=1 to run the 2 GiB download');
  test.setTimeout(30 * 60_000);
  const profile = mkdtempSync(join(tmpdir(), 'webmoe-2gib-'));
  const context = await chromium.launchPersistentContext(profile, { executablePath: chromiumPath(), args: [...CHROMIUM_ARGS] });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let r: any;
  try {
    const p = await context.newPage();
    p.on('pageerror', (e) => console.error(`[page] ${e.message}`));
    await p.goto(`${baseURL}/e2e/runtime/index.html`);
    await p.waitForFunction(() => 'webmoeRuntime' in window);
    r = await p.evaluate((n) => (window as unknown as { webmoeRuntime: RuntimeApi }).webmoeRuntime.run(n), 'cache: 2 GiB, interrupted inside a shard, resumed, loaded again');
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  console.log(`  2 GiB: ${JSON.stringify(r.figures)}`);
  expect(r.totalBytes).toBeGreaterThanOrEqual(2 * 2 ** 30);
  expect(r.error?.code).toBe('network');
  // Shards 0-2 and the whole chunks of shard 3 before the cut are stored.
  const stored = Math.floor(r.cutAt / r.chunkBytes) * r.chunkBytes;
  expect(r.listAfterFailure[0]).toMatchObject({ shardsCached: 3, complete: false });
  // The list counts whole shards; the cut shard's chunks show in the resumed request below.
  expect(r.listAfterFailure[0].bytesCached).toBe(r.shardBytes.slice(0, 3).reduce((a: number, b: number) => a + b, 0));
  // The resumed load asks shard 3 from the first byte it lacks, then the other shards whole.
  expect(r.secondShardRequests).toEqual(r.shardFiles.slice(3));
  expect(r.secondResponses[0]).toEqual({ file: r.shardFiles[3], range: `bytes=${stored}-`, status: 206, bytes: r.shardBytes[3] - stored });
  expect(r.secondHashed).toBe(r.shardBytes.slice(3).reduce((a: number, b: number) => a + b, 0) - stored);
  // The third load: no shard request, nothing hashed, the same weights.
  expect(r.thirdShardRequests).toEqual([]);
  expect(r.thirdHashed).toBe(0);
  expect(r.sameReply).toBe(true);
  // Shards are streamed to storage, not held. The heap figure is loose: the toy server's setup has just
  // hashed each 256 MiB shard whole (Web Crypto) in the same heap, and collection lags (measured: 348 MB
  // peak, 2026-11-30); it must stay far below the 2 GiB a loader holding the model would need.
  if (r.figures.heapPeakBytes !== null) expect(r.figures.heapPeakBytes).toBeLessThan(r.totalBytes / 4);
});
