// Decode attention's cost against the number of heads (issue: every head used to re-read the whole
// latent cache; mla_attend_heads re-reads it once per 16 heads, the latent GEMM twice whatever the heads). Prints, per kernel, cache format and head count, the GPU time of one step over the same
// 1024-position context and the bytes the kernel loads (computed from its layout, labelled so), and
// checks only that every kernel ran and was timed: on a software adapter the work is arithmetic, which
// grows with the heads whatever the kernel, and on a shared machine the order of the kernels' times flips
// between runs (heads/per-head 2.5× one run, 0.8× the next at 16 heads), so it is a probe, not a gate.
import { expect, test } from '@playwright/test';
import type { AttentionProbe, HeadsFigure, ProbeKernel } from './attention/main';

const CONTEXT = 1024;

// Figures, not a check: run with WEBMOE_PROBES=1 to print them (docs/kernels.md).
test('decode attention: time and bytes at 16 and 128 heads', async ({ page }) => {
  test.skip(!process.env.WEBMOE_PROBES, 'set WEBMOE_PROBES=1 to measure');
  test.setTimeout(600_000);
  await page.goto('/e2e/attention/index.html');
  const adapter = await page.evaluate(() => (window as unknown as { attentionProbe: AttentionProbe }).attentionProbe.ready);
  const runs: [ProbeKernel, 'f32' | 'f16' | 'fp8'][] = [['latent-gemm', 'f32'], ['latent-gemm', 'f16'], ['latent-gemm', 'fp8'],
    ['heads', 'f32'], ['heads', 'f16'], ['heads', 'fp8'], ['per-head', 'f32'], ['row', 'f32']];
  const figures: HeadsFigure[] = [];
  for (const heads of [16, 128]) {
    for (const [kernel, format] of runs) {
      figures.push(await page.evaluate(([k, f, h, n]) => (window as unknown as { attentionProbe: AttentionProbe }).attentionProbe.measure(k, f, h, n),
        [kernel, format, heads, CONTEXT] as const));
    }
  }
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  console.log(`adapter: ${adapter}; context ${CONTEXT}, kv_lora_rank 512, rope 64, one decode token; time from ${figures[0].timestamps ? 'timestamp queries' : 'wall clock'}`);
  console.log('kernel       cache  heads        ms   cache MiB/step (computed)   all MiB/step (computed)   scores MiB (computed)');
  for (const f of figures) {
    console.log(`${f.kernel.padEnd(12)} ${f.format.padEnd(5)} ${String(f.heads).padStart(6)} ${f.ms.toFixed(2).padStart(9)} ${mib(f.cacheBytesComputed).padStart(20)} ${mib(f.totalBytesComputed).padStart(25)} ${mib(f.scoresBytesComputed).padStart(23)}`);
  }
  const at = (k: ProbeKernel, fmt: string, h: number) => figures.find((f) => f.kernel === k && f.format === fmt && f.heads === h)!;
  for (const h of [16, 128]) {
    console.log(`${h} heads: per-head / heads time ${(at('per-head', 'f32', h).ms / at('heads', 'f32', h).ms).toFixed(2)}×, heads / latent-gemm ${(at('heads', 'f32', h).ms / at('latent-gemm', 'f32', h).ms).toFixed(2)}×`);
  }
  for (const f of figures) expect(f.ms, `${f.kernel} ${f.format} ${f.heads} heads`).toBeGreaterThan(0);
});
