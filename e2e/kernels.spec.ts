// One Playwright test per kernel family; each case of the family's grid is a step whose failure names
// the family, the case and the worst element.
import { expect, test, type Page } from '@playwright/test';
import { FAMILY_FEATURES, KERNEL_FAMILIES } from './lib/families';
import type { CaseResult } from './lib/cases';
import type { HarnessApi } from './harness/main';

test.describe.configure({ mode: 'serial' });

let page: Page;
let features: string[] = [];
/** About how long one page call runs cases for before it returns their results. */
const CHUNK_MS = 1000;

test.beforeAll(async ({ browser }) => {
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto('/e2e/harness/index.html');
  const adapter = await page.evaluate(() => (window as unknown as { webmoeHarness: HarnessApi }).webmoeHarness.ready);
  features = adapter.features;
  console.log(`WebGPU adapter: ${adapter.vendor} / ${adapter.architecture} / ${adapter.description}; features: ${adapter.features.join(' ')}`);
});

test.afterAll(async () => {
  await page?.close();
});

for (const family of KERNEL_FAMILIES) {
  test(`kernel ${family}`, async () => {
    const needs = FAMILY_FEATURES[family];
    test.skip(needs !== undefined && !features.includes(needs), `the adapter has no ${needs}: the family runs where one has it (webmoe kernels, scripts/gpu-bench.sh kernels)`);
    const names = await page.evaluate((f) => (window as unknown as { webmoeHarness: HarnessApi }).webmoeHarness.list(f), family);
    expect(names.length, `${family} has cases`).toBeGreaterThan(0);
    let passed = 0;
    const times: [string, number][] = [];
    // The cases run in page calls of about a second each (harness runFrom), every case still its own step
    // with its own verdict: a call per case cost ~7 ms of round trip, more than most cases take.
    for (let from = 0; from < names.length;) {
      const chunk: CaseResult[] = await page.evaluate(([f, i, ms]) => (window as unknown as { webmoeHarness: HarnessApi }).webmoeHarness.runFrom(f, i, ms), [family, from, CHUNK_MS] as const);
      for (const r of chunk) {
        const name = names[from++];
        await test.step(name, async () => {
          expect(r.name, 'the harness ran the cases in list order').toBe(name);
          times.push([name, r.ms]);
          if (r.ok) passed++;
          else console.log(`  FAIL ${family}/${name}: ${r.summary}`);
          expect.soft(r.ok, `${family}/${name}: ${r.summary}`).toBe(true);
        });
      }
    }
    // The slowest cases, to see where a grid's time goes when trimming it.
    const slowest = times.sort((a, b) => b[1] - a[1]).slice(0, 5).map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`);
    const total = times.reduce((a, [, ms]) => a + ms, 0);
    console.log(`  ${family}: ${passed}/${names.length} cases passed on WebGPU (${(total / 1000).toFixed(1)} s in the page); slowest: ${slowest.join('; ')}`);
  });
}
