// Library build: one ESM bundle with the WGSL sources inlined; declarations come from tsc.
import { defineConfig } from 'vite';

export default defineConfig({
  build: {
    lib: { entry: 'src/index.ts', formats: ['es'], fileName: () => 'index.js' },
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    target: 'es2022',
    rollupOptions: { external: ['comlink', 'idb-keyval', '@huggingface/tokenizers', '@huggingface/jinja'] },
  },
});
