// Tensors larger than one binding (docs/model-folder.md#split-tensors). A generated V3 checkpoint with a
// 4096-token vocabulary (the v3-tiny preset otherwise) is loaded twice, as is and with the weight binding
// limit lowered (GpuModelOptions.maxBindingBytes) so that its embedding and LM head are held in three
// buffers each: greedy tokens and every logits row must be equal bit for bit, in f32 and q8 (odd row
// bytes: parts on even rows), in the adapter's shape (on SwiftShader separate norms, the LM head a plain
// product) and in f32 the workgroup shape (decode's LM head normalizes its input inside, matmul-normed).
// The demo model's routed experts (and the shared expert stored after them) under a limit below one
// layer's group are refused before any weight is fetched, naming the layer and the slots that would fit.
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
  return { parts, ...await h((m, a) => m.greedy(a.prompt, a.n), { prompt: PROMPT, n: STEPS }) };
}

// The workgroup shape costs SwiftShader ~2 min a model (decode's fused norms): f32 only.
const RUNS = [{ quant: 'f32', shape: undefined }, { quant: 'f32', shape: 'workgroup' }, { quant: 'q8', shape: undefined }] as const;

for (const { quant, shape } of RUNS) {
  test(`${quant} (${shape ?? 'adapter'} shape): embedding and LM head in 3 buffers give the unsplit greedy tokens and logits bit for bit`, async () => {
    test.setTimeout(300_000);
    const url = `/e2e/generated/${NAME}/${quant}/`;
    const common: GpuModelOptions = { contextLength: 64, autotune: false, speculative: 'off', ...(shape ? { shape } : {}) };
    const whole = await greedyWith(url, common);
    const split = await greedyWith(url, { ...common, maxBindingBytes: LIMITS[quant] });
    console.log(`  ${quant} ${shape ?? 'adapter'} shape: parts ${whole.parts.join('/')} → ${split.parts.join('/')}; tokens ${split.tokens.join(',')}`);
    expect(whole.parts).toEqual([1, 1]);
    expect(split.parts).toEqual([3, 3]);
    expect(split.tokens).toEqual(whole.tokens);
    expect(split.logits.length).toBe(STEPS);
    for (const [i, row] of split.logits.entries()) expect(row, `logits row ${i}`).toEqual(whole.logits[i]);
  });
}

test('demo model: a limit below one layer of routed experts is refused before any weight, naming the layer and the slots that fit', async () => {
  test.setTimeout(120_000);
  const err = await h((m) => m.load('/models/webmoe-tiny/', { contextLength: 64, maxBindingBytes: 320_000 }));
  expect(err?.code).toBe('insufficient-limits');
  expect(err?.message).toMatch(/the routed experts of layer 1 take 1\.3 MiB in one buffer \(8 experts and 1 shared of 0\.1 MiB\).* at most 1 slot per layer/);
});
