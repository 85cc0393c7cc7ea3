// `webmoe kernels`: the GPU kernel grids (e2e/kernels, every case against its CPU reference) in Node on Dawn,
// on whatever adapter Vulkan offers: here SwiftShader, on a GPU machine its driver (scripts/gpu-bench.sh
// kernels). The browser runs the same cases under Playwright (e2e/kernels.spec.ts); this command exists for
// adapters Chromium here cannot reach, such as one with shader-f16 and a subgroup size of 32.
import { parseArgs, splitList, UsageError } from './args';
import type { GridReport } from '../../../e2e/harness/grid';

const USAGE = `usage: webmoe kernels [--families a,b] [--filter text] [--json] [--list]
  Runs the kernel grids in Node on Dawn (npm webgpu) on the adapter Vulkan offers, every case against its CPU
  reference: the browser harness's families and 'real-width'. --families narrows to some families, --filter to
  cases whose name contains the text; --json prints one JSON object (adapter, features, per-family counts and
  failures) on the last line of standard output; --list prints the families. Exits 1 if a case failed.`;

const SPEC = {
  families: { type: 'string' }, filter: { type: 'string' }, json: { type: 'flag' }, list: { type: 'flag' }, help: { type: 'flag' },
} as const;

/** The grid module's repository path, as the bundle registers it (bundle-entry.ts). */
export const GRID_MODULE = '/e2e/harness/grid.ts';

export async function kernelsCommand(argv: string[]): Promise<void> {
  const { options: o, positionals } = parseArgs(argv, SPEC);
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}\n${USAGE}`);
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const { ensureVulkanLoader, loadRepoModule, nodeGpu } = await import('./node-runtime');
  await ensureVulkanLoader(log);
  const grid = await loadRepoModule<typeof import('../../../e2e/harness/grid')>(GRID_MODULE);
  try {
    if (o.list) {
      process.stdout.write(`${grid.module.GRID_FAMILIES.join('\n')}\n`);
      return;
    }
    const families = typeof o.families === 'string' ? splitList(o.families) : undefined;
    const gpu = await nodeGpu(log);
    const report: GridReport = await grid.module.runKernelGrid({ gpu, families, filter: typeof o.filter === 'string' ? o.filter : undefined, log });
    const a = report.adapter;
    log(`adapter: ${a.vendor} / ${a.architecture} / ${a.description}; features: ${a.features.join(' ')}`);
    const skipped = report.skipped.length ? `; skipped ${report.skipped.map((k) => `${k.family} (${k.reason})`).join(', ')}` : '';
    log(`${report.passed}/${report.total} cases passed in ${(report.ms / 1000).toFixed(1)} s${skipped}`);
    if (o.json) process.stdout.write(`${JSON.stringify({ ...report, dawn_flags: process.env.WEBMOE_DAWN_FLAGS ?? '' })}\n`);
    if (report.passed !== report.total) process.exitCode = 1;
  } finally {
    await grid.close();
  }
}
