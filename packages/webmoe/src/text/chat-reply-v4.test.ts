// The streaming split of a V4 reply: however the text is cut into pieces, the reasoning and content
// pieces concatenate to the fields written out by hand, no markup leaks into them, and the tool calls are
// held back whole.
import { describe, expect, it } from 'vitest';
import { ReplyStreamV4, type ReplyDeltaV4 } from './chat-reply-v4';
import { createRng } from '../util/random';

const CALLS = '\n\n<｜DSML｜tool_calls>\n<｜DSML｜invoke name="f">\n<｜DSML｜parameter name="a" string="true">1</｜DSML｜parameter>\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>';

interface Case {
  readonly thinking: boolean;
  readonly text: string;
  readonly reasoning: string;
  readonly content: string;
}

const cases: Case[] = [
  // Near-misses of the markers (`</`, `</thin`, a single line break, `\n\n<`) must come out as text.
  { thinking: true, text: 'a </b> </thin k\n\n<x>.</think>Answer: 1 < 2\n\n<b>\nok', reasoning: 'a </b> </thin k\n\n<x>.', content: 'Answer: 1 < 2\n\n<b>\nok' },
  { thinking: true, text: `plan</think>call it${CALLS}`, reasoning: 'plan', content: 'call it' },
  { thinking: true, text: 'still thinking </thi', reasoning: 'still thinking </thi', content: '' },
  { thinking: false, text: `x\n\n<｜DSML${CALLS}`, reasoning: '', content: 'x\n\n<｜DSML' },
  { thinking: false, text: 'ends in a half marker\n\n<｜DS', reasoning: '', content: 'ends in a half marker\n\n<｜DS' },
  { thinking: false, text: CALLS, reasoning: '', content: '' },
];

function split(text: string, cuts: number[]): string[] {
  const at = [0, ...[...new Set(cuts)].sort((a, b) => a - b), text.length];
  return at.slice(1).map((end, i) => text.slice(at[i], end));
}

function run(c: Case, pieces: string[]): ReplyDeltaV4[] {
  const s = new ReplyStreamV4({ thinking: c.thinking });
  return [...pieces.flatMap((p) => s.push(p)), ...s.flush()];
}

function joined(deltas: ReplyDeltaV4[], field: ReplyDeltaV4['field']): string {
  return deltas.filter((d) => d.field === field).map((d) => d.text).join('');
}

describe('ReplyStreamV4', () => {
  it('splits any cut of the text into the same fields', () => {
    const rng = createRng(7);
    for (const c of cases) {
      const chars = c.text.length; // no surrogate pairs in these texts, so any UTF-16 cut is a character cut
      const cuts: number[][] = [[], Array.from({ length: chars - 1 }, (_, i) => i + 1)];
      for (let k = 0; k < 40; k++) cuts.push(Array.from({ length: 1 + rng.int(6) }, () => 1 + rng.int(chars - 1)));
      for (const cut of cuts) {
        const deltas = run(c, split(c.text, cut));
        const where = `${JSON.stringify(c.text)} cut at ${cut}`;
        expect(joined(deltas, 'reasoning_content'), where).toBe(c.reasoning);
        expect(joined(deltas, 'content'), where).toBe(c.content);
        expect(deltas.every((d) => d.text.length > 0), where).toBe(true);
        const firstContent = deltas.findIndex((d) => d.field === 'content');
        if (firstContent >= 0) expect(deltas.slice(firstContent).every((d) => d.field === 'content'), where).toBe(true);
      }
    }
  });

  it('sends text on as soon as it cannot begin a marker', () => {
    const s = new ReplyStreamV4({ thinking: true });
    expect(s.push('abc</th')).toEqual([{ field: 'reasoning_content', text: 'abc' }]);
    expect(s.push('ink>de')).toEqual([{ field: 'content', text: 'de' }]);
    expect(s.push('f\n\n')).toEqual([{ field: 'content', text: 'f' }]);
    expect(s.push('<｜DSML｜tool_calls>\nanything')).toEqual([]);
    expect(s.flush()).toEqual([]);
  });
});
