// The benchmark's limits and its profiler, run on the page's GPU:
// - readProbe: the simplest streaming read (probes.wgsl) over as many bytes as a decode step reads;
// - probe (c), readProbeMs with `parts`: the same read split over as many dispatches as the decode step
//   makes, each waiting for the one before (the floor of a step of that many dispatches on this adapter);
// - weightsProbe: the model's own matmul dispatches of a decode step (every weight it reads, in its format,
//   dequantized and accumulated by the engine's kernels) without the rest of the model, plus a streaming
//   read of the KV rows the step's attention reads;
// - profile: time per dispatch label from timestamp queries, in a separate run (one pass per dispatch).
import { createStorage, createUniform, ParamsWriter, recordDispatches, type Dispatch } from 'webmoe';
import source from './probes.wgsl?raw';

const WG = 64;

/**
 * Time per submission of one compute pass that `record` fills: `wall`, the median milliseconds from submit to the
 * queue's completion (what a caller waits); `gpu`, the median milliseconds between timestamps written at the
 * pass's beginning and end (the GPU's own time, without submission and wake-up latency; null without the
 * timestamp-query feature). `repeats` timed submissions after one warm-up.
 */
export async function timeSubmissions(device: GPUDevice, record: (pass: GPUComputePassEncoder) => void, repeats: number): Promise<{ wall: number; gpu: number | null }> {
  const stamped = device.features.has('timestamp-query');
  const querySet = stamped ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = stamped ? device.createBuffer({ label: 'probe:resolve', size: 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC }) : null;
  const read = stamped ? device.createBuffer({ label: 'probe:stamps', size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST }) : null;
  const wall: number[] = [];
  const gpu: number[] = [];
  try {
    for (let i = 0; i <= repeats; i++) {
      const t = performance.now();
      const encoder = device.createCommandEncoder({ label: 'probe' });
      const pass = encoder.beginComputePass({ label: 'probe', ...(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {}) });
      record(pass);
      pass.end();
      if (querySet) encoder.resolveQuerySet(querySet, 0, 2, resolve!, 0);
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      if (i > 0) wall.push(performance.now() - t);
      if (read) {
        // Copied after the wall time is taken, so that the stamps' readback costs the wall figure nothing.
        const copy = device.createCommandEncoder({ label: 'probe:stamps' });
        copy.copyBufferToBuffer(resolve!, 0, read, 0, 16);
        device.queue.submit([copy.finish()]);
        await read.mapAsync(GPUMapMode.READ);
        const [a, b] = new BigUint64Array(read.getMappedRange().slice(0));
        read.unmap();
        if (i > 0 && b > a) gpu.push(Number(b - a) / 1e6);
      }
    }
  } finally {
    querySet?.destroy();
    resolve?.destroy();
    read?.destroy();
  }
  return { wall: median(wall), gpu: gpu.length ? median(gpu) : null };
}

export function median(v: readonly number[]): number {
  if (!v.length) return NaN;
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export interface ReadProbe {
  /**
   * Dispatches that read `bytes` bytes once: one or more over a buffer no larger than the binding limit, or
   * with `parts`, that many, each the next slice of the buffer (consecutive parts read consecutive bytes).
   */
  dispatches(bytes: number, parts?: number): Dispatch[];
  destroy(): void;
}

/**
 * A streaming reader over a buffer of up to `maxBytes` (larger requests re-read it), in one shape:
 * 'chunks' (contiguous run per invocation) or 'strided' (coalesced).
 */
export function createReadProbe(device: GPUDevice, maxBytes: number, shape: 'chunks' | 'strided'): ReadProbe {
  const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
  const size = Math.max(16, Math.min(Math.ceil(maxBytes / 16) * 16, Math.floor(limit / 16) * 16));
  // The contents do not matter; zero-filled memory is still read.
  const src = createStorage(device, 'probe:src', size);
  const invocations = shape === 'chunks' ? 1024 : 65536;
  const sink = createStorage(device, 'probe:sink', invocations * 4);
  const module = device.createShaderModule({ label: 'probes', code: source });
  const pipeline = device.createComputePipeline({
    label: `probes/${shape}`, layout: 'auto',
    compute: { module, entryPoint: shape === 'chunks' ? 'read_chunks' : 'read_strided', constants: { WG } },
  });
  const uniforms: GPUBuffer[] = [];
  const dispatch = (words: number, base = 0): Dispatch => {
    const n = Math.min(invocations, words);
    const u = createUniform(device, 'probe:params', new ParamsWriter().u32(words).u32(n).u32(Math.ceil(words / n)).u32(base));
    uniforms.push(u);
    const bindGroup = device.createBindGroup({
      label: 'probe', layout: pipeline.getBindGroupLayout(0),
      entries: [{ binding: 0, resource: { buffer: src } }, { binding: 1, resource: { buffer: sink } }, { binding: 2, resource: { buffer: u } }],
    });
    const groups = Math.ceil(n / WG);
    return { label: `probe:${shape}`, pipeline, bindGroup, workgroups: [Math.min(groups, 65535), Math.ceil(groups / 65535), 1] };
  };
  return {
    dispatches(bytes, parts) {
      const out: Dispatch[] = [];
      if (parts === undefined) {
        for (let left = Math.ceil(bytes / 16) * 16; left > 0; left -= size) out.push(dispatch(Math.min(left, size) / 16));
        return out;
      }
      // A slice that would run past the buffer starts again at its beginning.
      const total = Math.ceil(bytes / 16), bufferWords = size / 16, per = Math.max(1, Math.min(Math.ceil(total / parts), bufferWords));
      for (let k = 0, at = 0; k < parts; k++, at += per) {
        if (at + per > bufferWords) at = 0;
        out.push(dispatch(per, at));
      }
      return out;
    },
    destroy() {
      src.destroy();
      sink.destroy();
      for (const u of uniforms) u.destroy();
    },
  };
}

/**
 * Probe (a): the streaming read over `bytes` in both shapes, ms per step: `ms` the faster wall time and its
 * shape, `gpuMs` the faster GPU time between timestamps (null without timestamp-query). With `parts`, probe
 * (c): the same bytes read by a chain of that many dispatches in one pass, each after the one before (they
 * share the sink they write): what a step of that many dispatches cannot go below on this adapter.
 */
export async function readProbeMs(device: GPUDevice, bytes: number, repeats: number, parts?: number): Promise<{ ms: number; shape: string; gpuMs: number | null }> {
  let best = { ms: Infinity, shape: '', gpuMs: null as number | null };
  for (const shape of ['chunks', 'strided'] as const) {
    const probe = createReadProbe(device, bytes, shape);
    try {
      const list = probe.dispatches(bytes, parts);
      const t = await timeSubmissions(device, (pass) => recordDispatches(pass, list), repeats);
      if (t.wall < best.ms) best = { ...best, ms: t.wall, shape };
      if (t.gpu !== null && (best.gpuMs === null || t.gpu < best.gpuMs)) best.gpuMs = t.gpu;
    } finally {
      probe.destroy();
    }
  }
  return best;
}

/**
 * A decode plan replayed in one compute pass between two timestamps: the GPU's time for the step's kernels
 * (its wall time adds submission, the sampler's 4-byte readback and waking the caller). Null without
 * timestamp-query.
 */
export async function planGpuMs(device: GPUDevice, plan: readonly Dispatch[], repeats: number): Promise<number | null> {
  return (await timeSubmissions(device, (pass) => recordDispatches(pass, plan), repeats)).gpu;
}

/** The dispatches of a decode plan that touch weights: the matmul family (matmuls and the embedding row gather). */
export function weightDispatches(plan: readonly Dispatch[]): Dispatch[] {
  // Pipeline labels start with their composed source: matmul-dense+dequant-q4/…, gather-rows+dequant-bf16/….
  return plan.filter((d) => /^(matmul-|gather-rows)/.test(d.pipeline.label));
}

/** Probe (b): the decode step's weight kernels alone, plus a streaming read of `kvBytes`; ms per step. */
export async function weightsProbeMs(device: GPUDevice, plan: readonly Dispatch[], kvBytes: number, repeats: number): Promise<number> {
  const kv = createReadProbe(device, kvBytes, 'chunks');
  try {
    const list = [...weightDispatches(plan), ...kv.dispatches(kvBytes)];
    return (await timeSubmissions(device, (pass) => recordDispatches(pass, list), repeats)).wall;
  } finally {
    kv.destroy();
  }
}

export interface KernelTime {
  /** Dispatch label without its layer prefix ("L3.q_a" → "q_a"). */
  kernel: string;
  /** Milliseconds per decode step, summed over layers. */
  ms: number;
  launches: number;
  /** The pipelines the label ran: kernel/entry point/variant. */
  variants: string[];
}

/** The kernel group of a dispatch label: "L12.experts_down" → "experts_down", "L0.mla:attend" → "mla:attend". */
export function kernelGroup(label: string): string {
  return label.replace(/^L\d+\./, '');
}

/** The pipeline's kernel, entry point and variant, without its override constants. */
export function variantOf(d: Dispatch): string {
  return d.pipeline.label.replace(/\{.*\}$/, '');
}

/**
 * Time per kernel group of `plan` from timestamp queries: every dispatch in its own compute pass with
 * beginning and end timestamps, one submission. Null without the timestamp-query feature.
 */
export async function profileDispatches(device: GPUDevice, plan: readonly Dispatch[]): Promise<KernelTime[] | null> {
  if (!device.features.has('timestamp-query')) return null;
  const count = plan.length * 2;
  const querySet = device.createQuerySet({ type: 'timestamp', count });
  const resolve = device.createBuffer({ label: 'profile:resolve', size: count * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ label: 'profile:read', size: count * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder({ label: 'profile' });
    plan.forEach((d, i) => {
      const pass = encoder.beginComputePass({ label: d.label, timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
      recordDispatches(pass, [d]);
      pass.end();
    });
    encoder.resolveQuerySet(querySet, 0, count, resolve, 0);
    encoder.copyBufferToBuffer(resolve, 0, read, 0, count * 8);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const ts = new BigUint64Array(read.getMappedRange().slice(0));
    read.unmap();
    const groups = new Map<string, KernelTime>();
    plan.forEach((d, i) => {
      const ns = ts[2 * i + 1] > ts[2 * i] ? Number(ts[2 * i + 1] - ts[2 * i]) : 0;
      const key = kernelGroup(d.label);
      const g = groups.get(key) ?? { kernel: key, ms: 0, launches: 0, variants: [] };
      g.ms += ns / 1e6;
      g.launches += 1;
      const v = variantOf(d);
      if (!g.variants.includes(v)) g.variants.push(v);
      groups.set(key, g);
    });
    return [...groups.values()].sort((a, b) => b.ms - a.ms);
  } finally {
    querySet.destroy();
    resolve.destroy();
    read.destroy();
  }
}
