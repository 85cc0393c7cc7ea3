// Greedy replies with and without speculation (e2e/speculative/main.ts's page), and what their step counts
// must satisfy (docs/speculative.md) whatever was accepted: every step verified k drafts (the prefill drafts
// the first step's, each step the next one's), each step gave its accepted drafts and one token more, and
// a draft is accepted only after every earlier one was.
import { expect } from '@playwright/test';
import type { DecodingStats } from 'webmoe';
import type { Reply, SpeculativeHarness } from '../speculative/main';
import type { HarnessCall, HarnessPages } from './harness-page';

export type Depth = 1 | 2 | 3;

/**
 * The speculative harness on the decoding harness page, shared by every test of the worker (lib/harness-page.ts)
 * and with the decode-ahead and MTP harnesses (one GPU device, lib/page-gpu.ts).
 */
export function openSpeculative(pages: HarnessPages): Promise<HarnessCall<SpeculativeHarness>> {
  return pages<SpeculativeHarness>('/e2e/decoding/index.html', 'speculativeHarness');
}

export function expectStepCounts(d: DecodingStats, depth: number): void {
  expect(d.speculative).toBe('mtp');
  expect(d.depth).toBe(depth);
  expect(d.verified).toBe(d.steps);
  expect(d.drafted).toBe(depth * d.steps);
  expect(d.tokens).toBe(d.steps + d.accepted);
  const at = d.acceptedAt ?? [];
  expect(at.length).toBe(depth);
  expect(at.reduce((a, b) => a + b, 0)).toBe(d.accepted);
  for (let j = 1; j < depth; j++) expect(at[j]).toBeLessThanOrEqual(at[j - 1]);
}

/** Steps, tokens per step, and per draft the steps that accepted it over those that reached it. */
export function stepLine(d: DecodingStats): string {
  const at = d.acceptedAt ?? [];
  const share = at.map((a, j) => `${a}/${j === 0 ? d.verified ?? 0 : at[j - 1]}`);
  return `${d.steps} steps, ${(d.tokens / d.steps).toFixed(3)} tokens/step, drafts accepted by position ${share.join(' ')}`;
}

/**
 * A plain greedy reply of `n` tokens to `prompt`, and the same with speculation at each depth, which must
 * equal it token for token; returns the plain reply and the speculative ones.
 */
export async function greedyReplies(pages: HarnessPages, url: string, prompt: number[], n: number, depths: Depth[], what: string): Promise<{ plain: Reply; spec: Reply[] }> {
  const h = await openSpeculative(pages);
  // Room for the last step's drafts and chained rows at depth 3.
  const context = prompt.length + n + 8;
  const run = async (mode: 'mtp' | 'off', depth: Depth): Promise<Reply> => {
    expect(await h((m, a) => m.load(a.url, a.context, a.mode, a.depth), { url, context, mode, depth })).toBe(mode);
    return h((m, a) => m.reply(a.prompt, a.n, 0, 1), { prompt, n });
  };
  const plain = await run('off', 1);
  const spec: Reply[] = [];
  for (const depth of depths) {
    const r = await run('mtp', depth);
    console.log(`  ${what} depth ${depth}: off ${plain.msPerToken.toFixed(1)} ms/token; mtp ${r.msPerToken.toFixed(1)} ms/token, ${stepLine(r.decoding)}`);
    expect(r.tokens, `${what} depth ${depth}`).toEqual(plain.tokens);
    expectStepCounts(r.decoding, depth);
    spec.push(r);
  }
  return { plain, spec };
}
