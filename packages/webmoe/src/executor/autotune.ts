// Which kernel shape each hot family uses on this adapter, chosen by a short measurement at model load.
// A GPU wants workgroup reductions and coalesced loads; a software adapter running WGSL on CPU threads
// wants one invocation per output row (about 5× faster there). A guess from the adapter's name
// (isSoftware) is only the fallback: the measurement runs both shapes on the model's own decode-sized
// work (its largest matrix, the first MoE layer's selected experts and its expert selection, attention
// over up to 256 positions, one RMSNorm row) and keeps the faster. For attention the candidates are
// mla_attend_row and mla_attend_heads (each cache row read once per group of heads; kernels/mla.ts). Where the
// device has the `subgroups` feature, the matrix products have a third candidate, the 'workgroup' shape with
// its rows summed by subgroupAdd (docs/kernels.md#subgroup-rows). Choices are cached per adapter and
// weight format (localStorage where the page has it, and in memory for the session), so only the first
// load on an adapter pays for the measurement.
import { WebmoeError } from '../errors';
import type { GpuContext } from '../gpu/device';
import { createStorage, uploadStorage, USAGE } from '../gpu/buffers';
import {
  KERNEL_FAMILIES, type KernelContext, type KernelFamily, type KernelShape, type KernelShapes, type MatmulReduce,
} from '../gpu/kernel-context';
import { recordDispatches, type Dispatch } from '../gpu/pipelines';
import type { ModelConfig } from '../model/config';
import { matmul, type WeightRef } from '../kernels/matmul';
import { decodeScratchBytes, latentCacheLayout, mlaAttention } from '../kernels/mla';
import { rmsnorm } from '../kernels/rmsnorm';
import { routerSelect } from '../kernels/router';
import type { GpuWeights } from './weights';

export type TuningSource = 'measured' | 'cached' | 'default' | 'override';

/** What the autotune compares: the two shapes, and for the matrix products the subgroup reduction. */
export type TuningCandidate = KernelShape | 'subgroup';

export interface KernelTuning {
  shapes: KernelShapes;
  /** How the matrix products' 'workgroup' shape reduces in decode ('subgroup' only on a device with the feature). */
  matmulReduce: MatmulReduce;
  /** How each family's shape was decided. */
  source: Record<KernelFamily, TuningSource>;
  /** Milliseconds per launch of each candidate, for the families measured in this load. */
  ms: Partial<Record<KernelFamily, Partial<Record<TuningCandidate, number>>>>;
}

/** Key/value storage the choices persist in (localStorage's shape). */
export interface TuningStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface AutotuneOptions {
  /** Positions the model's KV cache holds (attention is measured over up to 256 of them). */
  contextLength: number;
  /** Default: localStorage where available. null: the session's memory only. */
  store?: TuningStore | null;
  /** Measure even when a cached choice exists. */
  remeasure?: boolean;
}

// Versioned: bump it when a measured kernel changes enough to change the choice (v2: x read as vec4s in
// matmul_row/matmul_wg; v3: the reductions written once in shaders/lib/reduce.wgsl, and the key's format
// taken from the layers' matrices; v4: attention's 'workgroup' candidate is mla_attend_heads; v5: the
// matrix products' 'subgroup' candidate; v6: attention's 'workgroup' candidate is the latent GEMM past 16
// heads), so that browsers measure again instead of keeping a stale choice.
export const STORE_KEY = 'webmoe.kernel-shapes.v6';
const SHAPES: readonly KernelShape[] = ['row', 'workgroup'];
const CANDIDATES: readonly TuningCandidate[] = [...SHAPES, 'subgroup'];
/** GPUBufferUsage.QUERY_RESOLVE, spelled out like buffers.ts USAGE so that this module loads without WebGPU's globals. */
const QUERY_RESOLVE = 0x200;
const session = new Map<string, TuningCandidate>();

/** Every family on one shape: an explicit override, or the adapter heuristic. */
export function uniformTuning(shape: KernelShape, source: TuningSource): KernelTuning {
  const shapes = Object.fromEntries(KERNEL_FAMILIES.map((f) => [f, shape])) as Record<KernelFamily, KernelShape>;
  const src = Object.fromEntries(KERNEL_FAMILIES.map((f) => [f, source])) as Record<KernelFamily, TuningSource>;
  return { shapes, matmulReduce: 'workgroup', source: src, ms: {} };
}

function defaultStore(): TuningStore | null {
  try {
    const ls = (globalThis as { localStorage?: TuningStore }).localStorage;
    return ls ?? null;
  } catch {
    return null; // opaque origins and some sandboxed frames throw on access
  }
}

function readStored(store: TuningStore | null): Record<string, TuningCandidate> {
  if (!store) return {};
  try {
    const v = JSON.parse(store.getItem(STORE_KEY) ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, TuningCandidate>) : {};
  } catch {
    return {};
  }
}

function writeStored(store: TuningStore | null, key: string, shape: TuningCandidate): void {
  session.set(key, shape);
  if (!store) return;
  try {
    store.setItem(STORE_KEY, JSON.stringify({ ...readStored(store), [key]: shape }));
  } catch {
    // a full or disabled storage only costs a measurement next time
  }
}

/**
 * Milliseconds per replay of `list`: one warm-up (compiles), then the best of a few submissions of
 * several replays each. GPU time from timestamp queries where the device has them (a small kernel's
 * wall time is mostly the submission's latency), else wall time to the queue's completion.
 */
export async function timeDispatches(device: GPUDevice, list: readonly Dispatch[]): Promise<number> {
  const timestamps = device.features.has('timestamp-query');
  const querySet = timestamps ? device.createQuerySet({ type: 'timestamp', count: 2 }) : null;
  const resolve = timestamps ? device.createBuffer({ size: 16, usage: QUERY_RESOLVE | USAGE.COPY_SRC }) : null;
  const read = timestamps ? device.createBuffer({ size: 16, usage: USAGE.MAP_READ | USAGE.COPY_DST }) : null;
  const submit = async (reps: number): Promise<number> => {
    const t = performance.now();
    const encoder = device.createCommandEncoder({ label: 'autotune' });
    const pass = encoder.beginComputePass({
      label: 'autotune',
      ...(querySet ? { timestampWrites: { querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 } } : {}),
    });
    for (let r = 0; r < reps; r++) recordDispatches(pass, list);
    pass.end();
    if (querySet && resolve && read) {
      encoder.resolveQuerySet(querySet, 0, 2, resolve, 0);
      encoder.copyBufferToBuffer(resolve, 0, read, 0, 16);
    }
    device.queue.submit([encoder.finish()]);
    if (!read) {
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t) / reps;
    }
    await read.mapAsync(1 /* GPUMapMode.READ */);
    const [begin, end] = new BigUint64Array(read.getMappedRange());
    const ns = end > begin ? Number(end - begin) : 0;
    read.unmap();
    // A zero span means the timestamps were unusable; fall back to wall time.
    return (ns > 0 ? ns / 1e6 : performance.now() - t) / reps;
  };
  try {
    await submit(1);
    const once = await submit(1);
    // Enough replays for ~20 ms of work per trial, at most 16; a slow shape gets a single trial.
    const reps = Math.max(1, Math.min(16, Math.floor(20 / Math.max(once, 0.05))));
    let best = once;
    for (let trial = 0; trial < (once > 50 ? 0 : 3); trial++) best = Math.min(best, await submit(reps));
    return best;
  } finally {
    querySet?.destroy();
    resolve?.destroy();
    read?.destroy();
  }
}

/** The decode-sized work of one family in a given shape (and matrix reduction), built on the model's own weights. */
type Workload = (shape: KernelShape, reduce: MatmulReduce) => Dispatch[];

/** The shape and matrix reduction a candidate stands for. */
function candidateShape(c: TuningCandidate): [KernelShape, MatmulReduce] {
  return c === 'subgroup' ? ['workgroup', 'subgroup'] : [c, 'workgroup'];
}

function workloads(ctx: KernelContext, weights: GpuWeights, config: ModelConfig, contextLength: number, scratch: GPUBuffer[]): Partial<Record<KernelFamily, Workload>> {
  const device = ctx.device;
  const buf = (label: string, floats: number) => {
    const b = createStorage(device, `autotune:${label}`, floats * 4);
    scratch.push(b);
    return b;
  };
  const d = config.hiddenSize;
  const out: Partial<Record<KernelFamily, Workload>> = {};

  // matmul: the largest non-expert matrix (usually lm_head), plus the first MoE layer's K selected experts.
  // A split LM head (split-buffers.ts) is measured by the projection alone.
  const names = ['lm_head.weight', 'model.layers.0.self_attn.o_proj.weight'].filter((n) => weights.has(n) && !weights.tensor(n).parts);
  const big = names.map((n) => weights.tensor(n)).sort((a, b) => b.layout.bytes - a.layout.bytes)[0];
  const moeLayer = config.moe ? config.layers.findIndex((l) => l.ffn === 'moe') : -1;
  const maxIn = Math.max(d, config.vocabSize, config.intermediateSize, config.numHeads * config.vHeadDim);
  const x = buf('x', maxIn);
  const y = buf('y', Math.max(config.vocabSize, (config.moe?.topK ?? 0) * (config.moe?.intermediateSize ?? 0), d));
  if (big) {
    out.matmul = (shape, matmulReduce) => {
      const mctx: KernelContext = { ...ctx, matmulReduce };
      const list = [matmul(mctx, { weight: { buffer: big.buffer, offset: big.byteOffset, layout: big.layout }, x, y, shape }, 'autotune:matmul')];
      if (moeLayer >= 0) {
        // Experts of the first buffer only (a group may be split over several: docs/paging.md#binding-limit).
        const ex = weights.experts(moeLayer);
        const K = config.moe!.topK;
        const ids = uploadStorage(device, 'autotune:ids', new Uint32Array(Array.from({ length: K }, (_, k) => k % Math.min(ex.count, ex.parts[0].count))));
        scratch.push(ids);
        const ref = (m: typeof ex.gate): WeightRef => ({ buffer: ex.buffer, offset: m.offset, layout: m.layout });
        list.push(matmul(mctx, {
          weight: ref(ex.gate), up: ref(ex.up), x, y, batch: K, xBatchStride: 0, yBatchStride: config.moe!.intermediateSize,
          experts: { ids, strideBytes: ex.strideBytes }, shape,
        }, 'autotune:experts'));
      }
      return list;
    };
  }

  // Attention of one decode token over up to 256 cached positions.
  const layout = latentCacheLayout(config, Math.min(contextLength, 256));
  const H = config.numHeads, R = config.kvLoraRank, qHead = config.qkNopeHeadDim + config.qkRopeHeadDim;
  const cache = buf('cache', layout.maxContext * layout.rowFloats);
  const qt = buf('qt', H * R);
  const q = buf('q', H * qHead);
  const olat = buf('olat', H * R);
  const decodeScratch = decodeScratchBytes(device.limits, layout, H);
  const partials = buf('partials', Math.max(4, decodeScratch.partials / 4));
  const scores = buf('scores', Math.max(4, decodeScratch.scores / 4));
  const positions = uploadStorage(device, 'autotune:positions', new Uint32Array([layout.maxContext - 1, 0, 0, 0]));
  scratch.push(positions);
  out.mla = (shape) => mlaAttention(ctx, {
    qt, qpe: q, cache, layout, positions, out: olat, tokens: 1, heads: H, scale: 0.1,
    qpeTokenStride: H * qHead, qpeHeadStride: qHead, qpeOffset: config.qkNopeHeadDim, scratch: partials, scores, shape,
  }, 'autotune:mla');

  if (moeLayer >= 0) {
    const m = config.moe!;
    const p = `model.layers.${moeLayer}.mlp.gate`;
    const logits = buf('router_logits', m.nRoutedExperts);
    const ids = buf('router_ids', m.topK);
    const rw = buf('router_weights', m.topK);
    const bias = m.hasCorrectionBias ? weights.tensor(`${p}.e_score_correction_bias`).buffer : null;
    out.router = (shape) => [routerSelect(ctx, { logits, ids, weights: rw, bias, tokens: 1, moe: m, shape }, 'autotune:router')];
  }

  const norm = weights.has('model.norm.weight') ? weights.tensor('model.norm.weight').buffer : null;
  if (norm) out.rmsnorm = (shape) => [rmsnorm(ctx, { x, weight: norm, y, rows: 1, cols: d, eps: 1e-6, shape }, 'autotune:rmsnorm')];
  return out;
}

/**
 * Runs one candidate's measurement inside GPU error scopes. Running out of memory only means this adapter
 * cannot afford the measurement (null: keep the heuristic); a validation error is a bug in a kernel or its
 * launcher and must fail the load loudly rather than quietly choose the other shape.
 */
export async function measureCandidate(device: GPUDevice, label: string, run: () => Promise<number>): Promise<number | null> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let ms: number | undefined;
  let thrown: unknown;
  try {
    ms = await run();
  } catch (e) {
    thrown = e;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  // A buffer that could not be allocated is invalid, and using it is a validation error too: out of
  // memory explains both.
  if (oom) return null;
  if (validation) throw new WebmoeError('gpu-validation', `${label}: ${validation.message}`);
  if (thrown !== undefined) throw thrown;
  return ms!;
}

/**
 * Picks a shape per family for this model on this adapter: cached choices first, else measured; a
 * family without a workload in this model, or whose measurement runs out of memory, keeps the adapter
 * heuristic, `ctx.shape`. Any other failure propagates.
 */
export async function autotune(gpu: GpuContext, ctx: KernelContext, weights: GpuWeights, config: ModelConfig, opts: AutotuneOptions): Promise<KernelTuning> {
  const store = opts.store === undefined ? defaultStore() : opts.store;
  const s = gpu.summary;
  const adapterKey = [s.vendor, s.architecture, s.device, s.description].join('|');
  // The format of the layers' matrices (the LM head may keep the release's BF16 in an fp8 model).
  const probe = 'model.layers.0.self_attn.o_proj.weight';
  const format = weights.has(probe) ? weights.tensor(probe).layout.format : 'f32';
  const keyOf = (f: KernelFamily) => `${adapterKey}|${f === 'matmul' ? `matmul.${format}` : f}`;
  const stored = readStored(store);
  const tuning = uniformTuning(ctx.shape, 'default');
  const shapes = tuning.shapes as Record<KernelFamily, KernelShape>;
  // Never the subgroup candidate without the feature, cached or not.
  const candidates = (f: KernelFamily) => CANDIDATES.filter((c) => c !== 'subgroup' || (f === 'matmul' && ctx.subgroups !== undefined));
  const choose = (f: KernelFamily, c: TuningCandidate) => {
    const [shape, reduce] = candidateShape(c);
    shapes[f] = shape;
    if (f === 'matmul') tuning.matmulReduce = reduce;
  };
  const scratch: GPUBuffer[] = [];
  try {
    let work: Partial<Record<KernelFamily, Workload>> | null = null;
    for (const f of KERNEL_FAMILIES) {
      const cached = session.get(keyOf(f)) ?? stored[keyOf(f)];
      if (!opts.remeasure && cached !== undefined && candidates(f).includes(cached)) {
        choose(f, cached);
        tuning.source[f] = 'cached';
        continue;
      }
      // The launchers' params blocks go with the scratch buffers when the measurement ends.
      work ??= workloads({ ...ctx, track: (b) => scratch.push(b) }, weights, config, opts.contextLength, scratch);
      const w = work[f];
      if (!w) continue;
      const ms: Partial<Record<TuningCandidate, number>> = {};
      let short = false;
      for (const c of candidates(f)) {
        const t = await measureCandidate(ctx.device, `autotune ${f} (${c})`, () => timeDispatches(ctx.device, w(...candidateShape(c))));
        if (t === null) {
          short = true;
          break;
        }
        ms[c] = t;
      }
      gpu.check();
      if (short) continue; // out of memory: keep the heuristic
      // The fastest; ties go to the earlier candidate (row, then workgroup, then subgroup).
      const best = candidates(f).reduce((a, b) => (ms[b]! < ms[a]! ? b : a));
      choose(f, best);
      tuning.source[f] = 'measured';
      tuning.ms[f] = ms;
      writeStored(store, keyOf(f), best);
    }
  } finally {
    for (const b of scratch) b.destroy();
  }
  return tuning;
}
