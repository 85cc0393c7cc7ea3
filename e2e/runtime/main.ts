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
}

async function load(server: ToyServer, cache: ModelCache, extra: { modelId?: string; generator?: ReturnType<typeof toyGeneratorFactory> } = {}): Promise<Loaded> {
  const before = server.shardRequests().length;
  const progress: LoadProgress[] = [];
  const engine = await createEngine({
    model: TOY_MODEL_URL,
    contextLength: 256,
    fetch: server.fetch,
    cache,
    generator: extra.generator ?? toyGeneratorFactory(),
    onProgress: (p) => progress.push(p),
    ...(extra.modelId ? { modelId: extra.modelId } : {}),
  });
  return { engine, progress, shardRequests: server.shardRequests().slice(before) };
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
    return {
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

  async 'cache: corrupt cached shard is fetched again'() {
    const server = await createToyServer();
    const store = await freshStore('corrupt');
    const cache = new ModelCache({ store });
    const first = await load(server, cache);
    const text1 = await reply(first.engine);
    const victim = (await store.keys()).filter((k) => k.startsWith(`shard/${MODEL_ID}/`))[1];
    const bytes = new Uint8Array((await store.get<ArrayBuffer>(victim))!);
    bytes[100] ^= 0x55;
    await store.set(victim, bytes.buffer);
    const second = await load(server, cache);
    const text2 = await reply(second.engine);
    const third = await load(server, cache);
    return { secondShardRequests: second.shardRequests, thirdShardRequests: third.shardRequests, sameReply: text1 === text2, list: await cache.list() };
  },

  async 'cache: interrupted download resumes'() {
    const server = await createToyServer();
    const cache = new ModelCache({ store: await freshStore('resume') });
    server.interruptOnce(server.shardFiles[2]);
    const before = server.shardRequests().length;
    const error = await failure(() => load(server, cache));
    const firstShardRequests = server.shardRequests().slice(before);
    const listAfterFailure = await cache.list();
    const second = await load(server, cache);
    return { error, firstShardRequests, listAfterFailure, secondShardRequests: second.shardRequests, shardFiles: server.shardFiles, reply: await reply(second.engine) };
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
        if (key.startsWith('shard/') && ++shardWrites > 2) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
        return idb.set(key, value);
      },
    };
    const cache = new ModelCache({ store, storage: null });
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
