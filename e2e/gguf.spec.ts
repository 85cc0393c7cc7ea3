// GGUF files (docs/gguf.md) through `webmoe convert model.gguf` and `webmoe run` on the GPU engine: the golden
// models written as GGUF by webmoe's own writer give the logits of their safetensors conversion (F32: within
// 1e-6 relative), and quantized GGUFs give the logits of the float64 reference running the very weights the
// file holds, decoded by the reference-side oracle (model/decode-gguf-f64.ts), within the 1e-4 that f32
// arithmetic keeps against float64 (golden.spec.ts). A model 256 wide takes the K-quants, which need whole
// blocks of 256; the goldens (96 wide) take Q8_0 where their widths hold whole blocks of 32. Then .gguf URLs
// loaded in the page without a conversion step: the same logits as the converted folders, exactly.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, type Page } from '@playwright/test';
import { convertCheckpoint, convertGguf, exportGguf, openGgufCheckpoint, tokenizerToGguf } from '@webmoe/converter';
import { MapWeightSource, ReferenceModel, referenceArgs, type Tensor64 } from '@webmoe/reference';
import { GGUF_QUANT_CASES as QUANT_CASES, GGUF_QUANT_RUN as QUANT_RUN, GOLDEN_LINES, goldenOf as golden, ggufQuantFiles, goldenRuns, logitsRunArgs as runArgs } from './lib/golden-runs';
import { test } from './lib/harness-page';
import { GENERATED, relError } from './lib/models';
import { webmoeRun } from './lib/webmoe-run';
import type { GgufHarness } from './gguf/main';

const root = fileURLToPath(new URL('..', import.meta.url));
let work: string;

test.describe.configure({ mode: 'serial' });
test.beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'webmoe-gguf-e2e-'));
});
test.afterAll(() => rmSync(work, { recursive: true, force: true }));

interface Run {
  tokens: number[];
  logits: number[][];
}

async function runFolder(folder: string, prompt: number[], steps: number): Promise<Run> {
  const { stdout } = await webmoeRun(runArgs(folder, prompt, steps));
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Run;
}

/** The float64 reference on the weights a GGUF file holds, fed the prompt and then the engine's tokens. */
async function referenceRows(gguf: string, prompt: number[], tokens: number[]): Promise<number[][]> {
  const ckpt = await openGgufCheckpoint(gguf);
  try {
    const tensors = new Map<string, Tensor64>();
    for (const s of ckpt.expected) tensors.set(s.name, { shape: s.shape, data: await ckpt.readF64(s.name) });
    const model = new ReferenceModel(referenceArgs(ckpt.hfConfig), new MapWeightSource(tensors));
    const rows = [model.forward(prompt, 0).at(-1)!];
    for (let i = 0; i + 1 < tokens.length; i++) rows.push(model.forward([tokens[i]], prompt.length + i).at(-1)!);
    return rows.map((r) => Array.from(r));
  } finally {
    await ckpt.close();
  }
}

for (const name of ['v3', 'v2lite']) {
  test(`GGUF F32 of golden ${name}: the logits of its safetensors conversion`, async () => {
    // Implied by default: 'GGUF by URL' below loads golden v3's F32 .gguf (kv_b split) and equals its safetensors
    // conversion exactly, and converter/src/gguf-url.test.ts checks that the URL's virtual shards are `webmoe
    // convert`'s folder byte for byte; these two `webmoe run` processes check the folder route directly.
    test.skip(!process.env.WEBMOE_FULL, 'set WEBMOE_FULL=1 for the converted folders of both goldens');
    test.setTimeout(900_000);
    const g = golden(name);
    const gguf = join(work, `${name}-f32.gguf`);
    await exportGguf(`${root}/fixtures/golden/${name}`, gguf, { type: 'F32', splitKv: name === 'v3' });
    await convertGguf(gguf, join(work, `${name}-gguf`));
    await convertCheckpoint(`${root}/fixtures/golden/${name}`, join(work, `${name}-st`), { quant: 'f32' });
    const a = await runFolder(join(work, `${name}-gguf`), g.prompt, g.tokens.length);
    const b = await runFolder(join(work, `${name}-st`), g.prompt, g.tokens.length);
    const errors = b.logits.map((row, i) => relError(a.logits[i], row));
    console.log(`  ${name} GGUF F32 vs safetensors f32: max row error ${Math.max(...errors).toExponential(2)} over ${errors.length} rows`);
    for (const [i, e] of errors.entries()) expect(e, `row ${i}`).toBeLessThanOrEqual(1e-6);
    expect(a.tokens).toEqual(g.tokens);
  });
}

// The block formats run (lib/golden-runs.ts GGUF_QUANT_CASES): one per block layout in `npm test`, every one
// with WEBMOE_FULL=1 (each format's dequantization is checked on its own in the kernel grid, matmul-gguf).
// They go through lib/golden-runs.ts's `webmoe run --batch` process, shared with golden.spec.ts and
// paging.spec.ts: one browser and one GPU device (golden v3's pipelines compiled once for the three files),
// each request loading its own converted folder.
for (const c of QUANT_CASES) {
  test(`GGUF ${c.label}: the float64 reference's logits on the file's own weights`, async ({ sharedBatches }) => {
    test.skip(!QUANT_RUN.includes(c), 'set WEBMOE_FULL=1 for every block format');
    test.setTimeout(900_000);
    const got = await goldenRuns(sharedBatches)<Run>(GOLDEN_LINES.gguf(QUANT_RUN.indexOf(c)));
    const { gguf, folder, prompt } = ggufQuantFiles(c);
    const manifest = JSON.parse(readFileSync(join(folder, 'manifest.json'), 'utf8')) as { tensors: { format: string }[] };
    const kept = manifest.tensors.filter((t) => t.format === c.type.toLowerCase()).length;
    expect(kept, 'tensors kept in the GGUF block format').toBeGreaterThan(0);
    const ref = await referenceRows(gguf, prompt, got.tokens);
    const errors = ref.map((row, i) => relError(got.logits[i], row));
    console.log(`  ${c.label}: ${kept} tensors in ${c.type}; engine vs float64 reference on the dequantized weights: max row error ${Math.max(...errors).toExponential(2)}`);
    for (const [i, e] of errors.entries()) expect(e, `row ${i}`).toBeLessThan(1e-4);
  });
}

// ---- A .gguf URL loaded in the browser without a conversion step (docs/gguf.md#loading-a-gguf-url) --------
// The files are written under e2e/generated/ (served by the test server, which answers Range requests).

const URL_DIR = join(GENERATED, 'gguf-url');
const served = (file: string) => `/e2e/generated/gguf-url/${file}`;
/** The trained demo model (fixtures/trained/hf: 256 wide, a real tokenizer) in Q4_K, Q8_0 where widths need blocks of 32. */
const TRAINED_Q4K = 'trained-q4_k.gguf';

async function writeTrainedQ4k(): Promise<string> {
  const hf = `${root}/fixtures/trained/hf`;
  const tj = JSON.parse(readFileSync(join(hf, 'tokenizer.json'), 'utf8')) as Record<string, unknown>;
  const tc = JSON.parse(readFileSync(join(hf, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  const file = join(URL_DIR, TRAINED_Q4K);
  await exportGguf(hf, file, { type: 'Q4_K', fallback: 'Q8_0', metadata: tokenizerToGguf(tj, tc, 'gpt-2') });
  return file;
}

function ggufHarness(page: Page) {
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  return <R>(fn: (h: GgufHarness, a: any) => Promise<R>, arg?: unknown) =>
    page.evaluate(([src, a]) => new Function('h', 'a', `return (${src})(h, a)`)((window as any).ggufHarness, a), [fn.toString(), arg] as const) as Promise<R>;
}

/** Requests for `file` whose Range starts past byte 0: weights (the header is read from byte 0). */
function countWeightRequests(page: Page, file: string): string[] {
  const seen: string[] = [];
  page.on('request', (r) => {
    if (!new URL(r.url()).pathname.endsWith(`/${file}`)) return; // not the page's own ?model=…gguf
    const range = r.headers().range ?? '(none)';
    if (!range.startsWith('bytes=0-')) seen.push(range);
  });
  return seen;
}

test('GGUF by URL: Q4_K and F32 give exactly the logits of their conversions', async ({ page }) => {
  test.setTimeout(600_000);
  mkdirSync(URL_DIR, { recursive: true });
  const q4k = await writeTrainedQ4k();
  await convertGguf(q4k, join(URL_DIR, 'trained-q4_k'), { force: true });
  const f32 = join(URL_DIR, 'v3-f32.gguf');
  await exportGguf(`${root}/fixtures/golden/v3`, f32, { type: 'F32', splitKv: true });
  await convertCheckpoint(`${root}/fixtures/golden/v3`, join(URL_DIR, 'v3-st'), { quant: 'f32', force: true });

  await page.goto('/e2e/gguf/index.html');
  await page.waitForFunction(() => 'ggufHarness' in window);
  const h = ggufHarness(page);
  const prompt = [0, 17, 42, 99, 3, 250, 8];
  const byUrl = await h((g, a) => g.logits(a.url, a.prompt, 4), { url: served(TRAINED_Q4K), prompt });
  const folder = await h((g, a) => g.logits(a.url, a.prompt, 4), { url: served('trained-q4_k/'), prompt });
  expect(byUrl.tokens).toEqual(folder.tokens);
  for (const [i, row] of folder.logits.entries()) expect(byUrl.logits[i], `Q4_K row ${i}: .gguf URL against its webmoe convert folder`).toEqual(row);

  const g = golden('v3');
  const v3Url = await h((x, a) => x.logits(a.url, a.prompt, a.steps), { url: served('v3-f32.gguf'), prompt: g.prompt, steps: g.tokens.length });
  const v3St = await h((x, a) => x.logits(a.url, a.prompt, a.steps), { url: served('v3-st/'), prompt: g.prompt, steps: g.tokens.length });
  for (const [i, row] of v3St.logits.entries()) expect(v3Url.logits[i], `F32 row ${i}: .gguf URL against the safetensors conversion`).toEqual(row);
  expect(v3Url.tokens).toEqual(g.tokens);
  console.log(`  .gguf URL: Q4_K ${folder.logits.length} rows and F32 golden v3 ${v3St.logits.length} rows equal their folders exactly`);

});

// The demo runs the engine in a Worker (createWorkerEngine): the first visit downloads the weights by range
// requests into IndexedDB, a reload loads them from there without a single weight request (requests counted
// at the browser's network layer, the Worker's included) and gives the same greedy reply.
test('demo: loads a Q4_K GGUF by URL and replies; a reload requests no weight', async ({ page }) => {
  test.setTimeout(600_000);
  mkdirSync(URL_DIR, { recursive: true });
  await writeTrainedQ4k();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  const weights = countWeightRequests(page, TRAINED_Q4K);
  const chat = async () => {
    await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 240_000 });
    await expect(page.locator('#model-name')).toHaveText(TRAINED_Q4K);
    await page.getByLabel('Max tokens').fill('16');
    await page.getByLabel('Temperature').fill('0');
    await page.getByRole('textbox', { name: 'Message' }).fill('Tell me about the sea.');
    await page.getByRole('button', { name: 'Send' }).click();
    const reply = page.locator('[data-role="assistant"]').last();
    await expect(reply.locator('xpath=..')).toHaveAttribute('data-finish', /^(stop|length)$/, { timeout: 120_000 });
    return (await reply.textContent()) ?? '';
  };
  await page.goto(`/?model=${encodeURIComponent(served(TRAINED_Q4K))}`);
  const first = await chat();
  const downloaded = weights.length;
  await page.reload();
  const second = await chat();
  await expect(page.getByRole('progressbar')).toHaveAttribute('aria-valuetext', /from the browser cache/);
  console.log(`  demo with ${TRAINED_Q4K}: ${JSON.stringify(first)} after ${downloaded} weight requests; after a reload ${weights.length - downloaded}`);
  expect(first.trim().length).toBeGreaterThan(0);
  expect(downloaded, 'the first visit requests the weights').toBeGreaterThan(0);
  expect(weights.slice(downloaded), 'weight requests after the reload').toEqual([]);
  expect(second).toBe(first);
});
