// Reading a shard's response when part of it is already stored: the request asked for `bytes=N-`, and the
// server may answer 206 with that range, 200 with the whole file (it ignores Range: start again at 0), or
// 416 (its file is shorter than N). Anything that says the file's length changed is an integrity error:
// the stored chunks belong to the file manifest.json describes.
import { WebmoeError } from '../../errors';

export interface RangeStart {
  /** Where the body starts in the file: the asked offset (206) or 0 (200). */
  readonly start: number;
}

/** `bytes a-b/total` (total may be `*`); null for anything else. */
export function parseContentRange(header: string | null): { start: number; end: number; total: number | null } | null {
  const m = header ? /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim()) : null;
  if (!m) return null;
  return { start: Number(m[1]), end: Number(m[2]), total: m[3] === '*' ? null : Number(m[3]) };
}

/** Where `res`'s body starts, given that bytes from `asked` on were requested of a `bytes`-long file. */
export function rangeStart(url: string, res: Response, asked: number, bytes: number): RangeStart {
  if (asked === 0 || res.status === 200) return { start: 0 };
  if (res.status === 416) throw changedLength(url, bytes, `it refused bytes=${asked}- (HTTP 416), so it is shorter than ${asked} bytes`);
  if (res.status !== 206) throw new WebmoeError('network', `${url}: HTTP ${res.status} to a range request`, { detail: { url, status: res.status } });
  const header = res.headers.get('content-range');
  const range = parseContentRange(header);
  if (!range || range.start !== asked) {
    throw new WebmoeError('network', `${url}: asked for bytes ${asked}- and got ${header ? `Content-Range: ${header}` : 'no Content-Range'}`, { detail: { url } });
  }
  if (range.total !== null && range.total !== bytes) throw changedLength(url, bytes, `it is ${range.total} bytes now`);
  return { start: asked };
}

export function changedLength(url: string, bytes: number, what: string): WebmoeError {
  return new WebmoeError('integrity', `${url}: the file changed on the server (${what}; manifest.json says ${bytes}); reload the model's manifest`, {
    detail: { url, bytes },
  });
}

/** The body's pieces as they arrive (a body-less Response, as some fetch implementations give: one piece). */
export async function* bodyPieces(res: Response): AsyncGenerator<Uint8Array> {
  if (!res.body) {
    yield new Uint8Array(await res.arrayBuffer());
    return;
  }
  const reader = res.body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    // Left early (a body longer than the file, a failed write): stop the transfer.
    if (!finished) await reader.cancel().catch(() => {});
  }
}
