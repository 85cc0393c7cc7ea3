// Products at the widths of released checkpoints (e2e/real-width/main.ts): hidden 2048 and 7168 in every
// weight format, V3's 256-expert router gate and a 102400-row LM head, against float64 references with
// tolerances that grow with the reduction length (docs/kernels.md#tolerances). MLA at kv_lora_rank 512 and
// rope 64 with 16 and 128 heads is in the mla family's grid (e2e/kernels/mla.ts).
import { expect, test } from '@playwright/test';
import type { RealWidthApi } from './real-width/main';

test('kernel products at real widths', async ({ page }) => {
  test.setTimeout(300_000);
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto('/e2e/real-width/index.html');
  await page.waitForFunction(() => 'realWidth' in window);
  const adapter = await page.evaluate(() => (window as unknown as { realWidth: RealWidthApi }).realWidth.ready);
  const names = await page.evaluate(() => (window as unknown as { realWidth: RealWidthApi }).realWidth.list());
  expect(names.length).toBeGreaterThan(0);
  const times: [string, number][] = [];
  for (const name of names) {
    const r = await test.step(name, () => page.evaluate((n) => (window as unknown as { realWidth: RealWidthApi }).realWidth.run(n), name));
    times.push([name, r.ms]);
    if (!r.ok) console.log(`  FAIL ${name}: ${r.summary}`);
    expect.soft(r.ok, `${name}: ${r.summary}`).toBe(true);
  }
  const total = times.reduce((a, [, ms]) => a + ms, 0);
  const slowest = times.sort((a, b) => b[1] - a[1]).slice(0, 4).map(([n, ms]) => `${n} ${ms.toFixed(0)} ms`);
  console.log(`  ${names.length} real-width cases on ${adapter} (${(total / 1000).toFixed(1)} s in the page); slowest: ${slowest.join('; ')}`);
});
