// The chat demo (demo/) in Chromium with the bundled model: it loads without asking, streams a reply,
// stops a long one, shows speeds and the expert heatmap, and after a reload loads from the browser cache
// without requesting a single weight shard. Everything is found by accessible name or data-role, as an
// outside check would.
import { expect, test, type Locator, type Page } from '@playwright/test';

test.use({ viewport: { width: 1360, height: 900 } });

const SHARD = /\/shard-\d+\.bin(\?|$)/;

async function ready(page: Page): Promise<void> {
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 120_000 });
}

/** Records the length of the newest assistant reply at every DOM change, to see it grow while streaming. */
async function watchReplyLengths(page: Page): Promise<void> {
  await page.evaluate(() => {
    const w = window as unknown as { replyLengths: number[] };
    w.replyLengths = [];
    new MutationObserver(() => {
      const all = document.querySelectorAll('[data-role="assistant"]');
      const last = all[all.length - 1];
      if (last) w.replyLengths.push(last.textContent?.length ?? 0);
    }).observe(document.getElementById('messages')!, { subtree: true, childList: true, characterData: true });
  });
}

async function send(page: Page, text: string): Promise<Locator> {
  await page.getByRole('textbox', { name: 'Message' }).fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  return page.locator('[data-role="assistant"]').last();
}

/** The message around a reply (it carries data-finish once the reply is over). */
function turn(reply: Locator): Locator {
  return reply.locator('xpath=..');
}

const ENGLISH = new Set(('the and of to a in that he shall unto i his is for be they him not them it with all thou was '
  + 'which my me said their have will thy thee from as are by were upon out when this ye lord god there but so then '
  + 'israel king before made an one or came even also into her son people land man up house day children come '
  + 'hath did what go let these shalt at whom we if saying against had you men do now your us because went our '
  + 'light sea earth heaven word give great place hand name may no servant moses over away spake any every').split(' '));

test('demo: chat with the bundled model, stop a reply, stats, reload from the cache', async ({ page }, testInfo) => {
  test.setTimeout(240_000);
  const shardRequests: string[] = [];
  page.on('request', (r) => SHARD.test(r.url()) && shardRequests.push(r.url()));
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  page.on('console', (m) => m.type() === 'error' && console.error(`[console] ${m.text()}`));

  const t0 = Date.now();
  await page.goto('/');
  await ready(page);
  const loadMs = Date.now() - t0;
  expect(shardRequests.length, 'the first visit downloads the weights').toBeGreaterThan(0);
  const progress = page.getByRole('progressbar');
  await expect(progress).toHaveAttribute('aria-valuenow', '100');
  await expect(progress).toHaveAttribute('aria-valuetext', /downloaded/);

  // A short reply streams in: the text grows over several steps before the reply is over.
  await page.getByLabel('Max tokens').fill('24');
  await page.getByLabel('Temperature').fill('0');
  await watchReplyLengths(page);
  const t1 = Date.now();
  const first = await send(page, 'Tell me about light.');
  await expect(turn(first)).toHaveAttribute('data-finish', /^(stop|length)$/, { timeout: 60_000 });
  const replyMs = Date.now() - t1;
  const lengths = await page.evaluate(() => (window as unknown as { replyLengths: number[] }).replyLengths);
  const growing = [...new Set(lengths.filter((n) => n > 0))];
  expect(growing.length, `reply lengths seen while streaming: ${lengths.join(' ')}`).toBeGreaterThanOrEqual(3);
  expect((await first.textContent())?.length).toBe(Math.max(...growing));
  // The bundled model was trained on English (tools/train): most of its words are common English words,
  // which random weights or a broken kernel would not produce.
  const words = ((await first.textContent()) ?? '').toLowerCase().match(/[a-z]+/g) ?? [];
  const known = words.filter((w) => ENGLISH.has(w));
  console.log(`  reply: ${JSON.stringify(await first.textContent())} (${known.length}/${words.length} common English words)`);
  expect(words.length).toBeGreaterThanOrEqual(5);
  expect(known.length / words.length).toBeGreaterThanOrEqual(0.5);
  await expect(page.getByRole('status')).toHaveText('Ready');

  // Stats: both speeds above zero, and a heatmap with picked experts.
  const decode = Number(await page.locator('#decode-tps').textContent());
  const prefill = Number(await page.locator('#prefill-tps').textContent());
  expect(decode).toBeGreaterThan(0);
  expect(prefill).toBeGreaterThan(0);
  const cells = page.locator('#heatmap .cell');
  expect(await cells.count()).toBeGreaterThan(0);
  expect(await page.locator('#heatmap .cell:not([data-count="0"])').count()).toBeGreaterThan(0);
  await expect(page.locator('#kv-bars .bar-row')).toHaveCount(2);
  await expect(page.locator('#memory-bar .seg')).toHaveCount(3);
  // SwiftShader is a software adapter: speculation stays off by default there, and the panel says why.
  await expect(page.locator('#speculation-line')).toHaveText('Speculation: off');

  // A long reply, stopped early: it ends as 'stopped', stops growing, and the model is ready again.
  await page.getByLabel('Max tokens').fill('2000');
  const long = await send(page, 'Tell me a long story about the sea.');
  await expect(page.getByRole('button', { name: 'Stop' })).toBeEnabled();
  // Stop at the first text: the earlier the click, the less chance the model ends the reply by itself.
  await expect.poll(async () => (await long.textContent())?.length ?? 0, { timeout: 60_000, intervals: [50] }).toBeGreaterThan(0);
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(turn(long)).toHaveAttribute('data-finish', 'stopped', { timeout: 10_000 });
  await expect(page.getByRole('button', { name: 'Stop' })).toBeDisabled();
  await ready(page);
  const stoppedAt = (await long.textContent())?.length ?? 0;
  await page.waitForTimeout(1000);
  expect((await long.textContent())?.length).toBe(stoppedAt);
  await expect(page.getByRole('button', { name: 'Delete webmoe-tiny' })).toBeVisible();

  const shot = testInfo.outputPath('demo.png');
  await page.screenshot({ path: shot, fullPage: true });
  await testInfo.attach('demo', { path: shot, contentType: 'image/png' });

  // Reload: the model comes from IndexedDB, no shard crosses the network.
  shardRequests.length = 0;
  const t2 = Date.now();
  await page.reload();
  await ready(page);
  const reloadMs = Date.now() - t2;
  expect(shardRequests).toEqual([]);
  await expect(progress).toHaveAttribute('aria-valuetext', /from the browser cache/);

  // New chat empties the conversation; a cached model can be deleted.
  await send(page, 'Hi');
  await expect(page.locator('[data-role="assistant"]')).toHaveCount(1);
  await page.getByRole('button', { name: 'New chat' }).click();
  await expect(page.locator('[data-role="assistant"]')).toHaveCount(0);
  await page.getByRole('button', { name: 'Delete webmoe-tiny' }).click();
  await expect(page.getByRole('button', { name: 'Delete webmoe-tiny' })).toHaveCount(0);
  await expect(page.getByText('Nothing cached yet.')).toBeVisible();
  console.log(`demo: first load ${loadMs} ms, 24-token reply ${replyMs} ms (prefill ${prefill} tok/s, decode ${decode} tok/s), reload ${reloadMs} ms`);
});

test('demo: without WebGPU the page says so and what to do', async ({ page }) => {
  await page.addInitScript(() => Object.defineProperty(Navigator.prototype, 'gpu', { get: () => undefined, configurable: true }));
  await page.goto('/');
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('This browser has no WebGPU');
  await expect(alert).toContainText('Chrome or Edge');
  await expect(page.getByRole('status')).toHaveText('Model not loaded');
  await expect(page.getByRole('button', { name: 'Send' })).toBeDisabled();
});

test('demo: a model that cannot be downloaded is explained in the page', async ({ page }, testInfo) => {
  // Port 9 (discard) refuses connections: a network failure without waiting for a timeout.
  await page.goto(`/?model=${encodeURIComponent('http://localhost:9/nowhere/')}`);
  const alert = page.getByRole('alert');
  await expect(alert).toContainText('The model could not be downloaded');
  await expect(alert).toContainText('localhost:9/nowhere/manifest.json');
  await expect(page.getByRole('progressbar')).toHaveAttribute('aria-valuetext', /failed/);
  const shot = testInfo.outputPath('demo-download-failed.png');
  await page.screenshot({ path: shot });
  await testInfo.attach('download failed', { path: shot, contentType: 'image/png' });
});

test('demo: the bench page measures the bundled model', async ({ page }) => {
  test.setTimeout(180_000);
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
  await page.goto('/demo/bench.html');
  const out = page.locator('#out');
  await expect(out).toHaveAttribute('data-state', /done|error/, { timeout: 170_000 });
  const text = (await out.textContent()) ?? '';
  expect(await out.getAttribute('data-state'), text).toBe('done');
  // The table's row for the model, its per-kernel profiles, the probes, and the bar.
  const row = text.split('\n').find((l) => l.startsWith('webmoe-tiny'));
  expect(row, text).toBeTruthy();
  expect(row!.split(/\s+/)[1]).toBe('q8');
  expect(text).toContain('timestamp profile of one decode step');
  expect(text).toContain('timestamp profile of the last');
  // Probe (c) and the decode-ahead depths ran and printed figures (a dash would mean a missing one).
  expect(text).toMatch(/probe \(c\), the same bytes read by \d+ chained dispatches: \d+\.\d+ ms wall/);
  expect(text).toMatch(/decode with n steps in flight \(decodeAhead\), ms\/token: n=1 \d+\.\d+, n=2 \d+\.\d+, n=4 \d+\.\d+, n=8 \d+\.\d+/);
  expect(text).toContain('The bar:');
  console.log(`demo bench page:\n${text.split('\n').slice(0, 6).join('\n')}`);
});
