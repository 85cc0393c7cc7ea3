// One Vite server for the demo (served at /), the GPU test harness (/e2e/harness/) and the CLI's
// runner page. `webmoe` and `webmoe/model` resolve to the engine's source so that nothing needs building first.
import { defineConfig } from 'vitest/config';
import type { Plugin } from 'vite';
import { fileURLToPath } from 'node:url';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

/** The demo lives in demo/; serve it at the site root as well. */
function demoAtRoot(): Plugin {
  return {
    name: 'webmoe-demo-at-root',
    apply: 'serve',
    configureServer(server) {
      server.middlewares.use((req, _res, next) => {
        if (req.url === '/' || req.url?.startsWith('/?')) req.url = '/demo/index.html' + req.url.slice(1);
        next();
      });
    },
    // Served at /, the page's relative URLs (./main.ts, ./style.css) must still point into demo/.
    transformIndexHtml: {
      order: 'pre',
      handler: (html, ctx) => (ctx.path === '/demo/index.html' ? html.replace(/(src|href)="\.\//g, '$1="/demo/') : html),
    },
  };
}

// The build's root is demo/ so that the static site has index.html at its top; demo/public/ (the bundled
// default model) is served at the site root in both.
export default defineConfig(({ command }) => ({
  root: command === 'build' ? here('demo') : here('.'),
  base: './',
  publicDir: here('demo/public'),
  plugins: [demoAtRoot()],
  resolve: {
    alias: [
      { find: /^webmoe$/, replacement: here('packages/webmoe/src/index.ts') },
      { find: /^webmoe\/model$/, replacement: here('packages/webmoe/src/model/index.ts') },
    ],
  },
  // Tests set WEBMOE_NO_HMR: a page reload in the middle of a GPU test would lose its state.
  server: { host: 'localhost', ...(process.env.WEBMOE_NO_HMR ? { hmr: false, watch: null } : {}) },
  preview: { host: 'localhost' },
  build: {
    outDir: here('dist/demo'),
    emptyOutDir: true,
    target: 'es2022',
    rollupOptions: { input: { index: here('demo/index.html') } },
  },
  worker: { format: 'es' },
  test: { include: ['packages/**/*.test.ts', 'scripts/**/*.test.ts', 'demo/**/*.test.ts'], environment: 'node', testTimeout: 60_000 },
}));
