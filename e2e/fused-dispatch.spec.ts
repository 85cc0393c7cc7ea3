// The kernel cases behind decode's fused launches (docs/architecture-v3.md#layers), without the rest of
// their families' grids: the routed experts' products with and without the shared expert as one more slot,
// every weight format and shape, against the float64 references of e2e/kernels/matmul.ts. (The fused
// query + kv_a product is a plain product of a concatenated tensor; the whole-model tests cover it.)
import { expect, test, type Page } from '@playwright/test';
import type { CaseResult } from './lib/cases';
import type { KernelFamilyName } from './lib/families';
import type { HarnessApi } from './harness/main';

let page: Page;
const harness = () => (window as unknown as { webmoeHarness: HarnessApi }).webmoeHarness;

test.beforeAll(async ({ browser }) => {
  page = await browser.newPage();
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto('/e2e/harness/index.html');
  await page.evaluate(`(${harness.toString()})().ready`);
});

test.afterAll(async () => {
  await page?.close();
});

for (const family of ['matmul', 'matmul-gguf'] as const satisfies readonly KernelFamilyName[]) {
  test(`experts cases of ${family}, shared slot included`, async () => {
    const names = (await page.evaluate(`(${harness.toString()})().list(${JSON.stringify(family)})`) as string[])
      .filter((n) => n.startsWith('op=experts'));
    expect(names.some((n) => n.includes('shared=slot')), 'the grid has shared-slot cases').toBe(true);
    for (const name of names) {
      const r = await test.step(name, () =>
        page.evaluate(`(${harness.toString()})().run(${JSON.stringify(family)}, ${JSON.stringify(name)})`) as Promise<CaseResult>);
      expect.soft(r.ok, `${family}/${name}: ${r.summary}`).toBe(true);
    }
    console.log(`  ${family}: ${names.length} experts cases`);
  });
}
