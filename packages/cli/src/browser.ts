// Runs a page of this repository in headless Chromium with WebGPU, served by Vite's dev server (the
// same modules a browser loads), with local folders (models) mounted under URL prefixes.
import { createReadStream, statSync } from 'node:fs';
import { join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { chromium, type Browser, type Page } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import { CHROMIUM_ARGS, chromiumPath } from './chromium';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

export interface BrowserSession {
  page: Page;
  baseUrl: string;
  close(): Promise<void>;
}

export interface SessionOptions {
  /** URL prefix (e.g. "/__model/") → local folder served read-only under it. */
  mounts?: Record<string, string>;
  /** Page to open, relative to the repository root, e.g. "packages/cli/page/run.html". */
  page: string;
  /** Page console lines go here (the CLI sends them to stderr when --verbose). */
  onConsole?: (line: string) => void;
}

const TYPES: Record<string, string> = { '.json': 'application/json', '.bin': 'application/octet-stream', '.safetensors': 'application/octet-stream' };

function serveFolder(prefix: string, dir: string) {
  const root = resolve(dir);
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const url = req.url ?? '';
    if (!url.startsWith(prefix)) return next();
    const rel = decodeURIComponent(url.slice(prefix.length).split('?')[0]);
    const file = normalize(join(root, rel));
    if (file !== root && !file.startsWith(root + sep)) {
      res.statusCode = 403;
      return res.end();
    }
    let size: number;
    try {
      const st = statSync(file);
      if (!st.isFile()) throw new Error('not a file');
      size = st.size;
    } catch {
      res.statusCode = 404;
      return res.end(`not found: ${rel}`);
    }
    const ext = file.slice(file.lastIndexOf('.'));
    res.setHeader('Content-Type', TYPES[ext] ?? 'application/octet-stream');
    res.setHeader('Content-Length', String(size));
    res.setHeader('Cache-Control', 'no-store');
    createReadStream(file).pipe(res);
  };
}

/** Vite's dev server over the repository with `mounts` (port 0: any free port). */
export async function startPageServer(mounts: Record<string, string> = {}, port = 0): Promise<{ server: ViteDevServer; baseUrl: string }> {
  const server = await createServer({
    configFile: join(REPO_ROOT, 'vite.config.ts'),
    root: REPO_ROOT,
    logLevel: 'error',
    server: { port, host: 'localhost', strictPort: port !== 0, hmr: false },
    plugins: [{
      name: 'webmoe-mounts',
      configureServer(s) {
        for (const [prefix, dir] of Object.entries(mounts)) s.middlewares.use(serveFolder(prefix, dir));
      },
    }],
  });
  try {
    await server.listen();
    const address = server.httpServer?.address();
    if (!address || typeof address === 'string') throw new Error('the Vite server has no TCP address');
    return { server, baseUrl: `http://localhost:${address.port}` };
  } catch (e) {
    await server.close().catch(() => undefined);
    throw e;
  }
}

export async function openBrowserSession(opts: SessionOptions): Promise<BrowserSession> {
  let server: ViteDevServer | null = null;
  let browser: Browser | null = null;
  try {
    const started = await startPageServer(opts.mounts);
    server = started.server;
    const baseUrl = started.baseUrl;
    browser = await chromium.launch({ executablePath: chromiumPath(), args: [...CHROMIUM_ARGS] });
    const page = await browser.newPage();
    if (opts.onConsole) {
      page.on('console', (m) => opts.onConsole!(`[page] ${m.text()}`));
      page.on('pageerror', (e) => opts.onConsole!(`[page error] ${e.message}`));
    }
    await page.goto(`${baseUrl}/${opts.page}`);
    const b = browser, s = server;
    return {
      page,
      baseUrl,
      async close() {
        await b.close().catch(() => undefined);
        await s.close().catch(() => undefined);
      },
    };
  } catch (e) {
    await browser?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    throw e;
  }
}
