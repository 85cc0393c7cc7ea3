// `webmoe serve` as a child process, for tests that need a real OpenAI-compatible server (the cli's own
// serve tests, the demo's remote backend in e2e): Node's Dawn on SwiftShader, a free port, and the /v1
// address once the model is loaded.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './browser';
import { SWIFTSHADER_ICD } from './node-runtime';

export { SWIFTSHADER_ICD };

export interface ServeProcess {
  readonly child: ChildProcess;
  /** The API's base URL, `/v1` included; rejects with the server's stderr when it exits first. */
  readonly baseURL: Promise<string>;
}

/** Starts `webmoe serve --model <model> --port 0` (model: a folder, relative to the repository or absolute). */
export function startServeProcess(model: string): ServeProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'packages/cli/src/main.ts'), 'serve', '--model', model, '--port', '0'], {
    cwd: REPO_ROOT, env: { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => (stderr += b.toString()));
  const baseURL = new Promise<string>((resolve, reject) => {
    child.stdout?.on('data', (b: Buffer) => {
      const m = /(http:\/\/\S+\/v1)/.exec(b.toString());
      if (m) resolve(m[1]);
    });
    child.on('exit', (code) => reject(new Error(`webmoe serve exited (${code}): ${stderr}`)));
  });
  return { child, baseURL };
}
