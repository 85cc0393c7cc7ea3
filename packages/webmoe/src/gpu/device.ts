// Acquiring the adapter and device, and turning every way that can fail into a WebmoeError.
import { WebmoeError } from '../errors';

/** What the engine needs at the least; a model may ask for more through `GpuRequest.limits`. */
export const ENGINE_MIN_LIMITS = {
  maxStorageBufferBindingSize: 128 * 1024 * 1024,
  maxBufferSize: 128 * 1024 * 1024,
  maxStorageBuffersPerShaderStage: 8,
  maxComputeWorkgroupSizeX: 256,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupStorageSize: 16384,
} as const;

export type LimitName = keyof typeof ENGINE_MIN_LIMITS;

export interface GpuRequest {
  /** Raise these limits above the engine's minimum (for example a model's largest tensor). */
  limits?: Partial<Record<LimitName, number>>;
  powerPreference?: GPUPowerPreference;
  /** Pass a navigator-like object in tests; defaults to globalThis.navigator. */
  navigator?: { gpu?: GPU } | undefined;
  /**
   * A GPU object to use instead of navigator.gpu: outside a browser, Dawn's (`create([])` of the npm `webgpu`
   * package; docs/runtimes.md). The library imports nothing of it, so the browser bundle does not change.
   */
  gpu?: GPU;
}

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** Software adapters (SwiftShader, WARP, llvmpipe) run WGSL on the CPU and want other kernel shapes. */
  isSoftware: boolean;
  features: string[];
  /**
   * The WGSL language features the runtime offers (navigator.gpu.wgslLanguageFeatures, or Dawn's GPU object):
   * the pipeline cache lowers the kernels' uses of the missing ones (gpu/wgsl-lower.ts).
   */
  wgslFeatures: string[];
  limits: Record<string, number>;
}

/** The adapter in one line, as reports print it: vendor, architecture (or Dawn's device name where it gives none), description. */
export function adapterName(s: Pick<AdapterSummary, 'vendor' | 'architecture' | 'device' | 'description'>): string {
  return `${s.vendor} ${s.architecture || s.device} ${s.description}`.replace(/\s+/g, ' ').trim();
}

export interface GpuContext {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly summary: AdapterSummary;
  /** Resolves when the device is lost, with a WebmoeError describing why. */
  readonly lost: Promise<WebmoeError>;
  isLost(): boolean;
  /** Throws the first uncaptured GPU error or the loss, if any happened since the last call. */
  check(): void;
  destroy(): void;
}

const SOFTWARE_ADAPTER = /swiftshader|llvmpipe|lavapipe|warp|software|basic render/i;

/** The runtime's WGSL language features; none where it does not list them (browsers before the list existed). */
export function wgslLanguageFeatures(gpu: GPU): string[] {
  const set = (gpu as GPU & { wgslLanguageFeatures?: ReadonlySet<string> }).wgslLanguageFeatures;
  return set ? [...set].sort() : [];
}

function summarize(adapter: GPUAdapter, wgslFeatures: string[]): AdapterSummary {
  const info = adapter.info;
  const limits: Record<string, number> = {};
  // GPUSupportedLimits is an interface object whose fields are getters on the prototype.
  for (const key in adapter.limits) {
    const v = (adapter.limits as unknown as Record<string, unknown>)[key];
    if (typeof v === 'number') limits[key] = v;
  }
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isSoftware: SOFTWARE_ADAPTER.test(text) || (info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter === true,
    features: [...adapter.features].sort(),
    wgslFeatures,
    limits,
  };
}

export async function acquireGpu(request: GpuRequest = {}): Promise<GpuContext> {
  const nav = 'navigator' in request ? request.navigator : (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  const gpu = request.gpu ?? nav?.gpu;
  if (!gpu) {
    const secure = (globalThis as { isSecureContext?: boolean }).isSecureContext;
    throw new WebmoeError(
      'no-webgpu',
      secure === false
        ? 'WebGPU is unavailable because this page is not a secure context: serve it over https or from localhost.'
        : 'This browser does not expose WebGPU (navigator.gpu is missing). Use a recent Chrome or Edge, or enable WebGPU in the browser settings.',
    );
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter(request.powerPreference ? { powerPreference: request.powerPreference } : {});
  } catch (cause) {
    throw new WebmoeError('no-adapter', `Requesting a WebGPU adapter failed: ${String(cause)}`, { cause });
  }
  if (!adapter) {
    throw new WebmoeError('no-adapter', 'WebGPU is present but no GPU adapter is available (blocklisted driver or GPU disabled).');
  }

  const wanted: Record<string, number> = { ...ENGINE_MIN_LIMITS };
  for (const [k, v] of Object.entries(request.limits ?? {})) wanted[k] = Math.max(wanted[k] ?? 0, v);
  const requiredLimits: Record<string, number> = {};
  const short: string[] = [];
  for (const [name, need] of Object.entries(wanted)) {
    const have = (adapter.limits as unknown as Record<string, number>)[name];
    if (have === undefined || have < need) short.push(`${name}: need ${need}, adapter has ${have ?? 'none'}`);
    // Ask for everything the adapter offers on the size limits, so that large models fit without a new device.
    else requiredLimits[name] = /Size$/.test(name) ? have : need;
  }
  if (short.length) {
    throw new WebmoeError('insufficient-limits', `This GPU's limits are too small for webmoe: ${short.join('; ')}.`, { detail: { short } });
  }

  // Timestamps let the load-time autotune and the profiler measure GPU time; subgroups give the matrix
  // products a faster decode reduction that the autotune may choose (docs/kernels.md#subgroup-rows);
  // shader-f16 the prefill GEMM's f16 arithmetic (docs/kernels.md#prefill-gemm-in-f16). No kernel needs any of
  // them: each has a path without it.
  const optional = ['timestamp-query', 'subgroups', 'shader-f16'] as GPUFeatureName[];
  const requiredFeatures = optional.filter((f) => adapter.features.has(f));
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({ label: 'webmoe', requiredFeatures, requiredLimits });
  } catch (cause) {
    throw new WebmoeError('no-adapter', `The GPU adapter refused to create a device: ${String(cause)}`, { cause });
  }

  let lostError: WebmoeError | null = null;
  let pending: WebmoeError | null = null;
  const lost = device.lost.then((info) => {
    lostError = new WebmoeError(
      'device-lost',
      info.reason === 'destroyed' ? 'The GPU device was released.' : `The GPU device was lost (${info.message || 'no reason given'}). Reload the page to start again.`,
      { detail: { reason: info.reason } },
    );
    return lostError;
  });
  device.addEventListener('uncapturederror', (ev) => {
    const err = (ev as GPUUncapturedErrorEvent).error;
    if (pending) return; // keep the first one: later errors are usually its consequences
    const oom = typeof GPUOutOfMemoryError !== 'undefined' && err instanceof GPUOutOfMemoryError;
    pending = oom
      ? new WebmoeError('gpu-out-of-memory', `The GPU ran out of memory: ${err.message}`)
      : new WebmoeError('gpu-validation', `WebGPU rejected a command: ${err.message}`);
  });

  return {
    adapter,
    device,
    summary: summarize(adapter, wgslLanguageFeatures(gpu)),
    lost,
    isLost: () => lostError !== null,
    check() {
      if (lostError) throw lostError;
      if (pending) {
        const e = pending;
        pending = null;
        throw e;
      }
    },
    destroy: () => device.destroy(),
  };
}

/** Runs `fn` inside validation and out-of-memory error scopes and throws what they catch, naming `label`. */
export async function withErrorScope<T>(device: GPUDevice, label: string, fn: () => T): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = fn();
  } finally {
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (oom) throw new WebmoeError('gpu-out-of-memory', `${label}: the GPU ran out of memory (${oom.message})`);
    if (validation) throw new WebmoeError('gpu-validation', `${label}: ${validation.message}`);
  }
  return result;
}

/** Who waits on each device's loss; one reaction per device, so that a wait per token leaves nothing behind. */
const lossWaiters = new WeakMap<Promise<WebmoeError>, Set<(e: WebmoeError) => void>>();

function onLoss(gpu: Pick<GpuContext, 'lost'>, f: (e: WebmoeError) => void): () => void {
  let set = lossWaiters.get(gpu.lost);
  if (!set) {
    const waiting = new Set<(e: WebmoeError) => void>();
    lossWaiters.set(gpu.lost, waiting);
    void gpu.lost.then((e) => waiting.forEach((w) => w(e)));
    set = waiting;
  }
  const waiting = set;
  waiting.add(f);
  return () => waiting.delete(f);
}

/**
 * Maps `buffer` for reading, raced against the device's loss: a map pending when the device goes may reject
 * with a bare DOMException or never settle, and the caller must see 'device-lost' either way.
 */
export async function mapForReading(gpu: Pick<GpuContext, 'lost'>, buffer: GPUBuffer, offset?: number, size?: number): Promise<void> {
  let stop = () => {};
  const lost = new Promise<never>((_, reject) => (stop = onLoss(gpu, reject)));
  try {
    await Promise.race([buffer.mapAsync(1 /* GPUMapMode.READ */, offset, size), lost]);
  } catch (e) {
    // The map may fail a moment before the loss is reported: give the loss a turn to name the cause.
    const named = await Promise.race([lost.catch((l: unknown) => l), new Promise<null>((r) => setTimeout(() => r(null), 50))]);
    throw named ?? e;
  } finally {
    stop();
  }
}
