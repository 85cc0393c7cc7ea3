// Decode attention at V3's widths (kv_lora_rank 512, rope 64) over one context at 16 and 128 heads:
// GPU time per step of each kernel (timestamp queries where the adapter has them, else wall time to
// the queue's completion) and the bytes each kernel loads from global memory per step, computed from
// its launch layout (kernels/mla.ts headsPlan) and labelled so. Driven by e2e/attention-heads.spec.ts.
import { acquireGpu, createKernelContext, createRng, headsPlan, latentCacheLayout, mlaAttention, timeDispatches, type KvCacheFormat, type MlaAttentionArgs } from 'webmoe';

export type ProbeKernel = 'heads' | 'per-head' | 'row';

export interface HeadsFigure {
  kernel: ProbeKernel;
  format: KvCacheFormat;
  heads: number;
  context: number;
  ms: number;
  timestamps: boolean;
  /** Computed: cache bytes the kernel loads from global memory in one step (a GPU's caches may serve repeats). */
  cacheBytesComputed: number;
  /** Computed: cache + queries + partial records + output. */
  totalBytesComputed: number;
}

export interface AttentionProbe {
  ready: Promise<string>;
  measure(kernel: ProbeKernel, format: KvCacheFormat, heads: number, context: number): Promise<HeadsFigure>;
}

const R = 512, ROPE = 64, ROW = R + ROPE;
const gpuPromise = acquireGpu();

async function measure(kernel: ProbeKernel, format: KvCacheFormat, heads: number, context: number): Promise<HeadsFigure> {
  const gpu = await gpuPromise;
  const device = gpu.device;
  const made: GPUBuffer[] = [];
  const ctx = { ...createKernelContext(gpu), track: (b: GPUBuffer) => made.push(b) };
  const storage = (bytes: number, data?: ArrayBufferView) => {
    const b = device.createBuffer({ size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    if (data) device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    made.push(b);
    return b;
  };
  try {
    const layout = latentCacheLayout({ kvLoraRank: R, qkRopeHeadDim: ROPE }, context, format);
    const rng = createRng(heads + context);
    // Any words will do for timing; f32 and f16 words from small uniform values keep the softmax finite.
    const cacheWords = new Uint32Array(layout.maxContext * layout.rowWords);
    const vals = rng.uniform(cacheWords.length, -1, 1);
    const u = new Uint32Array(vals.buffer);
    for (let i = 0; i < cacheWords.length; i++) cacheWords[i] = format === 'f32' ? u[i] : (u[i] & 0x3bff3bff);
    const args: MlaAttentionArgs = {
      qt: storage(heads * R * 4, rng.uniform(heads * R, -1, 1)),
      qpe: storage(heads * ROPE * 4, rng.uniform(heads * ROPE, -1, 1)),
      cache: storage(layout.bytesPerLayer, cacheWords),
      layout,
      positions: storage(16, new Uint32Array([context - 1, 0, 0, 0])),
      out: storage(heads * R * 4),
      tokens: 1, heads, scale: 0.05,
      shape: kernel === 'row' ? 'row' : 'workgroup',
      tiled: false,
      kernel: kernel === 'heads' ? 'heads' : 'per-head',
    };
    const list = mlaAttention(ctx, args, `probe:${kernel}`);
    const ms = await timeDispatches(device, list);
    const n = context;
    const rowBytes = layout.rowWords * 4;
    const qBytes = heads * ROW * 4, outBytes = heads * R * 4;
    let cacheBytes: number, total: number;
    if (kernel === 'heads') {
      const plan = headsPlan(device.limits, layout, heads, 1);
      cacheBytes = plan.groups * n * rowBytes;
      const partials = plan.splits > 1 ? 2 * plan.splits * heads * (R + 2) * 4 : 0;
      total = cacheBytes + plan.splits * qBytes + partials + outBytes;
    } else {
      // Per head: every visible row for its score, then the row's latent part again for the output.
      cacheBytes = heads * n * (rowBytes + (layout.rowWords * R / ROW) * 4);
      total = cacheBytes + qBytes + outBytes;
    }
    return { kernel, format, heads, context, ms, timestamps: device.features.has('timestamp-query'), cacheBytesComputed: cacheBytes, totalBytesComputed: total };
  } finally {
    for (const b of made) b.destroy();
  }
}

const api: AttentionProbe = {
  ready: gpuPromise.then((g) => `${g.summary.vendor} ${g.summary.architecture} ${g.summary.description}`),
  measure,
};
(window as unknown as { attentionProbe: AttentionProbe }).attentionProbe = api;
