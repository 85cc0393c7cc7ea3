// The browser half of `webmoe run`: loads a converted model from the URL the CLI mounted, runs the
// prompt through the GPU model and returns tokens, timings and (on request) the logits rows.
import { adapterName, ModelCache, TextTokenizer, WebmoeError, acquireGpu, loadGpuModelFromUrl, type GpuContext, type KvCacheFormat } from 'webmoe';
import { RequestSampler } from 'webmoe';
import { kvReport, type KvReport } from './kv-report';
import { pagingReport, type PagingReport } from './paging-report';
import type { PageEnvironment } from './page-env';

export interface RunRequest {
  modelUrl: string;
  /** Token ids, or text that is rendered through the model's chat template as one user message. */
  promptIds?: number[];
  prompt?: string;
  maxTokens: number;
  temperature: number;
  topP: number;
  topK: number;
  seed: number;
  logits: boolean;
  /** With `logits`: load the MTP module and return its rows too. */
  mtp?: boolean;
  contextLength?: number;
  /** The V2/V3 latent cache format (GpuModelOptions.kvCacheFormat). */
  kvCacheFormat?: KvCacheFormat;
  /** Most tokens of one forward call (GpuModelOptions.prefillChunk). */
  prefillChunk?: number;
  /** Speculative decoding with the MTP module (GpuModelOptions.speculative); default: the model's. */
  speculative?: 'mtp' | 'off';
  /** Drafts per speculative step (GpuModelOptions.speculativeDepth); default the engine's. */
  speculativeDepth?: 1 | 2 | 3;
  /** Plain decode steps in flight (GpuModelOptions.decodeAhead); default the engine's. */
  decodeAhead?: number;
  /** GPU memory budget in bytes (GpuModelOptions.gpuMemoryBudget): a larger model pages its experts. */
  gpuMemoryBudget?: number;
  /** Page with exactly this many expert slots per MoE layer (GpuModelOptions.expertSlots). */
  expertSlots?: number;
  /**
   * Where the shards go on their way to the GPU (docs/paging.md, Full-size models): 'indexeddb' stores them in
   * the browser's storage as createEngine's cache does (paged experts read back from there); 'stream' hashes
   * them on the way without storing them (paged experts fetched by Range requests); 'memory' (default) holds
   * them in memory for the run.
   */
  storage?: RunStorageMode;
}

export type RunStorageMode = 'indexeddb' | 'stream' | 'memory';

export interface RunResult {
  prompt: number[];
  tokens: number[];
  /** The reply decoded (when the model folder has a tokenizer). */
  text?: string;
  /** logits[0] after the prompt, logits[i] after feeding tokens[i-1] (with --logits). */
  logits?: number[][];
  /** With --mtp: the MTP module's row at position i (fed the token at i+1, predicting the one at i+2), prompt and reply. */
  mtp_logits?: number[][];
  timings: {
    load_ms: number; prefill_ms: number; decode_ms: number; prefill_tokens_per_s: number; decode_tokens_per_s: number;
    /** Milliseconds per prompt token, and per decode step after the first token (null when there was none). */
    prefill_ms_per_token: number; decode_ms_per_token: number | null;
  };
  adapter: string;
  quant: string;
  stats: { dispatches_per_token: number | null; submits_per_token: number | null; readback_bytes_per_token: number | null; kv_bytes_per_token: number; mha_kv_bytes_per_token: number };
  /** Decode steps (docs/speculative.md): drafts accepted / verified, and tokens per step. */
  speculation: {
    mode: 'mtp' | 'off'; steps: number; tokens_per_step: number | null; acceptance_rate: number | null;
    /** Drafts per step, and per draft j the share of steps that reached it (drafts 1 … j-1 accepted) that accepted it. */
    depth: number; acceptance_by_draft: (number | null)[];
  };
  /** KV state by layer kind and at long contexts, for this model and the released V4-Flash and V3 configs. */
  kv: KvReport;
  /** Expert paging over the decode steps (docs/paging.md); null when every expert is resident. */
  paging: PagingReport | null;
  /** GPU bytes by kind; expert_slots (paging's slot pools, 0 when resident) is part of weights. */
  memory: { weights: number; expert_slots: number; kv_cache: number; scratch: number; total: number };
  /** Where the shards went during the load (RunRequest.storage). */
  storage: RunStorageMode;
  eos: boolean;
}

export interface RunError {
  error: { code: string; message: string };
}

async function run(req: RunRequest, env: PageEnvironment, device?: GpuContext): Promise<RunResult> {
  const t0 = performance.now();
  const gpu = device ?? await acquireGpu(env.gpu ? { gpu: env.gpu } : {});
  // The KV cache is sized for the request when the prompt's length is known, else for 4096 positions.
  const contextLength = req.contextLength ?? (req.promptIds ? req.promptIds.length + req.maxTokens + 1 : 4096);
  const mtp = req.logits && req.mtp === true;
  const { model, manifest, source } = await loadGpuModelFromUrl(gpu, req.modelUrl, { contextLength, mtp, prefillChunk: req.prefillChunk, kvCacheFormat: req.kvCacheFormat, ...(req.speculative ? { speculative: req.speculative } : {}), ...(req.speculativeDepth ? { speculativeDepth: req.speculativeDepth } : {}), ...(req.decodeAhead ? { decodeAhead: req.decodeAhead } : {}), ...(req.gpuMemoryBudget ? { gpuMemoryBudget: req.gpuMemoryBudget } : {}), ...(req.expertSlots ? { expertSlots: req.expertSlots } : {}), ...(req.storage === 'indexeddb' ? { cache: new ModelCache() } : {}), ...(req.storage === 'stream' ? { streamOnly: true } : {}), ...(env.fetch ? { fetch: env.fetch } : {}) });
  let tokenizer: TextTokenizer | null = null;
  if (manifest.tokenizer.some((f) => f.file === 'tokenizer.json')) {
    const sha = (f: string) => manifest.tokenizer.find((t) => t.file === f)?.sha256;
    const config = manifest.tokenizer.some((f) => f.file === 'tokenizer_config.json') ? await source.json('tokenizer_config.json', sha('tokenizer_config.json')) : {};
    tokenizer = TextTokenizer.fromJson(await source.json('tokenizer.json', sha('tokenizer.json')), config, { family: manifest.model.config.family });
  }
  let promptIds = req.promptIds;
  if (!promptIds) {
    if (req.prompt === undefined) throw new WebmoeError('invalid-request', 'give --prompt-ids or --prompt');
    if (!tokenizer) throw new WebmoeError('invalid-request', `--prompt needs the model's tokenizer.json, which ${req.modelUrl} does not have; use --prompt-ids`);
    promptIds = tokenizer.encodeChat([{ role: 'user', content: req.prompt }], { addGenerationPrompt: true });
  }
  const loadMs = performance.now() - t0;
  const eos = new Set(manifest.model.config.eosTokenIds);
  const tokens: number[] = [];
  const logits: number[][] = [];
  const mtpLogits: number[][] = [];
  const logitsAfter = async (ids: number[]) => {
    if (!mtp) return model.logitsAfter(ids);
    const r = await model.logitsWithMtp(ids);
    for (const row of r.mtp) mtpLogits.push(Array.from(row));
    return r.logits;
  };
  const sampler = new RequestSampler({ temperature: req.temperature, top_p: req.topP, top_k: req.topK, seed: req.seed });
  const sampling = () => sampler.next();
  let hitEos = false;

  const t1 = performance.now();
  let prefillMs = 0;
  if (req.logits) {
    // Logits are read back for every step here; decoding without --logits reads back 4 bytes a step.
    let row = await logitsAfter(promptIds);
    prefillMs = performance.now() - t1;
    for (let i = 0; i < req.maxTokens; i++) {
      logits.push(Array.from(row));
      const next = argmax(row);
      tokens.push(next);
      if (eos.has(next) || i === req.maxTokens - 1) break;
      row = await logitsAfter([next]);
    }
  } else {
    // A speculative step may give two tokens: they wait here to be looked at in order.
    let pending = [(await model.prefill(promptIds, { reusePrefix: 0, sampling: sampling() })).next];
    prefillMs = performance.now() - t1;
    model.resetStats();
    while (tokens.length < req.maxTokens) {
      const next = pending.shift()!;
      tokens.push(next);
      if (eos.has(next)) {
        hitEos = true;
        break;
      }
      if (tokens.length === req.maxTokens || pending.length) continue;
      pending = await model.decode(next, sampling());
      sampler.skip(pending.length - 1);
    }
  }
  const decodeMs = performance.now() - t1 - prefillMs;
  const kv = model.kvBytesPerToken;
  const step = model.stepStats();
  const dec = model.decodingStats();
  const paging = pagingReport(model.pagingStats());
  const m = model.memory;
  const memory = { weights: m.weights, expert_slots: paging?.pool_bytes ?? 0, kv_cache: m.kvCache, scratch: m.scratch, total: m.weights + m.kvCache + m.scratch };
  model.dispose();
  if (!device) gpu.destroy();
  return {
    prompt: promptIds,
    tokens,
    ...(tokenizer ? { text: tokenizer.decode(tokens, { skipSpecialTokens: true }) } : {}),
    ...(req.logits ? { logits } : {}),
    ...(mtp ? { mtp_logits: mtpLogits } : {}),
    timings: {
      load_ms: loadMs,
      prefill_ms: prefillMs,
      decode_ms: decodeMs,
      prefill_tokens_per_s: promptIds.length / (prefillMs / 1000),
      decode_tokens_per_s: Math.max(0, tokens.length - 1) / (decodeMs / 1000),
      prefill_ms_per_token: prefillMs / promptIds.length,
      decode_ms_per_token: tokens.length > 1 ? decodeMs / (tokens.length - 1) : null,
    },
    adapter: adapterName(gpu.summary),
    quant: manifest.quant,
    stats: {
      // Counted on the last decode step; null when none ran (one token, or --logits: every step reads logits).
      dispatches_per_token: step?.dispatchesPerToken ?? null,
      submits_per_token: step?.submitsPerToken ?? null,
      readback_bytes_per_token: step?.readbackBytesPerToken ?? null,
      kv_bytes_per_token: kv.latent,
      mha_kv_bytes_per_token: kv.mha,
    },
    kv: kvReport(manifest.model.config, model.contextLength, req.kvCacheFormat),
    speculation: {
      mode: dec.speculative, steps: dec.steps,
      tokens_per_step: dec.steps ? dec.tokens / dec.steps : null, acceptance_rate: dec.drafted ? dec.accepted / dec.drafted : null,
      depth: dec.depth ?? 0, acceptance_by_draft: (dec.acceptedAt ?? []).map((a, j, all) => {
        const reached = j === 0 ? dec.verified ?? 0 : all[j - 1];
        return reached ? a / reached : null;
      }),
    },
    paging,
    memory,
    storage: req.storage ?? 'memory',
    eos: hitEos,
  };
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** A failure as plain data (what crosses from the page to the CLI). */
function runError(e: unknown): RunError {
  return { error: e instanceof WebmoeError ? { code: e.code, message: e.message } : { code: 'internal', message: e instanceof Error ? e.message : String(e) } };
}

/** The run (on `device` when given, which it leaves open; else on a device of its own), or its failure. */
export async function runOrError(r: RunRequest, env: PageEnvironment = {}, device?: GpuContext): Promise<RunResult | RunError> {
  try {
    return await run(r, env, device);
  } catch (e) {
    return runError(e);
  }
}

if (typeof window !== 'undefined') {
  // One device for the page's runs: each loads its own model, but the pipelines one compiles (one cache per
  // device) serve the next of `webmoe run --batch`. A failed run drops the device: the next gets a fresh one.
  let pageGpu: GpuContext | null = null;
  const runInPage = async (r: RunRequest): Promise<RunResult | RunError> => {
    try {
      pageGpu ??= await acquireGpu();
    } catch (e) {
      return runError(e);
    }
    const result = await runOrError(r, {}, pageGpu);
    if ('error' in result) {
      pageGpu.destroy();
      pageGpu = null;
    }
    return result;
  };
  (window as unknown as { webmoeCli: { run(r: RunRequest): Promise<RunResult | RunError> } }).webmoeCli = { run: runInPage };
}
