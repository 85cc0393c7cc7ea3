import { describe, expect, it } from 'vitest';
import { createRng } from '../util/random';
import { sseData } from './remote-sse';

/** A body that delivers `text` in pieces cut at the given offsets (UTF-8, so a cut may split a character). */
function body(text: string, cuts: number[]): ReadableStream<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  const at = [0, ...cuts.filter((c) => c > 0 && c < bytes.length).sort((a, b) => a - b), bytes.length];
  return new ReadableStream({
    start(c) {
      for (let i = 1; i < at.length; i++) c.enqueue(bytes.slice(at[i - 1], at[i]));
      c.close();
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const out: string[] = [];
  for await (const d of sseData(stream)) out.push(d);
  return out;
}

describe('sseData', () => {
  const payloads = ['{"a":1}', '{"text":"héllo wörld 🙂"}', '{"b":[1,2,3]}'];

  it('returns each event\'s data whatever the network cuts, with LF, CRLF or CR line ends', async () => {
    const rng = createRng(7);
    for (const eol of ['\n', '\r\n', '\r']) {
      const text = `: keep-alive${eol}${eol}${payloads.map((p) => `event: message${eol}data: ${p}${eol}${eol}`).join('')}data: [DONE]${eol}${eol}data: {"after":"done"}${eol}${eol}`;
      for (let trial = 0; trial < 20; trial++) {
        const cuts = Array.from({ length: 1 + rng.int(12) }, () => rng.int(text.length + 8));
        expect(await collect(body(text, cuts))).toEqual(payloads);
      }
    }
  });

  it('joins multi-line data and keeps a last event that has no blank line after it', async () => {
    expect(await collect(body('data: line one\ndata:line two\n\ndata: {"tail":true}', [5, 17]))).toEqual(['line one\nline two', '{"tail":true}']);
    // A CRLF cut between its CR and LF is one line end, not two.
    expect(await collect(body('data: a\r\ndata: b\r\n\r\n', [8]))).toEqual(['a\nb']);
  });
});
