// Harness pages kept open for the worker's life, one per harness, shared by every test (of any spec file)
// that asks for it. A page's first model load compiles the engine's pipelines on a new GPU device (10-15 s
// on SwiftShader, more than the check itself in most tests); later loads in the same page reuse those of
// the same shapes (one pipeline cache per device). Each test still loads its own model, so no test depends
// on another's state; and Playwright ends the worker after a failed test, so the next one starts on fresh
// pages.
import { test as base, type Page } from '@playwright/test';
import { sharedRuns } from './webmoe-run';

/** Calls `fn` in the page on its harness object `window[global]`, with `arg`. */
export type HarnessCall<H> = <R>(fn: (m: H, a: any) => Promise<R>, arg?: unknown) => Promise<R>;

/** The open page of the harness at `path`, which sets `window[global]`; opened on first use. */
export type HarnessPages = <H>(path: string, global: string) => Promise<HarnessCall<H>>;

/**
 * The worker's `webmoe run --batch` of `name` (lib/webmoe-run.ts sharedRuns), made by the first caller's
 * `prepare`: spec files that share a batch share one process. A worker fixture, as the pages are: a module's
 * own state is not shared between spec files.
 */
export type SharedBatches = (name: string, prepare: () => Promise<string[][]>) => <R>(i: number) => Promise<R>;

export function harnessCall<H>(page: Page, global: string): HarnessCall<H> {
  return <R>(fn: (m: H, a: any) => Promise<R>, arg?: unknown) =>
    page.evaluate(([src, g, a]) => new Function('m', 'a', `return (${src})(m, a)`)((window as any)[g], a), [fn.toString(), global, arg] as const) as Promise<R>;
}

// Every fixture here is a worker fixture of this one `test`: Playwright runs the spec files whose worker
// fixtures are the same in one worker, so every file that uses this `test` shares its pages and batches.
export const test = base.extend<object, { harnessPages: HarnessPages; sharedBatches: SharedBatches }>({
  harnessPages: [async ({ browser }, use, workerInfo) => {
    const pages = new Map<string, Promise<Page>>();
    const open = async (path: string) => {
      // The test-scoped options do not reach a worker fixture's pages: the server's address by hand.
      const page = await browser.newPage({ baseURL: workerInfo.project.use.baseURL });
      page.on('pageerror', (e) => console.error(`[page] ${e.message}`));
      await page.goto(path);
      return page;
    };
    await use(async <H>(path: string, global: string) => {
      let page = pages.get(path);
      if (!page) pages.set(path, (page = open(path)));
      // A page may host several harnesses, each its own module script setting its own global.
      await (await page).waitForFunction((g) => g in window, global);
      return harnessCall<H>(await page, global);
    });
    for (const page of pages.values()) await (await page).close();
  }, { scope: 'worker' }],
  // eslint-disable-next-line no-empty-pattern
  sharedBatches: [async ({}, use) => {
    const batches = new Map<string, <R>(i: number) => Promise<R>>();
    await use((name, prepare) => {
      let runs = batches.get(name);
      if (!runs) batches.set(name, (runs = sharedRuns(prepare)));
      return runs;
    });
  }, { scope: 'worker' }],
});
