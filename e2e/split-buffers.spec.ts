// Tensors larger than one binding (docs/model-folder.md#split-tensors). A generated V3 checkpoint with a
// 4096-token vocabulary (the v3-tiny preset otherwise) is loaded twice, as is and with the weight binding
// limit lowered (GpuModelOptions.maxBindingBytes) so that its embedding and LM head are held in three
// buffers each: greedy tokens and every logits row must be equal bit for bit, in f32 and q8 (odd row
// bytes: parts on even rows), in the adapter's shape (on SwiftShader separate norms, the LM head a plain
// product) and in f32 the workgroup shape (decode's LM head normalizes its input inside, matmul-normed).
// Expert groups (docs/paging.md#binding-limit): under a limit of four f32 experts, each MoE layer's 8 routed
// experts and the shared one stored after them load in 3 buffers; prefill (grouped, each expert's rows
// computed by one launch) gives the unsplit logits bit for bit, decode the same greedy tokens and logits
// within a tight tolerance (its down projection sums the slots per buffer, then the buffers' sums: another
// f32 order). A paged pool above the limit is still refused before any weight is fetched, naming the layer
// and the slots that would fit.
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { convertCheckpoint, generateCheckpoint } from '@webmoe/converter';
import { PRESETS } from '@webmoe/converter/presets';
import type { GpuModelOptions } from 'webmoe';
import { GENERATED } from './lib/models';
import type { SplitHarness } from './split-buffers/main';

test.describe.configure({ mode: 'serial' });

const NAME = 'split-buffers-v3';
/** Per format, a limit below a third of the embedding (f32 1.5 MiB, q8 408 KiB) and above every other buffer. */
const LIMITS = { f32: 600_000, q8: 160_000 } as const;
const PROMPT = [1, 17, 42, 99, 5, 300, 7, 8, 9, 10, 11, 12, 4000, 3999];
const STEPS = 5;

let page: Page;
const h = <R>(fn: (m: SplitHarness, arg: any) => Promise<R>, arg?: unknown) =>
  page.evaluate(([src, a]) => new Function('m', 'a', `return (${src})(m, a)`)((window as any).splitHarness, a), [fn.toString(), arg] as const) as Promise<R>;

test.beforeAll(async ({ browser }) => {
  test.setTimeout(300_000);
  const hf = join(GENERATED, NAME, 'hf');
  await generateCheckpoint(hf, { config: { ...PRESETS['v3-tiny'], vocab_size: 4096 }, seed: 14, mtp: false, force: true });
  for (const quant of ['f32', 'q8'] as const) await convertCheckpoint(hf, join(GENERATED, NAME, quant), { quant, force: true });
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto('/e2e/split-buffers/index.html');
  await page.waitForFunction(() => 'splitHarness' in window);
});

test.afterAll(async () => {
  await page?.close();
});

async function greedyWith(url: string, opts: GpuModelOptions) {
  expect(await h((m, a) => m.load(a.url, a.opts), { url, opts })).toBeNull();
  const parts = await h(async (m) => m.parts(['model.embed_tokens.weight', 'lm_head.weight']));
  const experts = await h(async (m) => m.expertParts([1, 2]));
  return { parts, experts, ...await h((m, a) => m.greedy(a.prompt, a.n), { prompt: PROMPT, n: STEPS }) };
}

type Greedy = Awaited<ReturnType<typeof greedyWith>>;
/** The f32 model's unsplit run in the adapter's shape, kept for the expert-group test. */
let wholeF32: Greedy | null = null;
const COMMON: GpuModelOptions = { contextLength: 64, autotune: false, speculative: 'off' };

// The workgroup shape costs SwiftShader ~2 min a model (decode's fused norms): f32 only.
const RUNS = [{ quant: 'f32', shape: undefined }, { quant: 'f32', shape: 'workgroup' }, { quant: 'q8', shape: undefined }] as const;

for (const { quant, shape } of RUNS) {
  test(`${quant} (${shape ?? 'adapter'} shape): embedding and LM head in 3 buffers give the unsplit greedy tokens and logits bit for bit`, async () => {
    test.setTimeout(300_000);
    const url = `/e2e/generated/${NAME}/${quant}/`;
    const common: GpuModelOptions = { ...COMMON, ...(shape ? { shape } : {}) };
    const whole = await greedyWith(url, common);
    if (quant === 'f32' && !shape) wholeF32 = whole;
    const split = await greedyWith(url, { ...common, maxBindingBytes: LIMITS[quant] });
    console.log(`  ${quant} ${shape ?? 'adapter'} shape: parts ${whole.parts.join('/')} → ${split.parts.join('/')}; tokens ${split.tokens.join(',')}`);
    expect(whole.parts).toEqual([1, 1]);
    expect(split.parts).toEqual([3, 3]);
    expect(split.tokens).toEqual(whole.tokens);
    expect(split.logits.length).toBe(STEPS);
    for (const [i, row] of split.logits.entries()) expect(row, `logits row ${i}`).toEqual(whole.logits[i]);
  });
}

// f32 experts of v3-tiny: 3 × 32 × 96 × 4 = 36 864 bytes each; 160 000 bytes hold 4, so 9 experts take 3
// buffers of 3. Every other tensor fits but the embedding and LM head (split too, in 10 parts).
const EXPERT_LIMIT = 160_000;

test('f32: routed and shared experts above the limit load in 3 buffers a layer; prefill bit for bit, decode the same tokens', async () => {
  test.setTimeout(300_000);
  const url = `/e2e/generated/${NAME}/f32/`;
  const whole = wholeF32 ?? await greedyWith(url, COMMON);
  const split = await greedyWith(url, { ...COMMON, maxBindingBytes: EXPERT_LIMIT });
  console.log(`  experts: ${JSON.stringify(whole.experts)} → ${JSON.stringify(split.experts)}; tokens ${split.tokens.join(',')}`);
  expect(whole.experts).toEqual([[[0, 9]], [[0, 9]]]);
  expect(split.experts).toEqual([[[0, 3], [3, 3], [6, 3]], [[0, 3], [3, 3], [6, 3]]]);
  expect(split.tokens).toEqual(whole.tokens);
  expect(split.logits.length).toBe(STEPS);
  // Row 0 comes from the prompt's prefill (one grouped launch per buffer, each expert's rows whole).
  expect(split.logits[0], 'prefill logits').toEqual(whole.logits[0]);
  const diffs: string[] = [];
  for (let i = 1; i < STEPS; i++) {
    const [a, b] = [split.logits[i], whole.logits[i]];
    const scale = Math.max(...b.map(Math.abs));
    let worst = 0;
    for (let j = 0; j < b.length; j++) worst = Math.max(worst, Math.abs(a[j] - b[j]));
    diffs.push(`${worst.toExponential(1)}/${scale.toFixed(2)}`);
    // f32 sums of a few hundred terms in another order: a few ulps of the largest logit.
    expect(worst, `decode logits row ${i}: max |diff| ${worst} of max |logit| ${scale}`).toBeLessThanOrEqual(1e-5 * scale + 1e-6);
  }
  console.log(`  decode logits, max |diff| / max |logit| per row: ${diffs.join(' ')}`);
});

test('demo model: a paged pool above the limit is refused before any weight, naming the layer and the slots that fit', async () => {
  test.setTimeout(120_000);
  const err = await h((m) => m.load('/models/webmoe-tiny/', { contextLength: 64, maxBindingBytes: 320_000, expertSlots: 8 }));
  expect(err?.code).toBe('insufficient-limits');
  expect(err?.message).toMatch(/the expert pool of layer 1 takes 1\.3 MiB in one buffer \(8 slots and 1 shared of 0\.1 MiB\).* at most 1 slot per layer/);
});
