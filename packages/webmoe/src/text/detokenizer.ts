// Token ids → text, one token at a time, never emitting a broken UTF-8 character: a character whose
// bytes are split across tokens (emoji, CJK in byte-level BPE) is held back until its last byte arrives.

export interface Detokenizer {
  /** Text completed by this token (possibly empty). */
  push(id: number): string;
  /** Whatever is still held back, at the end of generation (an unfinished character becomes U+FFFD). */
  flush(): string;
}

/**
 * Byte-level BPE (GPT-2 style, DeepSeek): every token stands for a byte string, so a streaming
 * TextDecoder does the holding back exactly. `bytesOf` returns null for tokens that print nothing
 * (special tokens).
 */
export class ByteLevelDetokenizer implements Detokenizer {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(private readonly bytesOf: (id: number) => Uint8Array | null) {}

  push(id: number): string {
    const bytes = this.bytesOf(id);
    return bytes && bytes.length ? this.decoder.decode(bytes, { stream: true }) : '';
  }

  flush(): string {
    return this.decoder.decode();
  }
}

/**
 * Any other tokenizer (SentencePiece/Metaspace, WordPiece...): decode a short window of recent tokens
 * and emit what the newest one added, unless the window ends in U+FFFD (an incomplete character).
 * Decoding only [prefix, end) keeps each step O(window) rather than O(reply); the window starts one
 * emitted step back so that decoders which treat the first token specially (leading-space removal)
 * see the same context twice and cancel out.
 */
export class WindowedDetokenizer implements Detokenizer {
  private readonly ids: number[] = [];
  private prefix = 0;
  private read = 0;

  constructor(private readonly decode: (ids: number[]) => string) {}

  push(id: number): string {
    this.ids.push(id);
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const after = this.decode(this.ids.slice(this.prefix));
    if (after.length <= before.length || after.endsWith('\uFFFD')) return '';
    this.prefix = this.read;
    this.read = this.ids.length;
    return after.slice(before.length);
  }

  flush(): string {
    const before = this.decode(this.ids.slice(this.prefix, this.read));
    const after = this.decode(this.ids.slice(this.prefix));
    this.prefix = this.read = this.ids.length;
    return after.slice(before.length);
  }
}
