// Builds what scripts/gpu-bench.sh carries to a GPU machine that has no internet and no node_modules
// (packages/cli/BENCH.md#on-a-gpu-machine-without-internet): the CLI bundled into one file by Vite's SSR
// build (the repository's aliases and ?raw WGSL imports, every package inlined; Chromium, Playwright and
// Vite itself left out, since only --runtime node runs there), Dawn's Node addon, and this machine's Node.
// Usage: node scripts/gpu-bench/pack.mjs <out dir>
import { copyFileSync, mkdirSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const out = resolve(process.argv[2] ?? join(root, '.gpu-bench'));
const here = (p) => join(root, p);
// What the bundle must not contain: the browser path's packages. A stub that throws if anything calls it.
const stub = join(out, 'stub.mjs');
mkdirSync(out, { recursive: true });
writeFileSync(stub, "const missing = () => { throw new Error('not carried by scripts/gpu-bench.sh: only --runtime node runs here'); };\n"
  + 'export const chromium = { launch: missing }; export const createServer = missing; export default {};\n');

await build({
  configFile: false,
  root,
  logLevel: 'warn',
  resolve: {
    alias: [
      { find: /^webmoe$/, replacement: here('packages/webmoe/src/index.ts') },
      { find: /^webmoe\/model$/, replacement: here('packages/webmoe/src/model/index.ts') },
      { find: /^@playwright\/test$/, replacement: stub },
      { find: /^vite$/, replacement: stub },
    ],
  },
  ssr: { noExternal: true, external: ['webgpu'] },
  build: {
    ssr: here('packages/cli/src/bundle-entry.ts'),
    // The CLI finds the checkout at WEBMOE_REPO_ROOT, which gpu-bench.sh sets (this folder lies deeper than packages/cli/src).
    outDir: join(out, 'app/cli/bin'),
    emptyOutDir: true,
    target: 'node20',
    minify: false,
    rollupOptions: { output: { entryFileNames: 'webmoe.mjs', codeSplitting: false } },
  },
});

// Dawn's addon as the npm package lays it out, beside the bundle's node_modules lookup.
const require = createRequire(join(root, 'packages/cli/package.json'));
const pkgDir = dirname(require.resolve('webgpu/package.json'));
const dawnOut = join(out, 'app/node_modules/webgpu');
mkdirSync(join(dawnOut, 'dist/linux-x64'), { recursive: true });
for (const f of ['package.json', ...['index.js', 'index.mjs', 'webgpu.js', 'dist/index.js', 'dist/index.mjs'].filter((f) => existsSync(join(pkgDir, f)))]) {
  mkdirSync(dirname(join(dawnOut, f)), { recursive: true });
  copyFileSync(join(pkgDir, f), join(dawnOut, f));
}
copyFileSync(join(pkgDir, 'dist/linux-x64/dawn.node'), join(dawnOut, 'dist/linux-x64/dawn.node'));
console.log(`packed ${out}: bundle ${(statSync(join(out, 'app/cli/bin/webmoe.mjs')).size / 2 ** 20).toFixed(1)} MiB`);
