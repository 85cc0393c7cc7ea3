// Loading a .gguf URL without a conversion step (docs/gguf.md#loading-a-gguf-url): the header by HTTP range
// requests, the in-memory model folder it implies (model/gguf-manifest.ts), the tokenizer from its metadata,
// and a ModelSource whose virtual shards are filled by range requests of the file and cached in the same
// chunk store as a model folder's shards, so that a second load requests no weight.
import { WebmoeError } from '../errors';
import { GGUF_LAYOUT_VERSION, ggufManifest, type GgufManifest, type GgufSegment } from '../model/gguf-manifest';
import { GGML_FORMAT, decodeGgufTensor, decodeRows, padTo16, placeRowRange, rebuildKvB, specRowsCols, type GgufPlace } from '../model/gguf-plan';
import { GgufTruncated, checkGgufRanges, parseGgufHeader, type GgufHeader } from '../model/gguf';
import { ggufTokenizer, type TokenizerFiles } from '../model/gguf-tokenizer';
import { ModelSource, type ModelSourceOptions } from './cache/loader';
import { parseContentRange } from './cache/range';
import { sha256Hex, type ShardEntry } from './cache/shards';

/** Whether a model URL names a GGUF file rather than a model folder. */
export function isGgufUrl(model: string): boolean {
  try {
    return new URL(model, typeof location === 'undefined' ? 'http://localhost/' : location.href).pathname.toLowerCase().endsWith('.gguf');
  } catch {
    return false;
  }
}

/** The first request's size: enough for the header of a small model; a larger header is read in a second request. */
const FIRST_HEADER_BYTES = 1 << 20;
/** Ranges of one chunk closer than this are fetched as one request (the gap is read and dropped). */
const MERGE_GAP = 256 * 1024;

export interface GgufUrlModel {
  readonly url: string;
  readonly header: GgufHeader;
  readonly fileBytes: number;
  readonly folder: GgufManifest;
  readonly tokenizer: TokenizerFiles | null;
  /** Streams the virtual shards through the cache (ModelSource.loadShards). */
  readonly source: ModelSource;
  readonly shards: readonly ShardEntry[];
}

type RangeFetch = (at: number, bytes: number) => Promise<Uint8Array>;

/** One byte range of the file; anything but a 206 with exactly that range is an error naming the URL. */
function rangeReader(url: string, fetchFn: typeof fetch, signal?: AbortSignal): RangeFetch & { total: () => number | null; validator: () => string } {
  let total: number | null = null;
  let validator = '';
  const read = async (at: number, bytes: number): Promise<Uint8Array> => {
    const end = at + bytes - 1;
    let res: Response;
    try {
      res = await fetchFn(url, { headers: { range: `bytes=${at}-${end}` }, ...(signal ? { signal } : {}) });
    } catch (e) {
      if (signal?.aborted) throw new WebmoeError('aborted', 'loading was aborted', { cause: e });
      throw new WebmoeError('network', `could not download ${url}: ${e instanceof Error ? e.message : String(e)}`, { cause: e, detail: { url } });
    }
    const fail = (why: string, code: 'network' | 'integrity' = 'network') => {
      void res.body?.cancel().catch(() => {});
      return new WebmoeError(code, `${url}: ${why}`, { detail: { url, status: res.status } });
    };
    if (res.status === 200) throw fail(`the server answered bytes=${at}-${end} with the whole file (HTTP 200); loading a .gguf URL needs a server that answers range requests (HTTP 206)`);
    if (res.status === 416) throw fail(`the server refused bytes=${at}-${end} (HTTP 416): the file is shorter than its GGUF header says`, 'integrity');
    if (res.status !== 206) throw fail(`HTTP ${res.status} ${res.statusText}`.trim() + ` to bytes=${at}-${end}`);
    const range = parseContentRange(res.headers.get('content-range'));
    // A range past the end is clipped to the file (the header's first read may ask beyond a small file).
    const size = range?.total ?? total;
    if (!range || range.start !== at || range.end !== (size === null ? end : Math.min(end, size - 1))) {
      throw fail(`asked for bytes=${at}-${end} and got ${range ? `Content-Range: ${res.headers.get('content-range')}` : 'no Content-Range'}`);
    }
    if (range.total !== null) {
      if (total !== null && range.total !== total) throw fail(`the file changed on the server (${range.total} bytes now, ${total} when the load began)`, 'integrity');
      total = range.total;
    }
    validator ||= res.headers.get('etag') ?? res.headers.get('last-modified') ?? '';
    let body: Uint8Array;
    try {
      body = new Uint8Array(await res.arrayBuffer());
    } catch (e) {
      if (signal?.aborted) throw new WebmoeError('aborted', 'loading was aborted', { cause: e });
      throw new WebmoeError('network', `${url}: bytes=${at}-${end} broke off (${e instanceof Error ? e.message : String(e)})`, { cause: e, detail: { url } });
    }
    if (body.byteLength !== range.end - range.start + 1) throw fail(`sent ${body.byteLength} bytes for bytes=${range.start}-${range.end}`);
    return body;
  };
  return Object.assign(read, { total: () => total, validator: () => validator });
}

/** Reads the header, growing the range until it fits; checks that the file holds every tensor it lists. */
async function readHeader(url: string, read: ReturnType<typeof rangeReader>): Promise<{ header: GgufHeader; headerBytes: Uint8Array; fileBytes: number }> {
  let want = FIRST_HEADER_BYTES;
  for (;;) {
    const bytes = await read(0, want);
    const fileBytes = read.total();
    if (fileBytes === null) throw new WebmoeError('network', `${url}: the range response has no file length (Content-Range: bytes a-b/*)`, { detail: { url } });
    try {
      const header = parseGgufHeader(bytes, url);
      checkGgufRanges(header, fileBytes, url);
      return { header, headerBytes: bytes.subarray(0, header.dataOffset), fileBytes };
    } catch (e) {
      if (!(e instanceof GgufTruncated) || bytes.byteLength >= fileBytes) {
        if (e instanceof GgufTruncated) throw new WebmoeError('model-format', `${url}: the file (${fileBytes} bytes) ends inside its GGUF header`, { cause: e, detail: { url } });
        throw e;
      }
      want = Math.min(fileBytes, e.needBytes);
    }
  }
}

/** Values the converter computes rather than copies (f32 from other types, kv_b from its halves), as f32 bytes. */
async function computedBytes(m: GgufManifest, header: GgufHeader, name: string, place: GgufPlace, read: RangeFetch): Promise<Uint8Array> {
  let values: Float32Array;
  if (place.kind === 'kv-split') {
    const whole = (t: typeof place.kb) => read(header.dataOffset + t.offset, t.bytes).then((b) => decodeGgufTensor(t, b));
    values = rebuildKvB(m.plan.config, await whole(place.kb), await whole(place.vb));
  } else {
    const spec = m.plan.expected.find((s) => s.name === name)!;
    const [rows, cols] = specRowsCols(spec);
    const { at, bytes } = placeRowRange(header, place, cols, 0, rows);
    values = decodeRows(GGML_FORMAT[place.info.type], await read(at, bytes), rows, cols);
  }
  return padTo16(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
}

/**
 * Fills bytes [offset, offset + bytes) of a virtual shard from its segments: the file ranges merged into
 * as few requests as their gaps allow, computed tensors from their values (the last one kept).
 */
function shardFiller(m: GgufManifest, header: GgufHeader, read: RangeFetch) {
  let computed: { name: string; bytes: Uint8Array } | null = null;
  return async (_shard: ShardEntry, index: number, offset: number, bytes: number): Promise<Uint8Array> => {
    const out = new Uint8Array(bytes);
    const end = offset + bytes;
    const pieces: { dst: number; src: number; n: number }[] = [];
    for (const seg of m.segments[index] as GgufSegment[]) {
      const a = Math.max(offset, seg.offset);
      const b = Math.min(end, seg.offset + seg.bytes);
      if (a >= b) continue;
      const src = m.sources.get(seg.tensor)!;
      const from = seg.from + (a - seg.offset);
      if (src.kind === 'file') {
        pieces.push({ dst: a - offset, src: src.at + from, n: b - a });
        continue;
      }
      if (computed?.name !== seg.tensor) computed = { name: seg.tensor, bytes: await computedBytes(m, header, seg.tensor, src.place, read) };
      out.set(computed.bytes.subarray(from, from + (b - a)), a - offset);
    }
    pieces.sort((x, y) => x.src - y.src);
    for (let i = 0; i < pieces.length; ) {
      let j = i + 1;
      let last = pieces[i].src + pieces[i].n;
      while (j < pieces.length && pieces[j].src - last <= MERGE_GAP) last = Math.max(last, pieces[j].src + pieces[j++].n);
      const start = pieces[i].src;
      const body = await read(start, last - start);
      for (; i < j; i++) out.set(body.subarray(pieces[i].src - start, pieces[i].src - start + pieces[i].n), pieces[i].dst);
    }
    return out;
  };
}

/**
 * Opens a .gguf URL: its header, the model folder it implies and a source for its weights. Errors name the
 * problem: an architecture other than deepseek2, a missing tensor, a server without range requests, a file
 * shorter than its header says.
 */
export async function openGgufUrl(url: string, o: Omit<ModelSourceOptions, 'baseUrl' | 'fill'> & { readonly shardBytes?: number }): Promise<GgufUrlModel> {
  const fetchFn = o.fetch ?? ((input, init) => fetch(input, init));
  const read = rangeReader(url, fetchFn, o.signal);
  const { header, headerBytes, fileBytes } = await readHeader(url, read);
  const name = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? 'model.gguf');
  const folder = ggufManifest(header, name, o.shardBytes);
  // A virtual shard's cache name: the header, the file's length and validator, the layout and the index.
  for (const [i, shard] of folder.manifest.shards.entries()) {
    const tail = new TextEncoder().encode(`|${fileBytes}|${read.validator()}|layout ${GGUF_LAYOUT_VERSION}|shard ${i}`);
    const buf = new Uint8Array(headerBytes.byteLength + tail.byteLength);
    buf.set(headerBytes);
    buf.set(tail, headerBytes.byteLength);
    shard.sha256 = await sha256Hex(buf);
  }
  const tokenizer = ggufTokenizer(header, url);
  const fill = shardFiller(folder, header, read);
  const { shardBytes: _, ...sourceOptions } = o;
  const source = new ModelSource({ ...sourceOptions, baseUrl: url, fill });
  return { url, header, fileBytes, folder, tokenizer, source, shards: folder.manifest.shards };
}
