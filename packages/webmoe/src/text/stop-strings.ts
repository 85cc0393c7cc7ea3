// User stop strings (OpenAI `stop`): the reply ends just before the first occurrence of any of them and
// the stop string itself is not returned. A stop string can arrive split across tokens, so any tail of
// the text that could still grow into one is held back until the next token decides.

export interface StopResult {
  /** Text that is now safe to emit. */
  readonly text: string;
  /** A stop string was found: `text` ends right before it and generation must end. */
  readonly stopped: boolean;
  /** When stopped: what came after the stop string (a caller that splits text at markers goes on with it). */
  readonly rest?: string;
}

export class StopStringFilter {
  private readonly stops: readonly string[];
  private pending = '';

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  push(text: string): StopResult {
    this.pending += text;
    if (!this.stops.length) return this.release(this.pending.length, false);
    // Emitted text never holds the start of a stop string (it was held back), so searching pending suffices.
    // The stop string that completes first wins (ties: the one starting first), which makes the result
    // independent of how the text was split into tokens.
    let first = -1;
    let firstEnd = Infinity;
    for (const s of this.stops) {
      const at = this.pending.indexOf(s);
      if (at < 0) continue;
      const end = at + s.length;
      if (end < firstEnd || (end === firstEnd && at < first)) {
        first = at;
        firstEnd = end;
      }
    }
    if (first >= 0) {
      const out = this.pending.slice(0, first);
      const rest = this.pending.slice(firstEnd);
      this.pending = '';
      return { text: out, stopped: true, rest };
    }
    return this.release(this.pending.length - this.heldTail(), false);
  }

  /** End of generation: nothing can complete a stop string any more. */
  flush(): string {
    const out = this.pending;
    this.pending = '';
    return out;
  }

  /** Length of the longest tail of pending that is a proper prefix of some stop string. */
  private heldTail(): number {
    let held = 0;
    for (const s of this.stops) {
      for (let n = Math.min(s.length - 1, this.pending.length); n > held; n--) {
        if (this.pending.endsWith(s.slice(0, n))) {
          held = n;
          break;
        }
      }
    }
    return held;
  }

  private release(n: number, stopped: boolean): StopResult {
    const out = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    return { text: out, stopped };
  }
}
