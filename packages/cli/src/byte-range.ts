// The Range header of a request to the page server's mounted folders (browser.ts): resumed downloads, and
// the paged experts of a streamed model (docs/paging.md).

/**
 * A single `bytes=a-b`, `bytes=a-` or `bytes=-n` range of a `size`-byte file (inclusive ends); null serves
 * the whole file (no header, or one this server does not handle, such as several ranges).
 */
export function byteRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return { start, end };
}
