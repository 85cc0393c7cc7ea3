// Counting the latent cache's reads (docs/kernels.md#counted-cache-reads): a diagnostic build of
// shaders/mla.wgsl in which every read through `cache_value` also adds one to a counter, so what an
// attention launch reads from the cache is counted as it runs rather than computed from its layout. Every
// read becomes an atomic add on one word: for measuring, never for serving.
import { createStorage, readBuffer } from '../gpu/buffers';
import type { KernelContext } from '../gpu/kernel-context';
import { PipelineCache, type Dispatch } from '../gpu/pipelines';

// Group 1, so that group 0 keeps the kernels' binding convention (inputs, outputs, params) unchanged.
const COUNTER = `
@group(1) @binding(0) var<storage, read_write> cache_reads: array<atomic<u32>>;

fn cache_value(s: u32, d: u32) -> f32 {
  atomicAdd(&cache_reads[0], 1u);
  return cache_value_uncounted(s, d);
}
`;

/** `code` with its cache_value counting each call; a source without it is returned as it is. */
export function countingCacheReads(code: string): string {
  if (!/^fn cache_value\(/m.test(code)) return code;
  return `${code.replace(/^fn cache_value\(/m, 'fn cache_value_uncounted(')}\n${COUNTER}`;
}

/**
 * The cache values that `build`'s launches read in one run of them, counted. `build` makes its launches on
 * a context whose pipelines are the counting build (a pipeline cache of their own: the serving pipelines
 * stay as they are); launches that never read the cache (the splits' combine) run without the counter.
 */
export async function countCacheReads(ctx: KernelContext, build: (counting: KernelContext) => readonly Dispatch[]): Promise<number> {
  const device = ctx.device;
  const made: GPUBuffer[] = [];
  const counting: KernelContext = {
    ...ctx,
    pipelines: new PipelineCache(device, ctx.pipelines.wgslFeatures, countingCacheReads),
    track: (b) => { made.push(b); ctx.track?.(b); },
  };
  const counter = createStorage(device, 'cache reads', 16);
  try {
    const list = build(counting);
    const groups = await Promise.all(list.map((d) => counterGroup(device, d.pipeline, counter)));
    const encoder = device.createCommandEncoder({ label: 'cache reads' });
    const pass = encoder.beginComputePass({ label: 'cache reads' });
    list.forEach((d, i) => {
      pass.setPipeline(d.pipeline);
      pass.setBindGroup(0, d.bindGroup);
      const group = groups[i];
      if (group) pass.setBindGroup(1, group);
      pass.dispatchWorkgroups(...d.workgroups);
    });
    pass.end();
    device.queue.submit([encoder.finish()]);
    return new Uint32Array(await readBuffer(device, counter, 4))[0];
  } finally {
    counter.destroy();
    if (!ctx.track) for (const b of made) b.destroy();
  }
}

/** The counter bound as group 1 of `pipeline`, or null where the pipeline has no group 1 (it never reads the cache). */
async function counterGroup(device: GPUDevice, pipeline: GPUComputePipeline, counter: GPUBuffer): Promise<GPUBindGroup | null> {
  device.pushErrorScope('validation');
  const group = device.createBindGroup({ label: 'cache reads', layout: pipeline.getBindGroupLayout(1), entries: [{ binding: 0, resource: { buffer: counter } }] });
  return (await device.popErrorScope()) ? null : group;
}
