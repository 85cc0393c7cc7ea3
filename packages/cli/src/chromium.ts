// How webmoe starts headless Chromium with WebGPU, for the tests and for `webmoe run` alike.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Without the networking flags Chromium keeps dialing Google's hosts, which a closed network refuses. */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
] as const;

export function chromiumPath(): string {
  const fromEnv = process.env.CHROMIUM_PATH;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`CHROMIUM_PATH points at ${fromEnv}, which does not exist.`);
    return fromEnv;
  }
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error("Chromium was not found. Install Debian's package (apt-get install chromium) or set CHROMIUM_PATH.");
}
