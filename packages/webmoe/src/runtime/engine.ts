// The Engine a web app talks to, and its in-process implementation: load a converted model from a URL
// (through the cache), then chat with it through the OpenAI-shaped API. The Worker engine
// (worker-engine.ts) runs this same implementation inside a dedicated Worker.
import { WebmoeError, isWebmoeError } from '../errors';
import { TextTokenizer, type ModelFamily } from '../text/tokenizer';
import { isV4ConfigJson } from '../model/config-v4';
import { ModelSource, type ModelSourceOptions, type VerifyCache } from './cache/loader';
import { isGgufUrl, openGgufUrl } from './gguf-url';
import { ModelCache } from './cache/model-cache';
import { readShardList, type LoadProgress, type ShardEntry } from './cache/shards';
import { prepareRequest } from './chat-request';
import { createChatCompletions, type ChatCompletions, type RequestRunner } from './completions';
import { Conversation, type GenerationResult } from './conversation';
import { defaultGeneratorFactory, webgpuGeneratorFactory } from './default-generator';
import { createRemoteEngine, type RemoteOptions } from './remote-engine';
import type { Engine, EngineStats, ModelInfo } from './engine-api';
import type { Generator } from '../executor/generator';
import type { KvCacheFormat } from '../kernels/mla';
import type { Speculation, SpeculativeDepth } from '../executor/gpu-model';
import type { GeneratorFactory } from './generator-factory';
import type { ChatCompletionTokenLogprob } from './openai-types';
import { ReplySplitter } from './reply';
import { SerialQueue } from './serial-queue';

export type { Engine, EngineStats, ModelInfo } from './engine-api';

/** What to load: plain data, so that it can cross to a Worker. */
export interface LoadOptions {
  /**
   * URL of the converted model's directory (manifest.json, tokenizer.json, tokenizer_config.json, shards), or of a
   * deepseek2 .gguf file, read by range requests without a conversion step (docs/gguf.md).
   */
  readonly model: string;
  /** Cache key; default: the absolute model URL. */
  readonly modelId?: string;
  /** Context (prompt + reply) to size the KV cache for; default: the backend's choice. */
  readonly contextLength?: number;
  /** V2/V3 latent KV cache format ('f32' default, 'f16', 'fp8'): see GpuModelOptions.kvCacheFormat. */
  readonly kvCacheFormat?: KvCacheFormat;
  /** Speculative decoding with the model's MTP module (docs/speculative.md): 'mtp' or 'off' (default, measured faster). */
  readonly speculative?: Speculation;
  /** Drafts per speculative step, 1 … 3 (docs/speculative.md#chained-drafts); default 1. */
  readonly speculativeDepth?: SpeculativeDepth;
  /** Plain decode steps kept in flight, 1 (off) … 16 (docs/decode-loop.md); default 4 on hardware adapters, 1 on software ones. */
  readonly decodeAhead?: number;
  /** 'always': hash the cached shards again on every load (catches bit rot in storage); default 'once', when stored. */
  readonly verifyCache?: VerifyCache;
  /**
   * GPU bytes the model may take (weights, KV cache, scratch). A larger model runs with its routed experts
   * paged from the browser's storage (docs/paging.md); one that cannot fit even so is refused before the
   * first weight request. Default: no limit.
   */
  readonly gpuMemoryBudget?: number;
}

/** Where and how to load; stays on the side that runs the model (see serveEngine for the Worker). */
export interface EngineEnvironment {
  /** The model backend; default: the WebGPU forward pass. */
  readonly generator?: GeneratorFactory;
  readonly fetch?: typeof fetch;
  readonly cache?: ModelCache;
  /** The default backend's GPU instead of navigator.gpu: outside a browser, Dawn's (docs/runtimes.md). */
  readonly gpu?: GPU;
}

/** An OpenAI-compatible server instead of a local model (remote-engine.ts). */
export interface CreateRemoteEngineOptions {
  readonly remote: RemoteOptions;
  readonly signal?: AbortSignal;
}

export interface CreateEngineOptions extends LoadOptions, EngineEnvironment {
  readonly onProgress?: (p: LoadProgress) => void;
  readonly signal?: AbortSignal;
}

/** The model URL as an absolute directory URL, or a .gguf file's absolute URL (relative URLs resolve against the page or worker). */
export function modelBaseUrl(model: string): string {
  const base = typeof location === 'undefined' ? undefined : location.href;
  let url: URL;
  try {
    url = new URL(model, base);
  } catch {
    throw new WebmoeError('invalid-request', `model: ${JSON.stringify(model)} is not a URL`);
  }
  return url.href.endsWith('/') || isGgufUrl(url.href) ? url.href : `${url.href}/`;
}

export function defaultModelId(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, '');
}

/**
 * The model family, which picks the chat format, from the manifest's copy of config.json (manifest.ts
 * `model.hf`); a folder without one (hand-made, tests) is read as V2/V3, whose format is its chat template.
 */
function manifestFamily(manifest: Record<string, unknown>): ModelFamily {
  const hf = (manifest.model as { hf?: unknown } | null | undefined)?.hf;
  return typeof hf === 'object' && hf !== null && isV4ConfigJson(hf as Record<string, unknown>) ? 'v4' : 'v3';
}

export class LocalEngine implements Engine {
  readonly chat: { readonly completions: ChatCompletions };
  readonly runner: RequestRunner;
  private readonly queue = new SerialQueue();
  private readonly conversation: Conversation;
  private lastReply: EngineStats['lastReply'] = null;
  private disposed = false;

  constructor(
    private readonly generator: Generator,
    tokenizer: TextTokenizer,
    readonly model: ModelInfo,
  ) {
    this.conversation = new Conversation(generator, tokenizer);
    this.runner = {
      start: async (params, onDelta, signal) => {
        if (this.disposed) throw new WebmoeError('invalid-request', 'the engine has been disposed');
        const prepared = prepareRequest(params, tokenizer, generator);
        // Each token's logprobs ride on the next piece of text (the final chunk takes what is left).
        const pending: ChatCompletionTokenLogprob[] = [];
        const reply = new ReplySplitter(prepared.reply, (d) => onDelta(pending.length ? { ...d, logprobs: pending.splice(0) } : d));
        const queuedAt = performance.now();
        const run = async () => reply.finish(await this.generate(prepared, (text) => reply.push(text), signal, queuedAt, (lp) => pending.push(lp)));
        return { result: this.queue.run(run, signal) };
      },
    };
    this.chat = { completions: createChatCompletions(() => this.model.id, this.runner) };
  }

  private async generate(...args: Parameters<Conversation['generate']>): Promise<GenerationResult> {
    this.generator.resetStats?.();
    try {
      const r = await this.conversation.generate(...args);
      this.lastReply = { finishReason: r.finishReason, usage: r.usage, timings: r.timings };
      return r;
    } catch (e) {
      // A reply stopped while decoding carries its figures so far (conversation.ts).
      const d = isWebmoeError(e, 'aborted') ? (e.detail as Partial<GenerationResult> | undefined) : undefined;
      if (d?.usage && d.timings) this.lastReply = { finishReason: 'aborted', usage: d.usage, timings: d.timings };
      throw e;
    }
  }

  stats(): Promise<EngineStats> {
    return this.queue.run(async () => ({ model: this.disposed ? null : ((await this.generator.stats?.()) ?? null), lastReply: this.lastReply }));
  }

  resetChat(): Promise<void> {
    return this.queue.run(async () => this.conversation.reset());
  }

  dispose(): Promise<void> {
    if (this.disposed) return Promise.resolve();
    this.disposed = true;
    return this.queue.run(async () => this.generator.dispose?.());
  }
}

/** Loads a model in this thread (use createWorkerEngine to keep the page responsive). */
export async function createEngine(options: CreateRemoteEngineOptions): Promise<Engine>;
export async function createEngine(options: CreateEngineOptions): Promise<LocalEngine>;
export async function createEngine(options: CreateEngineOptions | CreateRemoteEngineOptions): Promise<Engine> {
  if ('remote' in options) return createRemoteEngine(options.remote, options.signal);
  const baseUrl = modelBaseUrl(options.model);
  const modelId = options.modelId ?? defaultModelId(baseUrl);
  const onProgress = options.onProgress ?? (() => {});
  const sourceOptions = {
    modelId,
    cache: options.cache ?? new ModelCache(),
    onProgress,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
    ...(options.verifyCache ? { verifyCache: options.verifyCache } : {}),
  };
  const { source, manifest, shards, tokenizer, fetchJson } = isGgufUrl(baseUrl) ? await openGguf(baseUrl, sourceOptions) : await openFolder(new ModelSource({ ...sourceOptions, baseUrl }));
  const generator = await (options.generator ?? (options.gpu ? webgpuGeneratorFactory({ gpu: options.gpu }) : defaultGeneratorFactory))({
    modelId,
    manifest: { ...manifest, shards },
    ...(options.contextLength ? { contextLength: options.contextLength } : {}),
    ...(options.kvCacheFormat ? { kvCacheFormat: options.kvCacheFormat } : {}),
    ...(options.speculative ? { speculative: options.speculative } : {}),
    ...(options.speculativeDepth ? { speculativeDepth: options.speculativeDepth } : {}),
    ...(options.decodeAhead ? { decodeAhead: options.decodeAhead } : {}),
    ...(options.gpuMemoryBudget ? { gpuMemoryBudget: options.gpuMemoryBudget } : {}),
    readShardRange: (index, offset, bytes) => source.readRange(shards[index], offset, bytes),
    fetchJson,
    loadShards: (onShard) => source.loadShards(shards, onShard),
    onProgress,
    ...(options.signal ? { signal: options.signal } : {}),
  });
  return new LocalEngine(generator, tokenizer, { id: modelId, contextLength: generator.contextLength });
}

interface OpenedModel {
  source: ModelSource;
  manifest: Record<string, unknown>;
  shards: ShardEntry[];
  tokenizer: TextTokenizer;
  fetchJson: (name: string) => Promise<unknown>;
}

async function openFolder(source: ModelSource): Promise<OpenedModel> {
  const manifest = (await source.json('manifest.json')) as Record<string, unknown>;
  const shards = readShardList(manifest);
  // The converter lists the tokenizer files with their hashes; older or hand-made folders may not.
  const listed = Array.isArray(manifest.tokenizer) ? (manifest.tokenizer as { file?: unknown; sha256?: unknown }[]) : [];
  const hashOf = (file: string) => {
    const h = listed.find((t) => t?.file === file)?.sha256;
    return typeof h === 'string' ? h : undefined;
  };
  const [tokenizerJson, tokenizerConfig] = await Promise.all(['tokenizer.json', 'tokenizer_config.json'].map((f) => source.json(f, hashOf(f))));
  const tokenizer = TextTokenizer.fromJson(tokenizerJson, tokenizerConfig, { family: manifestFamily(manifest) });
  return { source, manifest, shards, tokenizer, fetchJson: (name) => source.json(name, hashOf(name)) };
}

/** A .gguf URL: the model folder its header implies, the tokenizer from its metadata (gguf-url.ts). */
async function openGguf(url: string, o: Omit<ModelSourceOptions, 'baseUrl'>): Promise<OpenedModel> {
  const g = await openGgufUrl(url, o);
  if (!g.tokenizer) throw new WebmoeError('model-format', `${url}: the GGUF file has no tokenizer (tokenizer.ggml.model is missing)`, { detail: { url } });
  const tokenizer = TextTokenizer.fromJson(g.tokenizer['tokenizer.json'], g.tokenizer['tokenizer_config.json'], { family: 'v3' });
  const fetchJson = async (name: string) => {
    throw new WebmoeError('model-format', `${url}: a GGUF file has no ${name} beside it`, { detail: { url, file: name } });
  };
  return { source: g.source, manifest: g.folder.manifest as unknown as Record<string, unknown>, shards: [...g.shards], tokenizer, fetchJson };
}
