// The page e2e/runtime.spec.ts drives: runtime scenarios that need a browser (IndexedDB, Web Crypto,
// Worker) over the toy backend and toy model server. Each returns plain data; the spec asserts on it.
import {
  ModelCache,
  WebmoeError,
  createEngine,
  createWorkerEngine,
  idbCacheStore,
  isWebmoeError,
  type CacheStore,
  type ChatCompletionChunk,
  type ChatCompletionCreateParamsNonStreaming,
  type Engine,
  type LoadProgress,
  type StorageLike,
  type VerifyCache,
} from 'webmoe';
import { TOY_MODEL_URL, createToyServer, type ToyServer } from './toy-server';
import { toyGeneratorFactory } from '../../packages/webmoe/test-support/toy-generator';

export interface RuntimeApi {
  scenarios(): string[];
  run(name: string): Promise<unknown>;
}

const log = document.getElementById('log')!;
const MODEL_ID = TOY_MODEL_URL.replace(/\/$/, '');

function deleteDb(name: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.deleteDatabase(name);
    r.onsuccess = () => resolve();
    r.onerror = () => reject(r.error);
    r.onblocked = () => resolve();
  });
}

async function freshStore(name: string): Promise<CacheStore> {
  await deleteDb(`webmoe-test-${name}`);
  return idbCacheStore(`webmoe-test-${name}`);
}

interface Loaded {
  engine: Engine;
  progress: LoadProgress[];
  shardRequests: string[];
  /** Bytes the cache's loader hashed during this load. */
  bytesHashed: number;
}

async function load(server: ToyServer, cache: ModelCache, extra: { modelId?: string; generator?: ReturnType<typeof toyGeneratorFactory>; verifyCache?: VerifyCache } = {}): Promise<Loaded> {
  const before = server.shardRequests().length;
  const hashedBefore = cache.bytesHashed;
  const progress: LoadProgress[] = [];
  const engine = await createEngine({
    model: TOY_MODEL_URL,
    contextLength: 256,
    fetch: server.fetch,
    cache,
    generator: extra.generator ?? toyGeneratorFactory(),
    onProgress: (p) => progress.push(p),
    ...(extra.modelId ? { modelId: extra.modelId } : {}),
    ...(extra.verifyCache ? { verifyCache: extra.verifyCache } : {}),
  });
  return { engine, progress, shardRequests: server.shardRequests().slice(before), bytesHashed: cache.bytesHashed - hashedBefore };
}

/** Runs `f`, returning its error as plain data (or null). */
async function failure(f: () => Promise<unknown>): Promise<{ code: string; message: string; isWebmoeError: boolean; detail?: unknown } | null> {
  try {
    await f();
    return null;
  } catch (e) {
    return { code: isWebmoeError(e) ? e.code : String((e as Error)?.name), message: String((e as Error)?.message), isWebmoeError: e instanceof WebmoeError, detail: (e as WebmoeError).detail };
  }
}

const ask: ChatCompletionCreateParamsNonStreaming = {
  messages: [
    { role: 'system', content: 'You are a cat.' },
    { role: 'user', content: 'Tell me a story.' },
  ],
  temperature: 0,
  max_tokens: 40,
};

async function reply(engine: Engine, params: Partial<ChatCompletionCreateParamsNonStreaming> = {}): Promise<string> {
  return (await engine.chat.completions.create({ ...ask, ...params, stream: false })).choices[0].message.content;
}

async function streamed(engine: Engine, params: Partial<ChatCompletionCreateParamsNonStreaming> = {}): Promise<{ text: string; chunks: number; last: ChatCompletionChunk | undefined }> {
  let text = '';
  let chunks = 0;
  let last: ChatCompletionChunk | undefined;
  for await (const c of await engine.chat.completions.create({ ...ask, ...params, stream: true })) {
    text += c.choices[0]?.delta.content ?? '';
    chunks++;
    last = c;
  }
  return { text, chunks, last };
}

function phases(progress: LoadProgress[]): string[] {
  return progress.map((p) => p.phase).filter((p, i, a) => i === 0 || a[i - 1] !== p);
}

let worker: Worker | null = null;
/** A fresh worker engine; `keepCache` loads from what the last worker stored instead of an empty database. */
async function workerEngine(progress: LoadProgress[] = [], keepCache = false): Promise<Engine> {
  worker?.terminate();
  if (!keepCache) await deleteDb('webmoe-test-worker');
  worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
  return createWorkerEngine(worker, { model: TOY_MODEL_URL, contextLength: 256, onProgress: (p) => progress.push(p) });
}

const scenarios: Record<string, () => Promise<unknown>> = {
  async 'cache: second load fetches no weights'() {
    const server = await createToyServer();
    const cache = new ModelCache({ store: await freshStore('second-load') });
    const first = await load(server, cache);
    const text1 = await reply(first.engine);
    await first.engine.dispose();
    const second = await load(server, cache);
    const text2 = await reply(second.engine);
    const last = first.progress[first.progress.length - 1];
    const lastUpload = first.progress.filter((p) => p.phase === 'upload').pop();
    const lastDownload = first.progress.filter((p) => p.phase === 'download').pop();
    return {
      firstHashed: first.bytesHashed,
      secondHashed: second.bytesHashed,
      lastDownload,
      firstShardRequests: first.shardRequests,
      secondShardRequests: second.shardRequests,
      allRequests: server.requests,
      shardFiles: server.shardFiles,
      firstPhases: phases(first.progress),
      secondPhases: phases(second.progress),
      lastUpload,
      last,
      totalBytes: server.totalBytes,
      sameReply: text1 === text2 && text1.length > 0,
      list: await cache.list(),
      bytesUsed: await cache.bytesUsed(),
    };
  },

  async 'cache: bit rot in a verified chunk: unseen by default, found by verifyCache always'() {
    const server = await createToyServer();
    const store = await freshStore('corrupt');
    const cache = new ModelCache({ store, chunkBytes: 64 * 1024 });
    const first = await load(server, cache);
    const text1 = await reply(first.engine);
    // A byte the toy backend reads (every 61st of a shard) inside the second chunk of the second shard.
    const victim = (await store.keys()).find((k) => k.startsWith(`chunk/${MODEL_ID}/`) && k.endsWith(`/1`) && k.includes(server.shardSha256[1]))!;
    const chunk = (await store.get<{ offset: number; data: ArrayBuffer }>(victim))!;
    const bytes = new Uint8Array(chunk.data);
    bytes[61 * 1200 - chunk.offset] ^= 0x55;
    await store.set(victim, { ...chunk, data: bytes.buffer });
    const plain = await load(server, cache);
    const textPlain = await reply(plain.engine);
    const always = await load(server, cache, { verifyCache: 'always' });
    const textAlways = await reply(always.engine);
    const after = await load(server, cache);
    return {
      plain: { shardRequests: plain.shardRequests, bytesHashed: plain.bytesHashed, sameReply: textPlain === text1 },
      always: { shardRequests: always.shardRequests, bytesHashed: always.bytesHashed, sameReply: textAlways === text1, phases: phases(always.progress) },
      after: { shardRequests: after.shardRequests, bytesHashed: after.bytesHashed, sameReply: (await reply(after.engine)) === text1 },
      shardFiles: server.shardFiles,
      totalBytes: server.totalBytes,
      list: await cache.list(),
    };
  },

  async 'cache: interrupted download resumes'() {
    const server = await createToyServer();
    const chunkBytes = 64 * 1024;
    const cache = new ModelCache({ store: await freshStore('resume'), chunkBytes });
    const reference = await reply((await load(server, new ModelCache({ store: await freshStore('resume-reference') }))).engine);
    // The connection drops inside the shard's third chunk: two chunks are stored.
    server.interruptOnce(server.shardFiles[2], 2 * chunkBytes + 5000);
    const before = server.shardRequests().length;
    const responsesBefore = server.responses.length;
    const error = await failure(() => load(server, cache));
    const firstShardRequests = server.shardRequests().slice(before);
    const listAfterFailure = await cache.list();
    const mid = server.responses.length;
    const second = await load(server, cache);
    const third = await load(server, cache);
    return {
      error,
      firstShardRequests,
      listAfterFailure,
      secondShardRequests: second.shardRequests,
      secondResponses: server.responses.slice(mid).filter((r) => server.shardFiles.includes(r.file)),
      cutResponse: server.responses.slice(responsesBefore, mid).find((r) => r.file === server.shardFiles[2]),
      secondHashed: second.bytesHashed,
      third: { shardRequests: third.shardRequests, bytesHashed: third.bytesHashed, sameReply: (await reply(third.engine)) === reference },
      shardFiles: server.shardFiles,
      shardBytes: server.shardBytes,
      chunkBytes,
      reply: await reply(second.engine),
      sameReply: (await reply(second.engine)) === reference,
    };
  },

  async 'cache: a server without Range restarts the shard; a changed file is an error'() {
    const chunkBytes = 64 * 1024;
    const server = await createToyServer();
    const reference = await reply((await load(server, new ModelCache({ store: await freshStore('range-reference') }))).engine);
    const cut = async (name: string) => {
      const cache = new ModelCache({ store: await freshStore(name), chunkBytes });
      server.interruptOnce(server.shardFiles[1], chunkBytes + 100);
      await failure(() => load(server, cache));
      return cache;
    };
    const noRange = await cut('range-none');
    server.ignoreRange(true);
    const at = server.responses.length;
    const restarted = await load(server, noRange);
    const restartedResponse = server.responses.slice(at).find((r) => r.file === server.shardFiles[1]);
    const restartedSame = (await reply(restarted.engine)) === reference;
    server.ignoreRange(false);
    const shorter = await cut('range-shorter');
    const longer = await cut('range-longer');
    server.resize(server.shardFiles[1], 1000);
    const shorterError = await failure(() => load(server, shorter));
    server.resize(server.shardFiles[1], server.shardBytes[1] + 4096);
    const longerError = await failure(() => load(server, longer));
    return { restartedResponse, restartedSame, shorterError, longerError, shardFiles: server.shardFiles, shardBytes: server.shardBytes };
  },

  async 'cache: a shard that does not match its hash is an integrity error'() {
    const server = await createToyServer();
    const cache = new ModelCache({ store: await freshStore('integrity') });
    server.corrupt(server.shardFiles[1]);
    const before = server.shardRequests().length;
    const error = await failure(() => load(server, cache));
    return { error, shardRequests: server.shardRequests().slice(before), list: await cache.list() };
  },

  async 'cache: quota error (estimate) says what is needed and deletes nothing'() {
    const server = await createToyServer();
    const store = await freshStore('quota-estimate');
    await load(server, new ModelCache({ store }), { modelId: 'other-model' });
    const storage: StorageLike = { estimate: async () => ({ quota: 10_000_000, usage: 9_900_000 }) };
    const cache = new ModelCache({ store, storage });
    const listBefore = await cache.list();
    const before = server.shardRequests().length;
    const error = await failure(() => load(server, cache));
    return { error, shardRequests: server.shardRequests().slice(before), listBefore, listAfter: await cache.list(), totalBytes: server.totalBytes };
  },

  async 'cache: quota error (QuotaExceededError from IndexedDB) keeps what is cached'() {
    const server = await createToyServer();
    const idb = await freshStore('quota-store');
    let shardWrites = 0;
    const store: CacheStore = {
      ...idb,
      async set(key, value) {
        if (key.startsWith('chunk/') && ++shardWrites > 2) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        return idb.set(key, value);
      },
    };
    // An estimate with room, as browsers report even where their real limit is lower (private windows).
    const cache = new ModelCache({ store, storage: { estimate: async () => ({ quota: 1e12, usage: 0 }) } });
    const error = await failure(() => load(server, cache));
    const manifest = JSON.parse(new TextDecoder().decode((await store.get<{ bytes: ArrayBuffer }>(`file/${MODEL_ID}/manifest.json`))!.bytes));
    return { error, list: await cache.list(), shardBytes: manifest.shards.map((s: { bytes: number }) => s.bytes) };
  },

  async 'cache: delete a model, persistent storage'() {
    const server = await createToyServer();
    const cache = new ModelCache({ store: await freshStore('delete') });
    await load(server, cache);
    await load(server, cache, { modelId: 'second-copy' });
    const listBefore = await cache.list();
    const deleted = await cache.delete(MODEL_ID);
    const deletedAgain = await cache.delete(MODEL_ID);
    const listAfter = await cache.list();
    const persistent = await cache.requestPersistentStorage();
    const reload = await load(server, cache);
    return { listBefore, deleted, deletedAgain, listAfter, bytesUsedAfter: listAfter.reduce((n, m) => n + m.bytesCached, 0), persistent: typeof persistent, reloadShardRequests: reload.shardRequests.length };
  },

  async 'worker: same tokens as in-process, streaming across the worker, progress'() {
    const server = await createToyServer();
    const local = (await load(server, new ModelCache({ store: await freshStore('local-vs-worker') }))).engine;
    const progress: LoadProgress[] = [];
    const remote = await workerEngine(progress);
    const variants: Partial<ChatCompletionCreateParamsNonStreaming>[] = [
      {},
      { temperature: 1, seed: 3 },
      { temperature: 0.8, top_p: 0.9, top_k: 5, seed: 9, max_tokens: 60 },
      { messages: [{ role: 'user', content: '日本語で話して' }], temperature: 1.2, seed: 1 },
    ];
    const rows = [];
    for (const v of variants) {
      rows.push({
        local: await reply(local, v),
        localStream: (await streamed(local, v)).text,
        worker: await reply(remote, v),
        workerStream: (await streamed(remote, v)).text,
      });
    }
    const last = (await streamed(remote)).last;
    await remote.dispose();
    return { rows, progressPhases: phases(progress), progressEvents: progress.length, model: remote.model, lastChunk: last };
  },

  async 'worker: errors keep their type, abort mid-reply, queue'() {
    const server = await createToyServer();
    const local = (await load(server, new ModelCache({ store: await freshStore('worker-errors') }))).engine;
    const remote = await workerEngine();
    const overflow = await failure(() => remote.chat.completions.create({ messages: [{ role: 'user', content: 'word '.repeat(300) }] }));
    const invalid = await failure(() => remote.chat.completions.create({ ...ask, temperature: 7 }));

    const controller = new AbortController();
    let pieces = 0;
    const aborted = await failure(async () => {
      for await (const c of await remote.chat.completions.create({ ...ask, max_tokens: 200, stream: true, signal: controller.signal })) {
        if (c.choices[0]?.delta.content && ++pieces === 4) controller.abort();
      }
    });
    const afterAbort = await reply(remote);

    const order: string[] = [];
    const run = async (name: string, params: Partial<ChatCompletionCreateParamsNonStreaming>) => {
      let text = '';
      for await (const c of await remote.chat.completions.create({ ...ask, ...params, stream: true })) {
        const t = c.choices[0]?.delta.content;
        if (t) {
          order.push(name);
          text += t;
        }
      }
      return text;
    };
    const other = { messages: [{ role: 'user' as const, content: 'Something else.' }] };
    const [a, b] = await Promise.all([run('a', {}), run('b', other)]);
    const queuedAbort = new AbortController();
    const running = reply(remote, { max_tokens: 30 });
    const dropped = failure(() => reply(remote, { signal: queuedAbort.signal }));
    queuedAbort.abort();
    const droppedError = await dropped;
    await running;
    await remote.dispose();
    return {
      overflow,
      invalid,
      aborted,
      piecesAtAbort: pieces,
      afterAbortMatches: afterAbort === (await reply(local)),
      order: order.join(''),
      queueMatches: a === (await reply(local)) && b === (await reply(local, other)),
      droppedError,
    };
  },
  async 'worker: a crash rejects pending calls, the cache survives, a new worker loads from it'() {
    const server = await createToyServer();
    const local = (await load(server, new ModelCache({ store: await freshStore('worker-crash') }))).engine;
    const first = await workerEngine();
    let pieces = 0;
    // The worker throws an uncaught error (worker.ts, test only) while the reply streams.
    const midReply = await failure(async () => {
      for await (const c of await first.chat.completions.create({ ...ask, max_tokens: 200, stream: true })) {
        if (c.choices[0]?.delta.content && ++pieces === 3) worker!.postMessage({ testCrash: true });
      }
    });
    const afterCrash = await failure(() => reply(first));
    const statsAfterCrash = await failure(() => first.stats());
    const disposeAfterCrash = await failure(() => first.dispose());
    const cached = await new ModelCache({ store: idbCacheStore('webmoe-test-worker') }).list();
    const progress: LoadProgress[] = [];
    const second = await workerEngine(progress, true);
    const sameReply = (await reply(second)) === (await reply(local));
    await second.dispose();
    // A script that does not exist (the dev server answers 404 or a page, never a module).
    const missingScript = '/e2e/runtime/no-such-worker.js';
    const badWorker = new Worker(missingScript, { type: 'module' });
    const badLoad = await failure(() => createWorkerEngine(badWorker, { model: TOY_MODEL_URL }));
    badWorker.terminate();
    return { midReply, piecesBeforeCrash: pieces, afterCrash, statsAfterCrash, disposeAfterCrash, cached, reloadPhases: phases(progress), sameReply, badLoad };
  },
};

/** Milliseconds `f` takes. */
async function timed(f: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

/** Shard bytes through IndexedDB chunk records (as the cache stores them) and through an OPFS file, both ways. */
async function storageFigures(totalBytes: number, chunkBytes: number) {
  const chunk = new Uint8Array(chunkBytes);
  for (let i = 0; i < chunk.length; i += 4096) chunk[i] = i & 255;
  const n = totalBytes / chunkBytes;
  const idb = await freshStore('storage-figures');
  const idbWrite = await timed(async () => {
    for (let k = 0; k < n; k++) await idb.set(`chunk/figures/${k}`, { offset: k * chunkBytes, data: chunk.slice().buffer });
  });
  let idbRead = 0;
  const idbReadMs = await timed(async () => {
    for (let k = 0; k < n; k++) idbRead += (await idb.get<{ data: ArrayBuffer }>(`chunk/figures/${k}`))!.data.byteLength;
  });
  await deleteDb('webmoe-test-storage-figures');
  const root = await navigator.storage.getDirectory();
  const handle = await root.getFileHandle('figures.bin', { create: true });
  const opfsWrite = await timed(async () => {
    const w = await handle.createWritable();
    for (let k = 0; k < n; k++) await w.write(chunk);
    await w.close();
  });
  let opfsRead = 0;
  const opfsReadMs = await timed(async () => {
    const file = await handle.getFile();
    for (let k = 0; k < n; k++) opfsRead += (await file.slice(k * chunkBytes, (k + 1) * chunkBytes).arrayBuffer()).byteLength;
  });
  await root.removeEntry('figures.bin');
  const mibs = (ms: number) => Math.round((totalBytes / 2 ** 20 / ms) * 1000);
  return {
    mib: totalBytes / 2 ** 20,
    chunkMib: chunkBytes / 2 ** 20,
    indexedDb: { writeMs: Math.round(idbWrite), readMs: Math.round(idbReadMs), writeMiBs: mibs(idbWrite), readMiBs: mibs(idbReadMs), readBytes: idbRead },
    opfs: { writeMs: Math.round(opfsWrite), readMs: Math.round(opfsReadMs), writeMiBs: mibs(opfsWrite), readMiBs: mibs(opfsReadMs), readBytes: opfsRead },
  };
}

scenarios['storage figures: 256 MiB through IndexedDB chunks and OPFS'] = async () => storageFigures(256 * 2 ** 20, 8 * 2 ** 20);

/**
 * A 2 GiB folder (8 shards of 256 MiB, made on demand by the toy server) through the same cache and loader a
 * page uses: the download breaks inside shard 3, the next load resumes from the last stored chunk with a
 * Range request, and a third load makes no shard request and hashes nothing. Timings and the page's JS heap
 * (Chromium's performance.memory) are figures for the notes.
 */
scenarios['cache: 2 GiB, interrupted inside a shard, resumed, loaded again'] = async () => {
  const shardBytes = 256 * 2 ** 20;
  const t0 = performance.now();
  const server = await createToyServer({ shards: 8, shardBytes, synthetic: true });
  const setupMs = performance.now() - t0;
  const heap = () => (performance as unknown as { memory?: { usedJSHeapSize: number } }).memory?.usedJSHeapSize ?? null;
  let heapPeak = 0;
  const sampler = setInterval(() => (heapPeak = Math.max(heapPeak, heap() ?? 0)), 250);
  try {
    const cache = new ModelCache({ store: await freshStore('two-gib') });
    const cutAt = 100 * 2 ** 20 + 12345;
    server.interruptOnce(server.shardFiles[3], cutAt);
    let t = performance.now();
    const error = await failure(() => load(server, cache));
    const firstMs = performance.now() - t;
    const listAfterFailure = await cache.list();
    const mid = server.responses.length;
    t = performance.now();
    const second = await load(server, cache);
    const secondMs = performance.now() - t;
    const secondResponses = server.responses.slice(mid).filter((r) => server.shardFiles.includes(r.file));
    const secondReply = await reply(second.engine);
    await second.engine.dispose();
    t = performance.now();
    const third = await load(server, cache);
    const thirdMs = performance.now() - t;
    const sameReply = (await reply(third.engine)) === secondReply;
    await third.engine.dispose();
    return {
      error, listAfterFailure, secondResponses, secondHashed: second.bytesHashed, secondShardRequests: second.shardRequests,
      thirdShardRequests: third.shardRequests, thirdHashed: third.bytesHashed, sameReply,
      shardFiles: server.shardFiles, shardBytes: server.shardBytes, totalBytes: server.totalBytes, chunkBytes: cache.chunkBytes, cutAt,
      figures: { setupMs, firstMs, secondMs, thirdMs, heapPeakBytes: heapPeak || null },
    };
  } finally {
    clearInterval(sampler);
  }
};

const api: RuntimeApi = {
  scenarios: () => Object.keys(scenarios),
  async run(name) {
    const f = scenarios[name];
    if (!f) throw new Error(`no scenario ${name}`);
    const t0 = performance.now();
    const r = await f();
    log.textContent += `${name}: ${(performance.now() - t0).toFixed(0)} ms\n`;
    return r;
  },
};

(window as unknown as { webmoeRuntime: RuntimeApi }).webmoeRuntime = api;
