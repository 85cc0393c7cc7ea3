import { describe, expect, it } from 'vitest';
import { formatSpeculation, heldOutWindows, type SpeculationRow } from './bench-speculation';

describe('heldOutWindows', () => {
  const ids = Array.from({ length: 100 }, (_, i) => 10 + i);
  it('cuts the first windows of BOS and tokens − 1 consecutive text tokens', () => {
    expect(heldOutWindows(ids, 0, 3, 11)).toEqual([[0, ...ids.slice(0, 10)], [0, ...ids.slice(10, 20)], [0, ...ids.slice(20, 30)]]);
  });
  it('gives fewer windows when the text is short, and refuses a text shorter than one', () => {
    expect(heldOutWindows(ids, 0, 50, 34)).toHaveLength(3);
    expect(() => heldOutWindows(ids.slice(0, 5), 0, 1, 11)).toThrow(/shorter than one window/);
  });
});

describe('formatSpeculation', () => {
  const figures = (tps: number, perStep: number, acc: number | null) => ({ tokens_per_s: tps, ms_per_token: 1000 / tps, tokens_per_step: perStep, acceptance_rate: acc, steps: 10, tokens: 10 * perStep });
  it('prints the speed-up as the ratio of the two measured speeds', () => {
    const row: SpeculationRow = {
      model: 'demo', quant: 'q8', off: figures(20, 1, null), mtp: figures(30, 1.8, 0.8), same_greedy_tokens: true,
      held_out: { acceptance: 0.6, positions: 500, windows: 4 }, held_out_decoding: { acceptance: 0.65, drafted: 200, prompts: 4, tokens_per_step: 1.65 },
    };
    const text = formatSpeculation([row]).join('\n');
    expect(text).toMatch(/demo\s+q8\s+20\.0\s+30\.0\s+1\.50×\s+1\.80\s+80\.0%\s+65\.0% of 200\s+60\.0% of 500\s+yes/);
    expect(formatSpeculation([{ ...row, same_greedy_tokens: false }]).join('\n')).toMatch(/NO$/);
  });
});
