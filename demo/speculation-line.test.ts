import { describe, expect, it } from 'vitest';
import { speculationLine } from './speculation-line';

describe('speculationLine', () => {
  it('reports tokens per step and the acceptance of drafts from the counts', () => {
    // 35 steps gave 63 tokens: 28 of 35 drafts accepted, each adding one token to its step.
    const line = speculationLine({ speculative: 'mtp', steps: 35, tokens: 63, drafted: 35, accepted: 28 });
    expect(line).toBe('Speculation (MTP): 1.80 tokens per step, 28/35 drafts accepted (80 %)');
  });
  it('says when it is off', () => {
    const off = { speculative: 'off', steps: 10, tokens: 10, drafted: 0, accepted: 0 } as const;
    expect(speculationLine(off)).toBe('Speculation: off');
  });
  it('has a placeholder before any reply and before any decode step', () => {
    expect(speculationLine(undefined)).toBe('Speculation: —');
    expect(speculationLine({ speculative: 'mtp', steps: 0, tokens: 0, drafted: 0, accepted: 0 })).toBe('Speculation (MTP): no decode step yet');
  });
  it('does not divide by zero when no draft was verified', () => {
    expect(speculationLine({ speculative: 'mtp', steps: 4, tokens: 4, drafted: 0, accepted: 0 })).toBe('Speculation (MTP): 1.00 tokens per step, no draft verified');
  });
});
