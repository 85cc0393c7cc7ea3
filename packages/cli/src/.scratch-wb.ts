import { openBrowserSession } from './browser';
import { homedir } from 'node:os';
const root = `${homedir()}/.cache/webmoe/bench`;
const session = await openBrowserSession({ page: 'packages/cli/page/bench.html', mounts: { '/__bench/': root }, onConsole: (l) => console.error(l) });
try {
  await session.page.waitForFunction(() => 'webmoeBench' in window);
  const code = process.argv[2];
  const r = await session.page.evaluate(`(async () => { ${code} })()`);
  console.log(typeof r === 'string' ? r : JSON.stringify(r, null, 1));
} finally { await session.close(); }
