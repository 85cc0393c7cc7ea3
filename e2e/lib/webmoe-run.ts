// `pnpm webmoe run` from the specs. sharedRuns: several requests through one `webmoe run --batch` process,
// one headless Chromium page, so that the engine's pipelines are compiled once on its GPU device instead of
// once per process; each request still loads its own model and gets its own result.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

/** One `webmoe run` process with these arguments; its stdout (rejects with stderr on a non-zero exit). */
export const webmoeRun = (args: string[]) => run('pnpm', ['-s', 'webmoe', 'run', ...args], { cwd: root, maxBuffer: 64 << 20 });

interface RunErrorLine {
  error: { code: string; message: string };
}

/**
 * Request i's result of one batch of `webmoe run` requests (argument arrays, from `prepare`), run when first
 * asked for: the specs' tests share the batch, and each reads its own line (a failed request throws its error
 * in the test that reads it). A worker restarted after a failed test runs the batch again.
 */
export function sharedRuns(prepare: () => Promise<string[][]>): <R>(i: number) => Promise<R> {
  let lines: Promise<unknown[]> | null = null;
  const batch = async () => {
    const requests = await prepare();
    const dir = mkdtempSync(join(tmpdir(), 'webmoe-batch-'));
    try {
      writeFileSync(join(dir, 'batch.json'), JSON.stringify(requests));
      // A failed request makes the exit status 1 after every line is printed: the lines are the results.
      const { stdout, stderr } = await webmoeRun(['--batch', join(dir, 'batch.json')])
        .catch((e: { stdout?: string; stderr?: string }) => ({ stdout: e.stdout ?? '', stderr: e.stderr ?? String(e) }));
      const out = stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as unknown);
      if (out.length !== requests.length) throw new Error(`webmoe run --batch printed ${out.length} lines for ${requests.length} requests: ${stderr}`);
      return out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  return async <R>(i: number) => {
    const line = (await (lines ??= batch()))[i] as R | RunErrorLine;
    if (line && typeof line === 'object' && 'error' in line) throw new Error(`webmoe run request ${i + 1}: ${line.error.code}: ${line.error.message}`);
    return line as R;
  };
}
