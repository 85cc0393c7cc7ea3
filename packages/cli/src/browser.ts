// Runs a page of this repository in headless Chromium with WebGPU, served by Vite's dev server (the
// same modules a browser loads), with local folders (models) mounted under URL prefixes.
import { createReadStream, statSync } from 'node:fs';
import { join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { chromium, type Browser, type BrowserContext, type Page } from '@playwright/test';
import { createServer, type ViteDevServer } from 'vite';
import { byteRange } from './byte-range';
import { CHROMIUM_ARGS, chromiumPath } from './chromium';

/**
 * The checkout the CLI serves and reads from. The bundle scripts/gpu-bench.sh carries sits deeper than
 * packages/cli/src, so the script names the checkout in WEBMOE_REPO_ROOT.
 */
export const REPO_ROOT = resolve(process.env.WEBMOE_REPO_ROOT || fileURLToPath(new URL('../../..', import.meta.url)));

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
  /**
   * A Chromium profile folder (created if missing): the page's storage lives on disk there, as in a user's
   * browser. Without it the context is a private one, whose IndexedDB lives in memory and refuses writes past
   * about 1.3 GiB whatever the storage estimate says.
   */
  userDataDir?: string;
  /** The page server's port; default any free one. */
  port?: number;
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
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Accept-Ranges', 'bytes');
    // Range requests: a resumed download, and paged experts of a streamed model (docs/paging.md).
    const range = byteRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.statusCode = 416;
      res.setHeader('Content-Range', `bytes */${size}`);
      return res.end();
    }
    if (range) {
      res.statusCode = 206;
      res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${size}`);
      res.setHeader('Content-Length', String(range.end - range.start + 1));
      createReadStream(file, { start: range.start, end: range.end }).pipe(res);
      return;
    }
    res.setHeader('Content-Length', String(size));
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
  let context: BrowserContext | null = null;
  try {
    const started = await startPageServer(opts.mounts, opts.port ?? 0);
    server = started.server;
    const baseUrl = started.baseUrl;
    const launch = { executablePath: chromiumPath(), args: [...CHROMIUM_ARGS] };
    let page: Page;
    if (opts.userDataDir) {
      context = await chromium.launchPersistentContext(opts.userDataDir, launch);
      page = context.pages()[0] ?? await context.newPage();
    } else {
      browser = await chromium.launch(launch);
      page = await browser.newPage();
    }
    if (opts.onConsole) {
      page.on('console', (m) => opts.onConsole!(`[page] ${m.text()}`));
      page.on('pageerror', (e) => opts.onConsole!(`[page error] ${e.message}`));
    }
    await page.goto(`${baseUrl}/${opts.page}`);
    const b = browser, c = context, s = server;
    return {
      page,
      baseUrl,
      async close() {
        await (b ?? c)?.close().catch(() => undefined);
        await s.close().catch(() => undefined);
      },
    };
  } catch (e) {
    await (browser ?? context)?.close().catch(() => undefined);
    await server?.close().catch(() => undefined);
    throw e;
  }
}
