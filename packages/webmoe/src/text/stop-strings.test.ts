import { describe, expect, it } from 'vitest';
import { StopStringFilter } from './stop-strings';
import { createRng } from '../util/random';

/** Feeds the pieces through a filter; returns the emitted text and whether it stopped. */
function run(stops: string[], pieces: string[]): { text: string; stopped: boolean } {
  const f = new StopStringFilter(stops);
  let text = '';
  for (const p of pieces) {
    const r = f.push(p);
    text += r.text;
    if (r.stopped) return { text, stopped: true };
  }
  return { text: text + f.flush(), stopped: false };
}

/** Reference on the whole text: the stop string that is complete first (ties: starts first) cuts the text. */
function reference(stops: string[], full: string): { text: string; stopped: boolean } {
  for (let end = 1; end <= full.length; end++) {
    const hits = stops.filter((s) => full.slice(0, end).endsWith(s)).map((s) => end - s.length);
    if (hits.length) return { text: full.slice(0, Math.min(...hits)), stopped: true };
  }
  return { text: full, stopped: false };
}

describe('stop strings', () => {
  it('hands back the text after the stop string', () => {
    const f = new StopStringFilter(['</x>']);
    expect(f.push('ab</')).toEqual({ text: 'ab', stopped: false });
    expect(f.push('x>cd</x>e')).toEqual({ text: '', stopped: true, rest: 'cd</x>e' });
  });

  it('finds a stop string split across tokens and drops it', () => {
    expect(run(['</answer>'], ['The answer is 42', '</', 'ans', 'wer>', ' trailing'])).toEqual({ text: 'The answer is 42', stopped: true });
  });

  it('holds back a possible prefix and releases it when it turns out not to be one', () => {
    const f = new StopStringFilter(['STOP']);
    expect(f.push('abc ST').text).toBe('abc ');
    expect(f.push('x').text).toBe('STx');
    expect(f.push('ST').text).toBe('');
    expect(f.flush()).toBe('ST');
  });

  it('stops at the stop string that completes first', () => {
    expect(run(['world', 'lo w'], ['hel', 'lo', ' wor', 'ld'])).toEqual({ text: 'hel', stopped: true });
    expect(run(['lo world', 'wor'], ['hel', 'lo', ' world'])).toEqual({ text: 'hello ', stopped: true });
  });

  it('matches a random reference on random splits', () => {
    const rng = createRng(5);
    const alphabet = 'ab\n';
    for (let t = 0; t < 500; t++) {
      const full = Array.from({ length: 1 + rng.int(30) }, () => alphabet[rng.int(alphabet.length)]).join('');
      const stops = Array.from({ length: 1 + rng.int(3) }, () => Array.from({ length: 1 + rng.int(4) }, () => alphabet[rng.int(alphabet.length)]).join(''));
      const pieces: string[] = [];
      for (let i = 0; i < full.length; ) {
        const n = 1 + rng.int(4);
        pieces.push(full.slice(i, i + n));
        i += n;
      }
      expect(run(stops, pieces), `${JSON.stringify(stops)} in ${JSON.stringify(pieces)}`).toEqual(reference(stops, full));
    }
  });
});
