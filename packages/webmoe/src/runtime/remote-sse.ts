// Server-sent events as OpenAI-compatible servers stream them: `data: <json>` events separated by a blank
// line, ending with `data: [DONE]`. Comments (`: keep-alive`) and other fields are skipped.

/** The data of each event, until `[DONE]` or the end of the body. */
export async function* sseData(body: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffered += decoder.decode(value, { stream: true });
      let nl: number;
      // A CR at the end may be the first half of a CRLF cut by the network: wait for the next piece.
      while ((nl = buffered.search(/\r\n|\r|\n/)) >= 0 && !(nl === buffered.length - 1 && buffered[nl] === '\r')) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + (buffered.startsWith('\r\n', nl) ? 2 : 1));
        if (line === '') {
          if (data.length) {
            const event = data.join('\n');
            data = [];
            if (event === '[DONE]') return;
            yield event;
          }
        } else if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
      }
    }
    // The body may end without the blank line after its last event.
    const last = buffered.replace(/\r$/, '');
    if (last.startsWith('data:')) data.push(last.slice(last.startsWith('data: ') ? 6 : 5));
    if (data.length && data.join('\n') !== '[DONE]') yield data.join('\n');
  } finally {
    // Stops the download when the consumer leaves early; a no-op once the body is read.
    await reader.cancel().catch(() => undefined);
  }
}
