// The browser half of `webmoe bench`, also usable by hand (bench.html?models=<url>,<url>[&quick]): loads
// each converted model from its URL, measures prefill and decode, runs the two probes and the timestamp
// profile, and returns plain data (the CLI prints it; by hand the page renders the same table).
import { adapterName, WebmoeError, acquireGpu, requireV3, createRng, loadGpuModelFromUrl, type GpuContext, type GpuModel, type GpuModelOptions, type Manifest, type MatmulPrefill, type MlaPrefillKernel, type SamplingParams } from 'webmoe';
import { kvReport } from './kv-report';
import { measureSpeculation, type SpeculationRequest } from './speculation';
import { measurePaging, type PagingBenchRequest } from './paging';
import type { PagingRow } from '../src/bench-paging';
import type { SpeculationRow } from '../src/bench-speculation';
import { splitList } from '../src/args';
import { BENCH_SETTINGS, decodeStepBytes, paramCounts } from '../src/bench-models';
import { formatDetails, formatTable, summarize, type BenchModelResult, type ScalingRow } from '../src/bench-report';
import { median, planGpuMs, profileDispatches, readProbeMs, variantOf, kernelGroup, weightsProbeMs } from './probes';
import { countGpuCalls } from './dispatch-counter';
import type { PageEnvironment } from './page-env';

export interface BenchRequest {
  modelUrl: string;
  /** Table name, e.g. "100M". */
  model: string;
  /** Prompt lengths to time prefill over. */
  prompts: number[];
  /** Prompt length the decode run starts after. */
  decodePrompt: number;
  decodeTokens: number;
  /** Timed runs after one warm-up. */
  repeats: number;
  /** Run the two probes and the timestamp profile. */
  probes: boolean;
  /** Prefill products' entry for this model (GpuModelOptions.matmulPrefill); default the engine's. */
  matmulPrefill?: MatmulPrefill;
  /** The fewest tokens per weight for product_gemm (GpuModelOptions.gemmMinTokens); default the engine's 64. */
  gemmMinTokens?: number;
  /** Prefill attention's kernel (GpuModelOptions.mlaPrefill); default the engine's. */
  mlaPrefill?: MlaPrefillKernel;
}

/** MoE scaling: models that differ only in their number of routed experts, decoded in alternation. */
export interface ScalingRequest {
  modelUrls: string[];
  decodePrompt: number;
  decodeTokens: number;
  /** Timed rounds after one warm-up round; each round decodes every model once. */
  rounds: number;
}

export interface BenchError {
  error: { code: string; message: string };
}

let env: PageEnvironment = {};
let gpuPromise: Promise<GpuContext> | null = null;
const gpu = () => (gpuPromise ??= acquireGpu(env.gpu ? { gpu: env.gpu } : {}));

const greedy = (step: number): SamplingParams => ({ temperature: 0, topP: 1, topK: 0, seed: 0, step });

async function loadModel(g: GpuContext, url: string, contextLength: number, opts: GpuModelOptions = {}): Promise<{ model: GpuModel; manifest: Manifest; loadMs: number }> {
  const t = performance.now();
  // One step per decode call unless asked otherwise: the decode figure is a step's latency (decodeAheadRun times depths).
  const { model, manifest } = await loadGpuModelFromUrl(g, url, { decodeAhead: 1, ...opts, contextLength, collectExpertUsage: false, ...(env.fetch ? { fetch: env.fetch } : {}) });
  return { model, manifest, loadMs: performance.now() - t };
}

/** Decodes `tokens` greedy tokens after `ids` from an empty cache; returns the per-step wall times. */
async function decodeRun(model: GpuModel, ids: number[], tokens: number): Promise<number[]> {
  model.reset();
  let next = (await model.prefill(ids, { reusePrefix: 0, sampling: greedy(0) })).next;
  const steps: number[] = [];
  for (let s = 1; s <= tokens; s++) {
    const t = performance.now();
    next = (await model.decode(next, greedy(s))).at(-1)!;
    steps.push(performance.now() - t);
  }
  return steps;
}

/**
 * Milliseconds per token of a `tokens`-token greedy reply after `ids` with `depth` decode steps in flight
 * (GpuModel.setDecodeAhead), over the whole reply: a call may return several tokens.
 */
async function decodeAheadRun(model: GpuModel, ids: number[], tokens: number, depth: number): Promise<number> {
  await model.setDecodeAhead(depth);
  model.reset();
  let next = (await model.prefill(ids, { reusePrefix: 0, sampling: greedy(0) })).next;
  let done = 0;
  const t = performance.now();
  while (done < tokens) {
    const out = await model.decode(next, greedy(done + 1));
    done += out.length;
    next = out.at(-1)!;
  }
  return (performance.now() - t) / done;
}

const AHEAD_DEPTHS = [1, 2, 4, 8];

const promptIds = (vocab: number, n: number, seed = 1234) => {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => 2 + rng.int(vocab - 2));
};

async function measure(req: BenchRequest): Promise<BenchModelResult> {
  const g = await gpu();
  const device = g.device;
  const contextLength = Math.max(...req.prompts, req.decodePrompt) + req.decodeTokens + 2;
  const { model, manifest, loadMs } = await loadModel(g, req.modelUrl, contextLength, {
    ...(req.matmulPrefill ? { matmulPrefill: req.matmulPrefill } : {}), ...(req.mlaPrefill ? { mlaPrefill: req.mlaPrefill } : {}),
    ...(req.gemmMinTokens ? { gemmMinTokens: req.gemmMinTokens } : {}),
  });
  try {
    const config = requireV3(manifest.model.config, 'The benchmark');
    const prompt = (n: number) => promptIds(config.vocabSize, n);

    // Prefill: the whole prompt, through to the sampled token (one 4-byte readback at the end), in
    // submissions of up to model.prefillChunk tokens. The warm-up (up to 128 tokens; a full chunk's plan
    // is recorded at load) compiles the plans; a prompt of 1024 tokens or more is timed once, since one
    // run of it takes up to minutes on a software adapter.
    const prefill: Record<string, number> = {};
    let prefillKernels: BenchModelResult['prefill_kernels'] = null;
    let shortKernels: BenchModelResult['short_prefill_kernels'] = null;
    const longest = Math.max(...req.prompts), shortest = Math.min(...req.prompts);
    for (const n of req.prompts) {
      const ids = prompt(n);
      model.reset();
      await model.prefill(ids.slice(0, Math.min(n, 128)), { reusePrefix: 0, sampling: greedy(0) });
      const times: number[] = [];
      for (let i = 0; i < (n >= 1024 ? 1 : req.repeats); i++) {
        model.reset();
        const t = performance.now();
        await model.prefill(ids, { reusePrefix: 0, sampling: greedy(0) });
        times.push(performance.now() - t);
      }
      prefill[n] = n / (median(times) / 1000);
      if (req.probes && (n === longest || n === shortest)) {
        // The last chunk's plan again, at the last chunk's positions (what the positions buffer holds).
        const last = n - Math.floor((n - 1) / model.prefillChunk) * model.prefillChunk;
        const kernels = await profileDispatches(device, model.recordedPlan(last));
        const profile = kernels ? { prompt: n, chunk: model.prefillChunk, last_chunk: last, kernels } : null;
        if (n === longest) prefillKernels = profile;
        else shortKernels = profile;
      }
    }

    // Decode: per-step wall time (submit, GPU, 4-byte readback) after a prompt; the median of all timed
    // steps. The decode plan is compiled at load, so a short warm-up run suffices.
    const ids = prompt(req.decodePrompt);
    await decodeRun(model, ids, Math.min(4, req.decodeTokens));
    const steps: number[] = [];
    for (let i = 0; i < req.repeats; i++) steps.push(...await decodeRun(model, ids, req.decodeTokens));
    const decodeMs = median(steps);

    const params = paramCounts(config);
    const bytes = decodeStepBytes(manifest, req.decodePrompt + req.decodeTokens / 2);
    const step = model.stepStats();
    if (!step) throw new Error('the bench decoded no token, so no decode step was counted');
    // One more decode step with the GPU calls counted as they are made.
    model.reset();
    const first = (await model.prefill(ids, { reusePrefix: 0, sampling: greedy(0) })).next;
    const counted = await countGpuCalls(device, () => model.decode(first, greedy(1)));
    const kv = model.kvBytesPerToken;
    const plan = model.recordedPlan(1);
    const variants: Record<string, string[]> = {};
    for (const d of plan) {
      const list = (variants[kernelGroup(d.label)] ??= []);
      if (!list.includes(variantOf(d))) list.push(variantOf(d));
    }
    let probes: BenchModelResult['probes'] = null;
    let kernels: BenchModelResult['kernels'] = null;
    let decodeAhead: BenchModelResult['decode_ahead_ms_per_token'] = null;
    if (req.probes) {
      const reps = Math.max(3, req.repeats * 2);
      const read = await readProbeMs(device, bytes.total, reps);
      const weightsMs = await weightsProbeMs(device, plan, bytes.kv, reps);
      const decodeGpuMs = await planGpuMs(device, plan, reps);
      const chain = await readProbeMs(device, bytes.total, reps, counted.dispatches);
      // Depths in alternation, round after round, so that a change in the machine's load touches each alike.
      const aheadRuns: Record<number, number[]> = {};
      for (let round = 0; round < req.repeats; round++) {
        for (const n of AHEAD_DEPTHS) (aheadRuns[n] ??= []).push(await decodeAheadRun(model, ids, req.decodeTokens, n));
      }
      await model.setDecodeAhead(1);
      decodeAhead = Object.fromEntries(AHEAD_DEPTHS.map((n) => [n, median(aheadRuns[n])]));
      probes = { read_ms: read.ms, read_shape: read.shape, weights_ms: weightsMs, read_gpu_ms: read.gpuMs, decode_gpu_ms: decodeGpuMs, chain_ms: chain.ms, chain_gpu_ms: chain.gpuMs };
      kernels = await profileDispatches(device, plan);
    }
    g.check();
    return {
      model: req.model,
      quant: manifest.quant,
      adapter: adapterName(g.summary),
      software: g.summary.isSoftware,
      experts: config.moe?.nRoutedExperts ?? 0,
      params_total: params.total,
      params_active: params.active,
      load_ms: loadMs,
      prefill_tokens_per_s: prefill,
      prefill_chunk: model.prefillChunk,
      decode_tokens_per_s: 1000 / decodeMs,
      decode_ms_per_token: decodeMs,
      decode_steps: steps.length,
      dispatches_per_token: counted.dispatches,
      submits_per_token: counted.submits,
      readback_bytes_per_token: step.readbackBytesPerToken,
      bytes_read_per_token: bytes.total,
      bytes_read_breakdown: { weights: bytes.weights, experts: bytes.experts, kv: bytes.kv },
      read_probe_ms: probes?.read_ms ?? null,
      dequant_probe_ms: probes?.weights_ms ?? null,
      read_probe_gpu_ms: probes?.read_gpu_ms ?? null,
      decode_gpu_ms: probes?.decode_gpu_ms ?? null,
      chain_probe_ms: probes?.chain_ms ?? null,
      chain_probe_gpu_ms: probes?.chain_gpu_ms ?? null,
      decode_ahead_ms_per_token: decodeAhead,
      probes,
      kernels,
      prefill_kernels: prefillKernels,
      short_prefill_kernels: shortKernels,
      kernel_shapes: { ...model.tuning.shapes },
      kernel_shape_source: { ...model.tuning.source },
      kernel_shape_ms: model.tuning.ms,
      kernel_variants: variants,
      matmul_prefill: req.matmulPrefill ?? 'default',
      mla_prefill: req.mlaPrefill ?? 'default',
      memory: { ...model.memory },
      kv_bytes_per_token: kv.latent,
      mha_kv_bytes_per_token: kv.mha,
      kv_expected_bytes_per_token: (config.kvLoraRank + config.qkRopeHeadDim) * config.numLayers * 4,
      kv_report: kvReport(config, model.contextLength),
    };
  } finally {
    model.dispose();
  }
}

/**
 * All scaling models loaded at once and decoded in alternation, round after round, so that a change in
 * the machine's load (a shared CPU, a GPU clocking up) touches every model alike.
 */
async function scaling(req: ScalingRequest): Promise<ScalingRow[]> {
  const g = await gpu();
  const loaded: Awaited<ReturnType<typeof loadModel>>[] = [];
  try {
    for (const url of req.modelUrls) loaded.push(await loadModel(g, url, req.decodePrompt + req.decodeTokens + 2));
    const steps = loaded.map(() => [] as number[]);
    for (let round = 0; round <= req.rounds; round++) {
      for (const [i, { model, manifest }] of loaded.entries()) {
        const ids = promptIds(manifest.model.config.vocabSize, req.decodePrompt);
        const t = await decodeRun(model, ids, round === 0 ? Math.min(4, req.decodeTokens) : req.decodeTokens);
        if (round > 0) steps[i].push(...t);
      }
    }
    g.check();
    return loaded.map(({ manifest }, i) => {
      const c = requireV3(manifest.model.config, 'The benchmark');
      const p = paramCounts(c);
      const bytes = decodeStepBytes(manifest, req.decodePrompt + req.decodeTokens / 2);
      return {
        experts: c.moe?.nRoutedExperts ?? 0, quant: manifest.quant, params_total: p.total, params_active: p.active,
        decode_ms_per_token: median(steps[i]), bytes_read_per_token: bytes.total, expert_bytes_per_token: bytes.experts,
      };
    });
  } finally {
    for (const { model } of loaded) model.dispose();
  }
}

export interface BenchPageApi {
  measure(r: BenchRequest): Promise<BenchModelResult | BenchError>;
  scaling(r: ScalingRequest): Promise<ScalingRow[] | BenchError>;
  speculation(r: SpeculationRequest): Promise<SpeculationRow[] | BenchError>;
  /** Expert paging against the resident model (page/paging.ts, docs/paging.md). */
  paging(r: PagingBenchRequest): Promise<PagingRow[] | BenchError>;
}

const asError = (e: unknown): BenchError => ({
  error: e instanceof WebmoeError ? { code: e.code, message: e.message } : { code: 'internal', message: e instanceof Error ? e.message : String(e) },
});

const api: BenchPageApi = {
  measure: (r) => measure(r).catch(asError),
  scaling: (r) => scaling(r).catch(asError),
  speculation: async (r) => {
    try {
      const g = await gpu();
      const rows = await measureSpeculation((url, context, opts) => loadModel(g, url, context, opts), r, env.fetch ?? fetch);
      g.check();
      return rows;
    } catch (e) {
      return asError(e);
    }
  },
  paging: async (r) => {
    try {
      const g = await gpu();
      return await measurePaging((url, context, opts) => loadModel(g, url, context, opts), r);
    } catch (e) {
      return asError(e);
    }
  },
};
if (typeof window !== 'undefined') (window as unknown as { webmoeBench: BenchPageApi }).webmoeBench = api;

/** The same measurements in Node (`webmoe bench --runtime node`), on the GPU and files `e` gives. */
export function benchApi(e: PageEnvironment): BenchPageApi {
  env = e;
  return api;
}

/**
 * By hand: bench.html?models=/__bench/v3-10m-q4/,/__bench/v3-10m-f32/[&quick] runs them and shows the table,
 * then the per-model details and the bar. `#out` carries data-state="done" or "error" at the end.
 */
async function runFromQuery(): Promise<void> {
  const q = new URLSearchParams(location.search);
  const out = document.getElementById('out');
  const models = splitList(q.get('models') ?? '');
  if (!out || !models.length) return;
  const s = q.has('quick') ? BENCH_SETTINGS.quick : BENCH_SETTINGS.full;
  const results: BenchModelResult[] = [];
  out.dataset.state = 'running';
  for (const url of models) {
    out.textContent = `${formatTable(results)}\nmeasuring ${url} …`;
    const r = await api.measure({
      modelUrl: new URL(url, location.href).href, model: url.replace(/\/$/, '').split('/').pop() ?? url,
      prompts: s.prompts, decodePrompt: s.decodePrompt, decodeTokens: s.decodeTokens, repeats: s.repeats, probes: true,
    });
    if ('error' in r) {
      out.textContent = `${formatTable(results)}\n${url}: ${r.error.code}: ${r.error.message}`;
      out.dataset.state = 'error';
      return;
    }
    results.push(r);
  }
  const summary = summarize(results, [], {
    quick: q.has('quick'), prompts: s.prompts, decodePrompt: s.decodePrompt, decodeTokens: s.decodeTokens, repeats: s.repeats,
    notes: ['measured by hand in this browser; MoE scaling runs from the CLI (pnpm webmoe bench)'],
  });
  out.textContent = `adapter: ${summary.adapter}${summary.software ? ' (software)' : ''}\n\n${formatTable(results)}\n${formatDetails(summary)}`;
  out.dataset.state = 'done';
}

if (typeof document !== 'undefined') void runFromQuery();
