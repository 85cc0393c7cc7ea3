import { chromium } from '@playwright/test';
const [family, filter] = process.argv.slice(2);
const b = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--enable-unsafe-webgpu','--no-sandbox','--disable-quic','--no-first-run','--disable-background-networking','--disable-component-update','--disable-sync'] });
const pg = await b.newPage();
pg.on('pageerror', (e) => console.log('pageerror', e.message));
await pg.goto('http://localhost:5182/e2e/harness/index.html');
await pg.evaluate(() => window.webmoeHarness.ready);
const names = await pg.evaluate((f) => window.webmoeHarness.list(f), family);
let total = 0;
for (const n of names) {
  if (filter && !n.includes(filter)) continue;
  const r = await pg.evaluate(([f, n]) => window.webmoeHarness.run(f, n), [family, n]);
  total += r.ms;
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.ms.toFixed(0).padStart(7)} ms ${n} ${r.ok ? '' : r.summary}`);
  if (process.env.SUMMARY) console.log('     ', r.summary);
}
console.log('total ms', total.toFixed(0));
await b.close();
