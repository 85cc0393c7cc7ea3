// Prefill's matrix products: the workgroup-tiled product_gemm against the register-tiled matmul_tile on
// one prefill-sized product per format (docs/kernels.md#prefill-gemm). Prints the GPU time (timestamp
// queries where the adapter has them) and the weight bytes per second; checks only that both ran and were
// timed: a software adapter's figures say little about a GPU's, so it is a probe, not a gate.
import { expect, test } from '@playwright/test';
import type { PrefillBenchRow } from './kernels/matmul';

// Figures, not a check: run with WEBMOE_PROBES=1 to print them.
test('prefill products: product_gemm against matmul_tile', async ({ page }) => {
  test.skip(!process.env.WEBMOE_PROBES, 'set WEBMOE_PROBES=1 to measure');
  test.setTimeout(600_000);
  await page.goto('/e2e/harness/index.html');
  const size = { rows: Number(process.env.WEBMOE_PREFILL_ROWS ?? 2048), cols: Number(process.env.WEBMOE_PREFILL_COLS ?? 2048), T: 64 };
  const rows: PrefillBenchRow[] = await page.evaluate(async (s) => {
    const path = '/e2e/kernels/matmul.ts';
    const m = (await import(/* @vite-ignore */ path)) as typeof import('./kernels/matmul');
    return m.benchPrefill(s);
  }, size);
  console.log(`prefill product ${size.rows}×${size.cols}, T ${size.T}; time from ${rows[0]?.timestamps ? 'timestamp queries' : 'wall clock'}`);
  console.log('format  entry   first launch ms (compile+run)   ms/launch   weight GB/s');
  for (const r of rows) {
    console.log(`${r.format.padEnd(7)} ${r.prefill.padEnd(7)} ${r.firstMs.toFixed(1).padStart(29)} ${r.ms.toFixed(2).padStart(11)} ${r.gbps.toFixed(3).padStart(13)}`);
  }
  for (const r of rows) expect(r.ms, `${r.format} ${r.prefill}`).toBeGreaterThan(0);
});
