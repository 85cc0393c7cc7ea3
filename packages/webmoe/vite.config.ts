// Library build: the main ESM bundle with the WGSL sources inlined, and `webmoe/model` (no GPU code) beside
// it; declarations come from tsc.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    lib: { entry: { index: 'src/index.ts', model: 'src/model/index.ts' }, formats: ['es'], fileName: (_format, name) => `${name}.js` },
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    rollupOptions: { external: ['comlink', 'idb-keyval', '@huggingface/tokenizers', '@huggingface/jinja'] },
  },
});
