// Decode attention's reads against the number of heads (issue: every head used to re-read the whole
// latent cache; mla_attend_heads re-reads it once per 16 heads, the latent GEMM twice whatever the heads).
// The first test counts the cache values each decode kernel reads in one step with the kernels' counting
// build (kernels/mla-reads.ts; the latent GEMM at V3's widths, R 512 and rope 64) and checks them against
// what each kernel's description says it reads (docs/kernels.md#counted-cache-reads). The second, a probe, prints per kernel,
// cache format and head count the GPU time of one step over a 1024-position context, the counted reads and
// the bytes loaded (computed from the layout, labelled so), and checks only that every kernel ran and was
// timed: on a software adapter the work is arithmetic, which grows with the heads whatever the kernel, and
// on a shared machine the order of the kernels' times flips between runs, so it is not a gate.
import { expect, test } from '@playwright/test';
import type { AttentionProbe, HeadsFigure, LatentWidths, ProbeKernel } from './attention/main';

const CONTEXT = 1024;

test('decode attention: counted cache reads at 16 and 128 heads', async ({ page }) => {
  await page.goto('/e2e/attention/index.html');
  await page.evaluate(() => (window as unknown as { attentionProbe: AttentionProbe }).attentionProbe.ready);
  // An odd context: no kernel's tile or split divides it.
  const n = 37;
  const figure = (k: ProbeKernel, h: number, w: LatentWidths) => page.evaluate(([k, h, n, w]) =>
    (window as unknown as { attentionProbe: AttentionProbe }).attentionProbe.measure(k, 'f32', h, n, false, w), [k, h, n, w] as const);
  const count = async (k: ProbeKernel, h: number, w: LatentWidths) => (await figure(k, h, w)).cacheValuesCounted;
  // The latent GEMM: every visible row whole for the scores, then its latent part for the values, once for
  // all heads (one row group holds up to 128 rows): the same count at 16 and 128 heads. At V3's widths, the
  // claim of docs/kernels.md#latent-gemm. An f32 cache only: the kernels read the f16 and fp8 formats
  // through the same cache_value calls (one call per value whatever the format; the probe below counts
  // every format), and each further latent GEMM build costs 10 s of compiling here.
  const v3 = { R: 512, ROPE: 64 };
  for (const heads of [16, 128]) expect(await count('latent-gemm', heads, v3), `latent-gemm ${heads} heads`).toBe(n * (2 * v3.R + v3.ROPE));
  // The rest at narrow widths (the count's form does not depend on them).
  const w = { R: 24, ROPE: 8 }, row = w.R + w.ROPE;
  for (const heads of [16, 128]) {
    // mla_attend_heads: every visible row whole, once per group of heads (as many heads as its workgroup
    // holds: 16 at V3's widths, 64 at these).
    const heads_ = await figure('heads', heads, w);
    expect(heads_.cacheValuesCounted, `heads ${heads} heads`).toBe(heads_.headGroups * n * row);
    expect(heads_.headGroups, `heads ${heads} heads`).toBe(Math.ceil(heads / 64));
    // A workgroup (or an invocation) per head: each head reads every row whole, then its latent part again.
    expect(await count('per-head', heads, w), `per-head ${heads} heads`).toBe(heads * n * (row + w.R));
    expect(await count('row', heads, w), `row ${heads} heads`).toBe(heads * n * (row + w.R));
  }
});

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
  console.log('kernel       cache  heads        ms   cache values/step (counted)   cache MiB/step (computed)   all MiB/step (computed)   scores MiB (computed)');
  for (const f of figures) {
    console.log(`${f.kernel.padEnd(12)} ${f.format.padEnd(5)} ${String(f.heads).padStart(6)} ${f.ms!.toFixed(2).padStart(9)} ${String(f.cacheValuesCounted).padStart(27)} ${mib(f.cacheBytesComputed).padStart(27)} ${mib(f.totalBytesComputed).padStart(25)} ${mib(f.scoresBytesComputed).padStart(23)}`);
  }
  const at = (k: ProbeKernel, fmt: string, h: number) => figures.find((f) => f.kernel === k && f.format === fmt && f.heads === h)!;
  for (const h of [16, 128]) {
    console.log(`${h} heads: per-head / heads time ${(at('per-head', 'f32', h).ms! / at('heads', 'f32', h).ms!).toFixed(2)}×, heads / latent-gemm ${(at('heads', 'f32', h).ms! / at('latent-gemm', 'f32', h).ms!).toFixed(2)}×`);
  }
  for (const f of figures) expect(f.ms, `${f.kernel} ${f.format} ${f.heads} heads`).toBeGreaterThan(0);
});
