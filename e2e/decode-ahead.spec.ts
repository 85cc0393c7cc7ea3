// Decoding ahead (docs/decode-loop.md): with 4 plain decode steps in flight, each fed the last one's draw on
// the GPU, replies equal one-step-at-a-time decoding's token for token: greedy on the demo model (q8), the
// V3 golden (f32) and the long-context V4 golden (f32, then a sampled reply after rewinding its caches), sampled at temperature 0.8 with a seed (with and without penalties), the context
// filled to its last position; and through the Engine, replies cut by max_tokens and by a stop string in
// the middle of the steps in flight end there, and the next request, reusing their prefix, gives what a
// fresh engine gives. Logs what the CPU waited per token both ways.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from '@playwright/test';
import { convertCheckpoint } from '@webmoe/converter';
import type { ChatMessage, SamplingPenalties } from 'webmoe';
import { test, type HarnessPages } from './lib/harness-page';
import { GENERATED } from './lib/models';
import type { DecodeAheadHarness, Reply } from './decode-ahead/main';

const root = fileURLToPath(new URL('..', import.meta.url));
const DEMO = '/models/webmoe-tiny/';
const REPLY = 64;
const AHEAD = 4;
const demoPrompt = (JSON.parse(readFileSync(`${root}/fixtures/trained/greedy.json`, 'utf8')) as { prompt: number[] }).prompt;

/**
 * The decode-ahead harness on the worker's decoding harness page (lib/harness-page.ts; its one GPU device is the
 * MTP and speculative harnesses' too, lib/page-gpu.ts): both tests load the demo model there, so its pipelines
 * are compiled once instead of once per test.
 */
function open(pages: HarnessPages) {
  return pages<DecodeAheadHarness>('/e2e/decoding/index.html', 'decodeAheadHarness');
}

type Harness = Awaited<ReturnType<typeof open>>;

/**
 * Replies for each sampling setting at decodeAhead 1 and at AHEAD ([1's, AHEAD's] per setting), the context
 * sized so that the last step fills it: one model, loaded at 1 and switched to AHEAD by setDecodeAhead after
 * its replies (loading with the option itself is the engine test's path).
 */
async function both(h: Harness, url: string, prompt: number[], settings: { temperature: number; seed: number; penalties?: SamplingPenalties }[]): Promise<Reply[][]> {
  const context = prompt.length + REPLY - 1;
  const out: Reply[][] = settings.map(() => []);
  expect(await h((x, a) => x.load(a.url, a.context, 1), { url, context })).toBe(1);
  for (const n of [1, AHEAD]) {
    expect(await h((x, a) => x.setDecodeAhead(a.n), { n })).toBe(n);
    for (const [i, s] of settings.entries()) out[i].push(await h((x, a) => x.reply(a.prompt, a.n, a.s.temperature, a.s.seed, a.s.penalties), { prompt, n: REPLY, s }));
  }
  return out;
}

function line(what: string, r: Reply, busy: number): string {
  return `${what}: ${r.msPerToken.toFixed(2)} ms/token (${(1000 / r.msPerToken).toFixed(1)} tokens/s), awaiting decode ${r.waitMsPerToken.toFixed(2)} ms/token, `
    + `wall − GPU busy ${(r.msPerToken - busy).toFixed(2)} ms/token, ${r.calls} decode calls`;
}

test(`greedy (demo model q8, V3 golden f32, V4 long golden f32) and sampled at temperature 0.8 with a seed, with and without penalties (demo q8): ${REPLY} tokens at decodeAhead ${AHEAD} equal one step at a time's`, async ({ harnessPages }) => {
  test.setTimeout(300_000);
  const golden = `${root}/fixtures/golden/v3`;
  await convertCheckpoint(golden, join(GENERATED, 'decode-ahead-v3-f32'), { quant: 'f32', force: true });
  const v3Prompt = (JSON.parse(readFileSync(`${golden}/golden.json`, 'utf8')) as { prompt: number[] }).prompt;
  const h = await open(harnessPages);
  const penalties: SamplingPenalties = { logitBias: [[5, 2]], repetition: 1.1, presence: 0.3, frequency: 0.5 };
  const greedy = { temperature: 0, seed: 0 }, sampled = { temperature: 0.8, seed: 1234 };
  const [[one, ahead], plain, penalized] = await both(h, DEMO, demoPrompt, [greedy, sampled, { ...sampled, penalties }]);
  const [[v3One, v3Ahead]] = await both(h, '/e2e/generated/decode-ahead-v3-f32/', v3Prompt, [greedy]);
  // The V3 golden's step (the model still loaded).
  const busy = await h((x) => x.busyMsPerStep(32));
  // DeepSeek-V4 (sliding window 16, compressed caches every 4 and 16 positions): steps in flight cross the
  // window and the compression boundaries, and the sampled reply's prefill rewinds a cache that the greedy
  // reply's steps ran past (their reach; docs/decode-loop.md).
  const v4Dir = `${root}/fixtures/golden/v4long`;
  await convertCheckpoint(v4Dir, join(GENERATED, 'decode-ahead-v4long-f32'), { quant: 'f32', force: true });
  const v4Prompt = (JSON.parse(readFileSync(`${v4Dir}/golden.json`, 'utf8')) as { prompt: number[] }).prompt;
  const [[v4One, v4Ahead], v4Sampled] = await both(h, '/e2e/generated/decode-ahead-v4long-f32/', v4Prompt, [greedy, sampled]);
  console.log(`  v3 golden f32: GPU busy ${busy.toFixed(2)} ms per decode forward`);
  console.log(`  ${line('v3 golden f32 decodeAhead 1', v3One, busy)}`);
  console.log(`  ${line(`v3 golden f32 decodeAhead ${AHEAD}`, v3Ahead, busy)}`);
  expect(ahead.tokens, 'demo q8 greedy').toEqual(one.tokens);
  expect(v3Ahead.tokens, 'v3 golden f32 greedy').toEqual(v3One.tokens);
  expect(v4Ahead.tokens, 'v4long f32 greedy').toEqual(v4One.tokens);
  expect(v4Sampled[1].tokens, 'v4long f32 sampled after a rewind').toEqual(v4Sampled[0].tokens);
  expect(plain[1].tokens, 'demo q8 sampled').toEqual(plain[0].tokens);
  expect(penalized[1].tokens, 'demo q8 sampled with penalties').toEqual(penalized[0].tokens);
  // The penalties change the draw: the comparison above covers the counts the sampler keeps.
  expect(penalized[0].tokens).not.toEqual(plain[0].tokens);
  expect(one.calls).toBe(REPLY - 1);
  expect(ahead.calls).toBeLessThanOrEqual(REPLY - 1);
});

test(`engine: max_tokens and a stop string in the middle of ${AHEAD} steps in flight end the reply there; the next request reuses its prefix and equals a fresh engine's`, async ({ harnessPages }) => {
  test.setTimeout(300_000);
  const h = await open(harnessPages);
  const ask: ChatMessage[] = [{ role: 'user', content: 'Tell me about the sea.' }];
  // One step at a time: the reference replies, and where a stop string in the middle of one falls.
  await h((x, a) => x.engine(a.url, 1), { url: DEMO });
  const cut = await h((x, a) => x.complete(a.m, 7), { m: ask });
  expect(cut.finish).toBe('length');
  const next: ChatMessage[] = [...ask, { role: 'assistant', content: cut.text }, { role: 'user', content: 'And then?' }];
  const full = await h((x, a) => x.complete(a.m, 24), { m: next });
  const stop = full.text.slice(Math.floor(full.text.length / 2), Math.floor(full.text.length / 2) + 3);
  const stopped = full.text.slice(0, full.text.indexOf(stop));
  expect(stop.length, `a 3-character stop string inside "${full.text}"`).toBe(3);

  await h((x, a) => x.engine(a.url, a.n), { url: DEMO, n: AHEAD });
  expect(await h((x, a) => x.complete(a.m, 7), { m: ask })).toMatchObject({ text: cut.text, finish: 'length' });
  expect(await h((x, a) => x.complete(a.m, 24, a.stop), { m: next, stop })).toMatchObject({ text: stopped, finish: 'stop' });
  const last: ChatMessage[] = [...next, { role: 'assistant', content: stopped }, { role: 'user', content: 'Why?' }];
  const ahead = await h((x, a) => x.complete(a.m, 20), { m: last });
  expect(ahead.reused).toBeGreaterThan(0);

  await h((x, a) => x.engine(a.url, 1), { url: DEMO });
  const fresh = await h((x, a) => x.complete(a.m, 20), { m: last });
  expect(fresh.reused).toBe(0);
  expect(ahead.text).toBe(fresh.text);
  expect(ahead.finish).toBe(fresh.finish);
});
