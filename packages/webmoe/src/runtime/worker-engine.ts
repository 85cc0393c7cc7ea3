// The page side of the Worker engine: the same Engine interface and the same completions code as the
// in-process engine (completions.ts), with a RequestRunner that forwards to the Worker.
import * as Comlink from 'comlink';
import { WebmoeError, isWebmoeError } from '../errors';
import type { LoadProgress } from './cache/shards';
import { createChatCompletions, type ChatCompletions, type RequestRunner } from './completions';
import { modelBaseUrl, type Engine, type EngineStats, type LoadOptions, type ModelInfo } from './engine';
import type { ReplyResult } from './reply';
import type { EngineEvent, EngineRequest, EngineResult, EngineWorkerApi } from './worker-protocol';

export interface CreateWorkerEngineOptions extends LoadOptions {
  readonly onProgress?: (p: LoadProgress) => void;
  readonly signal?: AbortSignal;
}

let nextId = 1;

/**
 * Rejects with 'worker-lost' at the worker's first 'error' event: an uncaught exception, a crash or a script
 * that failed to load. comlink never answers the calls pending then, so every call races this instead of
 * hanging. A worker the page terminates itself sends no event: dispose() first.
 */
function whenLost(worker: Comlink.Endpoint): Promise<never> {
  const lost = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (ev: Event) => {
      const what = (ev as Partial<ErrorEvent>).message;
      reject(new WebmoeError('worker-lost', what ? `the engine worker stopped: ${what}` : 'the engine worker failed to start or crashed'));
    }, { once: true } as AddEventListenerOptions);
  });
  // Nobody may be waiting when the worker dies; the next call sees the rejection.
  lost.catch(() => {});
  return lost;
}

/**
 * Loads a model inside `worker` (a dedicated Worker whose script calls serveEngine()) and returns an
 * Engine that talks to it. Terminating the worker is the caller's business, after dispose().
 */
export async function createWorkerEngine(worker: Comlink.Endpoint, options: CreateWorkerEngineOptions): Promise<Engine> {
  const remote = Comlink.wrap<EngineWorkerApi>(worker);
  const lost = whenLost(worker);

  async function call(req: EngineRequest, onEvent?: (e: EngineEvent) => void): Promise<EngineResult> {
    let r;
    try {
      r = await Promise.race([remote.call(req, onEvent ? Comlink.proxy(onEvent) : undefined), lost]);
    } catch (e) {
      if (isWebmoeError(e, 'worker-lost')) throw e;
      // Only comlink itself fails here (a request that cannot be cloned).
      throw new WebmoeError('internal', `the engine worker could not take the request: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
    }
    if (!r.ok) throw WebmoeError.fromData(r.error);
    return r.result;
  }

  /** Forwards an AbortSignal as an 'abort' message for request `id`; returns the unhook. */
  function forwardAbort(signal: AbortSignal | undefined, id: number): () => void {
    if (!signal) return () => {};
    const onAbort = () => void call({ type: 'abort', id }).catch(() => {});
    signal.addEventListener('abort', onAbort, { once: true });
    return () => signal.removeEventListener('abort', onAbort);
  }

  const { model: url, modelId, contextLength, kvCacheFormat, speculative, speculativeDepth, decodeAhead, verifyCache, gpuMemoryBudget, onProgress, signal } = options;
  if (signal?.aborted) throw new WebmoeError('aborted', 'loading was aborted');
  const loadId = nextId++;
  const unhook = forwardAbort(signal, loadId);
  let loaded: EngineResult;
  try {
    // The Worker resolves relative URLs against its own script: resolve against the page here.
    const load: LoadOptions = { model: modelBaseUrl(url), ...(modelId ? { modelId } : {}), ...(contextLength ? { contextLength } : {}), ...(kvCacheFormat ? { kvCacheFormat } : {}), ...(speculative ? { speculative } : {}), ...(speculativeDepth ? { speculativeDepth } : {}), ...(decodeAhead ? { decodeAhead } : {}), ...(verifyCache ? { verifyCache } : {}), ...(gpuMemoryBudget ? { gpuMemoryBudget } : {}) };
    loaded = await call({ type: 'load', id: loadId, options: load }, (e) => e.type === 'progress' && onProgress?.(e.progress));
  } finally {
    unhook();
  }
  if (loaded.type !== 'loaded') throw new WebmoeError('internal', `the engine worker answered ${loaded.type} to load`);
  const model: ModelInfo = loaded.model;

  const runner: RequestRunner = {
    async start(params, onDelta, signal) {
      const id = nextId++;
      const { signal: _local, ...data } = params;
      let settle!: { resolve: (r: ReplyResult) => void; reject: (e: unknown) => void };
      const result = new Promise<ReplyResult>((resolve, reject) => (settle = { resolve, reject }));
      const unhook = forwardAbort(signal, id);
      const onEvent = (e: EngineEvent) => {
        if (e.type === 'delta') onDelta(e.delta);
        else if (e.type === 'end') {
          unhook();
          settle.resolve(e.result);
        } else if (e.type === 'error') {
          unhook();
          settle.reject(WebmoeError.fromData(e.error));
        }
      };
      try {
        await call({ type: 'chat', id, params: data }, onEvent);
      } catch (e) {
        unhook();
        throw e;
      }
      return { result: Promise.race([result, lost]) };
    },
  };

  const chat: { readonly completions: ChatCompletions } = { completions: createChatCompletions(() => model.id, runner) };
  let disposed = false;
  return {
    model,
    chat,
    resetChat: async () => void (await call({ type: 'reset-chat' })),
    async stats(): Promise<EngineStats> {
      const r = await call({ type: 'stats' });
      if (r.type !== 'stats') throw new WebmoeError('internal', `the engine worker answered ${r.type} to stats`);
      return r.stats;
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      try {
        await call({ type: 'dispose' });
      } catch (e) {
        // A worker that is gone holds nothing left to free.
        if (!isWebmoeError(e, 'worker-lost')) throw e;
      }
      remote[Comlink.releaseProxy]();
    },
  };
}
