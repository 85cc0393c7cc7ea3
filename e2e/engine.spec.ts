// The public Engine API over the real WebGPU backend, on the bundled demo model: streamed and non-streamed
// replies agree at temperature 0, the Worker and the page give the same tokens, a second turn reuses the
// cached prefix and answers as a fresh engine would, and an abort takes effect at once.
import { expect } from '@playwright/test';
import { test, type HarnessCall } from './lib/harness-page';

test.describe.configure({ mode: 'serial' });

type Api = {
  complete(where: string, messages: unknown[], n: number): Promise<{ text: string; usage: any }>;
  stream(where: string, messages: unknown[], n: number): Promise<{ text: string; chunks: number; usage: any }>;
  abortMidReply(where: string, messages: unknown[]): Promise<{ aborted: boolean; pieces: number }>;
  completeWith(where: string, messages: unknown[], n: number, extra: Record<string, unknown>): Promise<{ text: string; error: { code: string; message: string } | null }>;
  logprobs(where: string, messages: unknown[], n: number, top: number): Promise<{ text: string; finish: string; usage: any; content: any[] | null; streamed: any[] }>;
  resetChat(where: string): Promise<void>;
  paged(messages: unknown[], n: number): Promise<{ text: string; budget: number; paging: { slotsPerLayer: number; experts: number; lookups: number; hits: number; bytesUploaded: number; tokens: number } | null }>;
  nanWeights(messages: unknown[], modes: string[]): Promise<{ errors: { speculative: string; error: { code: string; message: string } | null; sampledError: { code: string; message: string } | null }[]; freshTokens: number }>;
  deviceLossMidReply(messages: unknown[]): Promise<{ midReply: { code: string; message: string } | null; pieces: number; afterLoss: { code: string } | null; reloadPhases: string[]; text: string }>;
};

// The engine harness page, open for the worker's life: its page and Worker engines (e2e/engine/engines.ts)
// are chat-api.spec.ts's too, so the two files pay for the two loads once.
let h: HarnessCall<Api>;
test.beforeEach(async ({ harnessPages }) => {
  h = await harnessPages<Api>('/e2e/engine/index.html', 'engineHarness');
});
const call = <K extends keyof Api>(name: K, ...args: Parameters<Api[K]>) =>
  h((m, a) => (m[a.name as K] as (...x: unknown[]) => Promise<unknown>)(...a.args), { name, args }) as ReturnType<Api[K]>;

const Q1 = [{ role: 'user', content: 'In the beginning' }];

test('engine on the GPU model: stream equals non-stream, Worker equals page', async () => {
  test.setTimeout(240_000);
  const whole = await call('complete', 'page', Q1, 16);
  await call('resetChat', 'page');
  const streamed = await call('stream', 'page', Q1, 16);
  const worker = await call('complete', 'worker', Q1, 16);
  console.log(`  reply: ${JSON.stringify(whole.text)} (${whole.usage.completion_tokens} tokens, ${streamed.chunks} chunks)`);
  expect(whole.text.length).toBeGreaterThan(0);
  expect(streamed.text).toBe(whole.text);
  expect(worker.text).toBe(whole.text);
  expect(worker.usage.completion_tokens).toBe(whole.usage.completion_tokens);
});

test('engine on the GPU model: a second turn prefills only the new tokens and answers like a fresh engine', async () => {
  test.setTimeout(240_000);
  await call('resetChat', 'page');
  const first = await call('complete', 'page', Q1, 12);
  const turn2 = [...Q1, { role: 'assistant', content: first.text }, { role: 'user', content: 'And the earth' }];
  const second = await call('complete', 'page', turn2, 12);
  await call('resetChat', 'page');
  const fresh = await call('complete', 'page', turn2, 12);
  console.log(`  second turn: ${second.usage.prompt_tokens} prompt tokens, ${second.usage.prefilled_tokens} prefilled, ${second.usage.reused_tokens} reused`);
  expect(second.usage.reused_tokens).toBeGreaterThan(0);
  expect(second.usage.prefilled_tokens).toBeLessThan(second.usage.prompt_tokens);
  expect(fresh.usage.reused_tokens).toBe(0);
  expect(second.text).toBe(fresh.text);
});

test('engine on the GPU model: abort mid-reply, then the engine still answers', async () => {
  test.setTimeout(240_000);
  for (const where of ['page', 'worker']) {
    const r = await call('abortMidReply', where, Q1);
    expect(r.aborted, where).toBe(true);
    const after = await call('complete', where, Q1, 4);
    expect(after.usage.completion_tokens, where).toBeGreaterThan(0);
  }
});

test('engine on the GPU model: penalties and logit_bias change the reply alike in page and Worker; unsupported fields are refused', async () => {
  test.setTimeout(240_000);
  const plain = await call('complete', 'page', Q1, 16);
  const extra = { frequency_penalty: 1.5, presence_penalty: 0.5, repetition_penalty: 1.3, min_p: 0.05, logit_bias: { 0: -100, 5: 2 } };
  const page1 = await call('completeWith', 'page', Q1, 16, extra);
  const worker = await call('completeWith', 'worker', Q1, 16, extra);
  console.log(`  plain: ${JSON.stringify(plain.text)}; penalized: ${JSON.stringify(page1.text)}`);
  expect(page1.error).toBeNull();
  expect(worker.text).toBe(page1.text);
  expect(page1.text).not.toBe(plain.text);
  // The penalties last one request: the next plain request answers as before.
  expect((await call('complete', 'page', Q1, 16)).text).toBe(plain.text);
  for (const where of ['page', 'worker']) {
    const r = await call('completeWith', where, Q1, 4, { prediction: { type: 'content', content: 'x' } });
    expect(r.error?.code, where).toBe('invalid-request');
    expect(r.error?.message, where).toContain('prediction');
  }
});

test('engine on the GPU model: logprobs cover the greedy reply, streamed alike, in page and Worker', async () => {
  test.setTimeout(240_000);
  const plain = await call('complete', 'page', Q1, 12);
  for (const where of ['page', 'worker']) {
    const r = await call('logprobs', where, Q1, 12, 5);
    expect(r.text, where).toBe(plain.text);
    const content = r.content!;
    expect(content.length, where).toBe(r.usage.completion_tokens - (r.finish === 'stop' ? 1 : 0));
    expect(Buffer.from(content.flatMap((t) => t.bytes)).toString('utf8'), where).toBe(r.text);
    for (const t of content) {
      expect(t.top_logprobs.length).toBe(5);
      expect(t.top_logprobs[0].logprob).toBe(t.logprob); // greedy: the likeliest, from the same f32 log-softmax
      expect(t.top_logprobs[0].bytes).toEqual(t.bytes);
      for (let k = 1; k < 5; k++) expect(t.top_logprobs[k].logprob).toBeLessThanOrEqual(t.top_logprobs[k - 1].logprob);
      const mass = t.top_logprobs.reduce((s: number, a: { logprob: number }) => s + Math.exp(a.logprob), 0);
      expect(mass).toBeLessThanOrEqual(1 + 1e-5);
      expect(mass).toBeGreaterThan(0);
    }
    expect(r.streamed, where).toEqual(content);
  }
});

test('engine on the GPU model: a device lost mid-reply ends in device-lost; a new engine loads from the cache', async () => {
  test.setTimeout(240_000);
  const r = await call('deviceLossMidReply', Q1);
  expect(r.pieces).toBe(3);
  expect(r.midReply?.code).toBe('device-lost');
  expect(r.afterLoss?.code).toBe('device-lost');
  expect(r.reloadPhases).not.toContain('download');
  const fresh = await call('complete', 'page', Q1, 12);
  expect(r.text).toBe(fresh.text);
});

test('engine on the GPU model: NaN weights end in a named error, greedy and sampled, with and without speculation; a new engine answers', async () => {
  test.setTimeout(360_000);
  // One new engine after both broken ones. The three load on one device of the page (e2e/engine/main.ts),
  // which compiles the pipelines once instead of per engine: the NaN check is the model's, not the device's,
  // and the device-loss test above still gives its engines their own devices.
  const r = await call('nanWeights', Q1, ['off', 'mtp']);
  expect(r.errors.map((e) => e.speculative)).toEqual(['off', 'mtp']);
  for (const { speculative, error, sampledError } of r.errors) {
    for (const e of [error, sampledError]) {
      expect(e?.code, speculative).toBe('model-output');
      expect(e?.message, speculative).toContain('not finite');
    }
  }
  expect(r.freshTokens).toBeGreaterThan(0);
});

test('engine with a GPU memory budget pages its experts and gives the resident reply (docs/paging.md)', async () => {
  test.setTimeout(300_000);
  await call('resetChat', 'page');
  const resident = await call('complete', 'page', Q1, 16);
  const paged = await call('paged', Q1, 16);
  const p = paged.paging;
  console.log(`  budget ${(paged.budget / 2 ** 20).toFixed(2)} MiB: ${p?.slotsPerLayer}/${p?.experts} slots, ${p?.hits}/${p?.lookups} hits, ${p?.bytesUploaded} bytes uploaded over ${p?.tokens} tokens`);
  expect(paged.text).toBe(resident.text);
  expect(p).not.toBeNull();
  expect(p!.slotsPerLayer).toBeLessThan(p!.experts);
  expect(p!.lookups).toBeGreaterThan(0);
  expect(p!.bytesUploaded).toBeGreaterThan(0);
});
