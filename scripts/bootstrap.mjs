#!/usr/bin/env node
// Makes the two README commands work on a fresh machine with only Node and npm:
// installs the pinned pnpm, the workspace's packages and (for tests) Debian's Chromium, then runs the task.
import { execSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const task = process.argv[2];
const pnpmVersion = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];

function has(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}
function run(cmd, env = {}) {
  console.log(`$ ${cmd}`);
  const r = spawnSync('sh', ['-c', cmd], { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function ensurePnpm() {
  let current = '';
  try { current = execSync('pnpm --version', { encoding: 'utf8' }).trim(); } catch { /* not installed */ }
  if (current !== pnpmVersion) run(`npm install -g --no-fund --no-audit pnpm@${pnpmVersion}`);
}

function ensureInstalled() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  const lock = join(root, 'pnpm-lock.yaml');
  const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
  if (stale) run(`pnpm install ${existsSync(lock) ? '--frozen-lockfile' : ''}`);
}

export function findChromium() {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const c of ['chromium', 'chromium-browser']) {
    if (has(c)) return execSync(`command -v ${c}`, { encoding: 'utf8' }).trim();
  }
  return null;
}

function ensureChromium() {
  if (findChromium()) return;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (isRoot && has('apt-get')) {
    run('apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium', { DEBIAN_FRONTEND: 'noninteractive' });
    if (findChromium()) return;
  }
  console.error(
    'The GPU tests need Debian\'s Chromium (it brings WebGPU through SwiftShader).\n' +
    'Install it with:  sudo apt-get install chromium\n' +
    'or point CHROMIUM_PATH at a Chromium binary with WebGPU.',
  );
  process.exit(1);
}

ensurePnpm();
ensureInstalled();
if (task === 'test') {
  ensureChromium();
  run('pnpm run test:all');
} else if (task === 'demo') {
  run('pnpm run dev');
} else {
  console.error(`usage: node scripts/bootstrap.mjs demo|test (got ${task ?? 'nothing'})`);
  process.exit(2);
}
