// What every kernel launcher needs: the device, the pipeline cache, and which shape of kernel suits
// this adapter. Launchers read `shape` rather than checking the adapter themselves.
import type { GpuContext } from './device';
import { PipelineCache } from './pipelines';
import { createStorage, createUniform, type ParamsWriter } from './buffers';

/**
 * 'workgroup': reductions spread over a workgroup (what real GPUs want).
 * 'row': one invocation per output row (what software adapters running WGSL on the CPU want).
 */
export type KernelShape = 'workgroup' | 'row';

/** The hot kernel families whose shape is chosen per adapter (executor/autotune.ts measures them). */
export type KernelFamily = 'matmul' | 'mla' | 'rmsnorm' | 'router';
export const KERNEL_FAMILIES: readonly KernelFamily[] = ['matmul', 'mla', 'rmsnorm', 'router'];
export type KernelShapes = Readonly<Record<KernelFamily, KernelShape>>;

/**
 * How the matrix products' 'workgroup' shape sums a row's lanes in decode: over workgroup memory
 * (rows_wg), or with subgroupAdd (rows_subgroup, docs/kernels.md#subgroup-rows), which needs a device
 * created with the `subgroups` feature. The autotune measures both where the feature is there.
 */
export type MatmulReduce = 'workgroup' | 'subgroup';

/**
 * How the matrix products run prefill chunks: register tiles per invocation (rows_tile), or workgroup
 * tiles whose weights are dequantized once into workgroup memory (rows_gemm, docs/kernels.md#prefill-gemm),
 * in f32 or, where the device has shader-f16, f16 arithmetic ('gemm-f16').
 */
export type MatmulPrefill = 'tile' | 'gemm' | 'gemm-f16';
/**
 * MLA attention of a prefill chunk (tokens > 1; kernels/mla.ts prefillKernel): 'tile' is mla_attend_tile,
 * an invocation per (token, 4 heads) walking the positions; 'heads' is mla_attend_heads, a workgroup per
 * (token, group of heads) sharing each cache row; 'latent-gemm' the two products over all (token, head)
 * rows, with a scores buffer of rows × context floats per call.
 */
export type MlaPrefillKernel = 'tile' | 'heads' | 'latent-gemm';

/** MLA decode's kernel in the 'workgroup' shape (kernels/mla.ts MlaAttentionArgs.kernel). */
export type MlaDecodeKernel = 'heads' | 'latent-gemm' | 'per-head';

/** The subgroup sizes the adapter may use (GPUAdapterInfo.subgroupMinSize / subgroupMaxSize). */
export interface SubgroupSizes {
  readonly min: number;
  readonly max: number;
}

export interface KernelContext {
  readonly device: GPUDevice;
  readonly pipelines: PipelineCache;
  /** Default shape; a launcher may be told a specific one (tests run both). */
  readonly shape: KernelShape;
  /** Per-family shapes that override `shape` (the model's measured choice); absent families use `shape`. */
  readonly shapes?: Partial<KernelShapes>;
  /** Present only when the device was created with the `subgroups` feature: no subgroup code runs without it. */
  readonly subgroups?: SubgroupSizes;
  /** The 'workgroup' shape's decode reduction for matrix products; default 'workgroup'. 'subgroup' needs `subgroups`. */
  readonly matmulReduce?: MatmulReduce;
  /** Prefill chunks' entry; default 'gemm' on the 'workgroup' shape and 'tile' on 'row'; 'gemm-f16' needs shader-f16. */
  readonly matmulPrefill?: MatmulPrefill;
  /**
   * The fewest tokens per weight for which a prefill launch takes product_gemm where `matmulPrefill` is
   * 'gemm' or 'gemm-f16'; default GEMM_MIN_TOKENS (64, kernels/product-gemm.ts). Benchmarks lower it to
   * measure short chunks in tiles of 8, 16 or 32 tokens.
   */
  readonly gemmMinTokens?: number;
  /** MLA attention of prefill chunks; default 'tile' (kernels/mla.ts prefillKernel). */
  readonly mlaPrefill?: MlaPrefillKernel;
  /** MLA decode's kernel in the 'workgroup' shape; default kernels/mla.ts defaultDecodeKernel (tests and benchmarks force one). */
  readonly mlaDecode?: MlaDecodeKernel;
  /**
   * Told of every buffer a launcher creates for its dispatch (params blocks, scratch), so that whoever keeps
   * the dispatches can destroy them with it (GpuModel does when it drops a recorded plan).
   */
  readonly track?: (buffer: GPUBuffer) => void;
}

/** A launcher's params block, reported to `ctx.track`. */
export function kernelUniform(ctx: KernelContext, label: string, params: ParamsWriter | Uint8Array): GPUBuffer {
  const b = createUniform(ctx.device, label, params);
  ctx.track?.(b);
  return b;
}

/** A launcher's own scratch buffer, reported to `ctx.track`. */
export function kernelStorage(ctx: KernelContext, label: string, bytes: number): GPUBuffer {
  const b = createStorage(ctx.device, label, bytes);
  ctx.track?.(b);
  return b;
}

/** The shape a launcher of `family` uses: its argument, else the context's choice for the family, else the default. */
export function shapeFor(ctx: KernelContext, family: KernelFamily, override?: KernelShape): KernelShape {
  return override ?? ctx.shapes?.[family] ?? ctx.shape;
}

// One pipeline cache per device: every model and context on it shares compiled pipelines (keys hold all
// that distinguishes them), so loading a second model does not compile the same kernels again.
const caches = new WeakMap<GPUDevice, PipelineCache>();

export function createKernelContext(gpu: GpuContext, shape?: KernelShape): KernelContext {
  let pipelines = caches.get(gpu.device);
  if (!pipelines) caches.set(gpu.device, (pipelines = new PipelineCache(gpu.device, new Set(gpu.summary.wgslFeatures))));
  const subgroups = subgroupSizes(gpu);
  return {
    device: gpu.device,
    pipelines,
    shape: shape ?? (gpu.summary.isSoftware ? 'row' : 'workgroup'),
    ...(subgroups ? { subgroups } : {}),
  };
}

/** The device's subgroup sizes, or null when it was created without the `subgroups` feature. */
export function subgroupSizes(gpu: Pick<GpuContext, 'adapter' | 'device'>): SubgroupSizes | null {
  if (!gpu.device.features.has('subgroups')) return null;
  const info = gpu.adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
  // Adapters that predate the size fields: WGSL allows 4 to 128.
  const min = info.subgroupMinSize ?? 4;
  return { min, max: Math.max(min, info.subgroupMaxSize ?? 128) };
}
