// Decode attention at V3's widths (kv_lora_rank 512, rope 64) over one context at 16 and 128 heads:
// GPU time per step of each kernel (timestamp queries where the adapter has them, else wall time to
// the queue's completion), the latent cache values each kernel reads per step, counted by the kernel's
// counting build (kernels/mla-reads.ts), and the bytes it loads from global memory per step, computed from
// its launch layout (kernels/mla.ts headsPlan, latentGemmPlan) and labelled so. Driven by
// e2e/attention-heads.spec.ts.
import { adapterName, acquireGpu, countCacheReads, createKernelContext, createRng, headsPlan, latentCacheLayout, latentGemmPlan, mlaAttention, timeDispatches, type KvCacheFormat, type MlaAttentionArgs } from 'webmoe';

export type ProbeKernel = 'heads' | 'latent-gemm' | 'per-head' | 'row';

export interface HeadsFigure {
  kernel: ProbeKernel;
  format: KvCacheFormat;
  heads: number;
  context: number;
  /** GPU time of one step; null when only counted. */
  ms: number | null;
  timestamps: boolean;
  /** Counted: latent cache values read in one step (each read of `cache_value` once). */
  cacheValuesCounted: number;
  /** mla_attend_heads' groups of heads (headsPlan); 0 for the other kernels. */
  headGroups: number;
  /** Computed: cache bytes the kernel loads from global memory in one step (a GPU's caches may serve repeats). */
  cacheBytesComputed: number;
  /** Computed: cache + queries + partial records + scores + output. */
  totalBytesComputed: number;
  /** Computed: the latent GEMM's score scratch (written once, read by the values pass); 0 for the others. */
  scoresBytesComputed: number;
}

/** kv_lora_rank and qk_rope_head_dim. */
export interface LatentWidths {
  R: number;
  ROPE: number;
}

export interface AttentionProbe {
  ready: Promise<string>;
  /** `time` false: count the cache reads only (the test's cheap path). Widths: V3's unless given. */
  measure(kernel: ProbeKernel, format: KvCacheFormat, heads: number, context: number, time?: boolean, widths?: LatentWidths): Promise<HeadsFigure>;
}

const gpuPromise = acquireGpu();

async function measure(kernel: ProbeKernel, format: KvCacheFormat, heads: number, context: number, time = true, { R, ROPE }: LatentWidths = { R: 512, ROPE: 64 }): Promise<HeadsFigure> {
  const ROW = R + ROPE;
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
      kernel: kernel === 'row' ? undefined : kernel,
    };
    const ms = time ? await timeDispatches(device, mlaAttention(ctx, args, `probe:${kernel}`)) : null;
    const counted = await countCacheReads(ctx, (c) => mlaAttention(c, args, `count:${kernel}`));
    const n = context;
    const rowBytes = layout.rowWords * 4;
    const qBytes = heads * ROW * 4, outBytes = heads * R * 4;
    let cacheBytes: number, total: number, scoresBytes = 0, headGroups = 0;
    const partialBytes = (splits: number) => (splits > 1 ? 2 * splits * heads * (R + 2) * 4 : 0);
    if (kernel === 'latent-gemm') {
      const plan = latentGemmPlan(device.limits, layout, heads, 1);
      // Scores: whole rows once per row group. Values: each slice its columns' words (fp8: and the row's scale).
      const latentWords = format === 'f32' ? R : format === 'f16' ? R / 2 : R / 4 + plan.slices;
      cacheBytes = n * (plan.rowGroups * rowBytes + latentWords * 4);
      scoresBytes = heads * n * 4;
      // Every score workgroup reads the queries; every values workgroup its rows' scores twice (max and sum, then weights).
      const scoreGroups = Math.ceil(n / (8 * plan.positionBlocks));
      total = cacheBytes + scoreGroups * qBytes + scoresBytes * (1 + 2 * plan.slices) + partialBytes(plan.splits) + outBytes;
    } else if (kernel === 'heads') {
      const plan = headsPlan(device.limits, layout, heads, 1);
      cacheBytes = plan.groups * n * rowBytes;
      headGroups = plan.groups;
      total = cacheBytes + plan.splits * qBytes + partialBytes(plan.splits) + outBytes;
    } else {
      // Per head: every visible row for its score, then the row's latent part again for the output.
      cacheBytes = heads * n * (rowBytes + (layout.rowWords * R / ROW) * 4);
      total = cacheBytes + qBytes + outBytes;
    }
    return { kernel, format, heads, context, ms, timestamps: device.features.has('timestamp-query'), cacheValuesCounted: counted, headGroups, cacheBytesComputed: cacheBytes, totalBytesComputed: total, scoresBytesComputed: scoresBytes };
  } finally {
    for (const b of made) b.destroy();
  }
}

const api: AttentionProbe = {
  ready: gpuPromise.then((g) => adapterName(g.summary)),
  measure,
};
(window as unknown as { attentionProbe: AttentionProbe }).attentionProbe = api;
