// A .gguf URL loaded without a conversion step (webmoe runtime/gguf-url.ts) gives, tensor for tensor, the
// bytes `webmoe convert model.gguf` writes: the expected value is the converted folder on disk, read by the
// converter's own folder reader. The file is served by a fetch function answering Range requests as an HTTP
// server does, which counts requests and can misbehave on purpose.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelCache, memoryCacheStore, openGgufUrl } from 'webmoe';
import { hfConfigToGguf, isWebmoeError, parseManifest, rangePieces, writeGguf } from 'webmoe/model';
import { convertGguf } from './gguf-convert';
import { exportGguf } from './gguf-export';
import { openWebmoeModel } from './model-folder';
import { removeTempDirs, tempDir } from './test-helpers';

const fixture = (p: string) => fileURLToPath(new URL(`../../../fixtures/${p}`, import.meta.url));
const URL_ = 'https://models.test/dir/model.gguf';
let work: string;
beforeAll(async () => {
  work = await tempDir('gguf-url');
});
afterAll(removeTempDirs);

interface Server {
  fetch: typeof fetch;
  ranges: string[];
}

/** Serves `file` at URL_: 206 for `bytes=a-b` (clipped to the end), 416 past it; `mode` breaks it on purpose. */
function serve(file: Uint8Array, mode: 'ok' | 'no-range' | 'short-body' = 'ok'): Server {
  const ranges: string[] = [];
  const fetchFn = (async (input: RequestInfo | URL, init?: RequestInit) => {
    expect(String(input)).toBe(URL_);
    const range = new Headers(init?.headers).get('range') ?? '';
    ranges.push(range);
    if (mode === 'no-range') return new Response(file.slice(), { status: 200 });
    const m = /^bytes=(\d+)-(\d+)$/.exec(range)!;
    const a = Number(m[1]);
    if (a >= file.byteLength) return new Response(null, { status: 416, headers: { 'content-range': `bytes */${file.byteLength}` } });
    const b = Math.min(Number(m[2]), file.byteLength - 1);
    const body = file.slice(a, mode === 'short-body' && a > 0 ? b : b + 1);
    return new Response(body, { status: 206, headers: { 'content-range': `bytes ${a}-${b}/${file.byteLength}` } });
  }) as typeof fetch;
  return { fetch: fetchFn, ranges };
}

const memoryCache = (chunkBytes: number) => new ModelCache({ store: memoryCacheStore(), storage: null, chunkBytes });

/** Every virtual shard's bytes, assembled from loadShards' pieces. */
async function loadAll(g: Awaited<ReturnType<typeof openGgufUrl>>): Promise<Uint8Array[]> {
  const shards = g.shards.map((s) => new Uint8Array(s.bytes));
  await g.source.loadShards(g.shards, (_s, data, i, offset) => void shards[i].set(data, offset));
  return shards;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (e) {
    return isWebmoeError(e) ? `${e.code}: ${e.message}` : String(e);
  }
}

describe('a .gguf URL: the model folder webmoe convert writes, byte for byte, by range requests', () => {
  const CASES = [{ type: 'Q8_0', splitKv: true }, { type: 'F16', splitKv: false }, { type: 'BF16', splitKv: false }, { type: 'F32', splitKv: false, shardBytes: 65536 }] as const;
  for (const c of CASES) {
    const shardBytes = 'shardBytes' in c ? c.shardBytes : undefined;
    it(`golden v3 ${c.type}${c.splitKv ? ', kv_b as attn_k_b + attn_v_b' : ''}${shardBytes ? `, virtual shards of ${shardBytes} bytes` : ''}: every tensor's bytes; a second load requests no weight`, async () => {
      const gguf = join(work, `v3-${c.type}.gguf`);
      await exportGguf(fixture('golden/v3'), gguf, { type: c.type, fallback: 'F32', splitKv: c.splitKv });
      const folder = join(work, `v3-${c.type}`);
      await convertGguf(gguf, folder);
      const server = serve(new Uint8Array(await readFile(gguf)));
      const cache = memoryCache(4096); // small chunks: many chunk boundaries inside tensors
      const g = await openGgufUrl(URL_, { modelId: 'm', cache, fetch: server.fetch, ...(shardBytes ? { shardBytes } : {}) });
      if (shardBytes) expect(g.shards.length, 'virtual shards').toBeGreaterThan(2);
      const manifest = parseManifest(g.folder.manifest, URL_);
      const shards = await loadAll(g);
      const disk = await openWebmoeModel(folder);
      try {
        expect(manifest.tensors.map((t) => [t.name, t.format, t.shape.join()])).toEqual(disk.manifest.tensors.map((t) => [t.name, t.format, t.shape.join()]));
        for (const t of manifest.tensors) {
          const got = new Uint8Array(t.bytes);
          let at = 0;
          for (const p of rangePieces(manifest.shards, t)) {
            got.set(shards[p.shard].subarray(p.offset, p.offset + p.bytes), at);
            at += p.bytes;
          }
          expect(Buffer.from(got).equals(Buffer.from(await disk.read(t.name))), t.name).toBe(true);
        }
      } finally {
        await disk.close();
      }
      const firstLoad = server.ranges.length;
      expect(firstLoad).toBeGreaterThan(1);
      const again = await openGgufUrl(URL_, { modelId: 'm', cache, fetch: server.fetch, ...(shardBytes ? { shardBytes } : {}) });
      const reloaded = await loadAll(again);
      expect(server.ranges.length - firstLoad, 'requests of the second load: the header only').toBe(1);
      expect(reloaded.map((s) => Buffer.from(s).toString('base64'))).toEqual(shards.map((s) => Buffer.from(s).toString('base64')));
    });
  }
});

describe('a .gguf URL: errors name the problem', () => {
  let file: Uint8Array;
  beforeAll(async () => {
    const gguf = join(work, 'v3-err.gguf');
    await exportGguf(fixture('golden/v3'), gguf, { type: 'F32' });
    file = new Uint8Array(await readFile(gguf));
  });
  const open = (s: Server) => openGgufUrl(URL_, { modelId: 'e', cache: memoryCache(4096), fetch: s.fetch });

  it('a server without range requests', async () => {
    expect(await codeOf(open(serve(file, 'no-range')))).toMatch(/^network: .*model\.gguf: the server answered bytes=0-\d+ with the whole file \(HTTP 200\).*range requests/);
  });
  it('a file shorter than its header says', async () => {
    expect(await codeOf(open(serve(file.slice(0, file.byteLength - 100))))).toMatch(/^model-format: .*tensor "[^"]+" ends at byte \d+, past the end of the file/);
  });
  it('a range response with fewer bytes than asked', async () => {
    const g = await open(serve(file, 'short-body')).catch(() => null);
    // The header request itself is short here; either way the error says what came back.
    const err = g ? await codeOf(loadAll(g)) : await codeOf(open(serve(file, 'short-body')));
    expect(err).toMatch(/^network: .*(sent \d+ bytes for bytes=|got Content-Range)/);
  });
  it('another architecture, and a missing tensor', async () => {
    const llama = writeGguf({ 'general.architecture': 'llama' }, []);
    expect(await codeOf(open(serve(llama)))).toMatch(/^model-format: .*general\.architecture is "llama"; webmoe reads GGUF files of the deepseek2 architecture/);
    const hf = JSON.parse(await readFile(fixture('golden/v3/config.json'), 'utf8')) as Record<string, unknown>;
    const empty = writeGguf(hfConfigToGguf(hf, 'v3'), [{ name: 'output.weight', dims: [4], type: 'F32', data: new Uint8Array(16) }]);
    expect(await codeOf(open(serve(empty)))).toMatch(/^model-format: .*tensor token_embd\.weight \(model\.embed_tokens\.weight\) is missing/);
  });
});
