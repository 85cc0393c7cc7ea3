// The chat demo switched to the remote backend (createEngine({ remote })): `?remote=<base URL>&remoteModel=<id>`
// makes the page talk to a real `webmoe serve` process (the bundled model on Node's Dawn, SwiftShader), which
// streams the reply as server-sent events; the page itself downloads no weight.
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect, test } from '@playwright/test';
import { SWIFTSHADER_ICD, startServeProcess } from '@webmoe/cli/serve-process';

let server: ChildProcess | null = null;

test.afterAll(() => {
  server?.kill();
});

test('demo: chats with a webmoe serve endpoint through the remote backend, streaming', async ({ page }) => {
  test.skip(!existsSync(SWIFTSHADER_ICD), `${SWIFTSHADER_ICD} is absent (install Debian's chromium)`);
  test.setTimeout(180_000);
  const t0 = Date.now();
  const serve = startServeProcess('demo/public/models/webmoe-tiny');
  server = serve.child;
  const baseURL = await serve.baseURL;
  const startMs = Date.now() - t0;
  const weights: string[] = [];
  page.on('request', (r) => /\/shard-\d+\.bin|\.gguf/.test(r.url()) && weights.push(r.url()));
  page.on('pageerror', (e) => console.error(`[page] ${e.message}`));

  await page.goto(`/?remote=${encodeURIComponent(baseURL)}&remoteModel=webmoe-tiny`);
  await expect(page.getByRole('status')).toHaveText('Ready', { timeout: 60_000 });
  await expect(page.locator('#model-name')).toHaveText('webmoe-tiny');
  await expect(page.getByRole('progressbar')).toHaveAttribute('aria-valuetext', new RegExp(`Connected to ${baseURL.replace(/[.]/g, '\\.')}`));
  await expect(page.getByLabel('Server URL')).toHaveValue(baseURL);

  // Record the reply's length at every DOM change: a streamed reply grows over several steps.
  await page.evaluate(() => {
    const w = window as unknown as { lengths: number[] };
    w.lengths = [];
    new MutationObserver(() => {
      const all = document.querySelectorAll('[data-role="assistant"]');
      w.lengths.push(all[all.length - 1]?.textContent?.length ?? 0);
    }).observe(document.getElementById('messages')!, { subtree: true, childList: true, characterData: true });
  });
  await page.getByLabel('Max tokens').fill('16');
  await page.getByLabel('Temperature').fill('0');
  await page.getByRole('textbox', { name: 'Message' }).fill('Tell me about light.');
  const t1 = Date.now();
  await page.getByRole('button', { name: 'Send' }).click();
  const reply = page.locator('[data-role="assistant"]').last();
  await expect(reply.locator('xpath=..')).toHaveAttribute('data-finish', /^(stop|length)$/, { timeout: 60_000 });
  const text = (await reply.textContent()) ?? '';
  const lengths = await page.evaluate(() => (window as unknown as { lengths: number[] }).lengths);
  const growing = [...new Set(lengths.filter((n) => n > 0))];
  console.log(`  demo → webmoe serve: server up in ${startMs} ms; reply ${JSON.stringify(text)} in ${Date.now() - t1} ms, ${growing.length} lengths while streaming`);
  expect(text.trim().length).toBeGreaterThan(0);
  expect(growing.length, `reply lengths seen while streaming: ${lengths.join(' ')}`).toBeGreaterThanOrEqual(3);
  expect(weights, 'the page downloads no weight').toEqual([]);
});
