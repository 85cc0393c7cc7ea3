// Loading a model for the page: in a dedicated Worker when one starts, in the page itself otherwise
// (a Worker can fail to start, e.g. from file:// or under a strict CSP, or lack WebGPU where the page has it);
// or, with `remote`, an OpenAI-compatible server (webmoe serve, vLLM, SGLang) that runs the model instead.
import { WebmoeError, createEngine, createWorkerEngine, isWebmoeError, type Engine, type LoadProgress, type RemoteOptions } from 'webmoe';

export interface LoadedEngine {
  readonly engine: Engine;
  /** Where the model runs. */
  readonly where: 'worker' | 'page' | 'remote';
  /** Frees the model and its Worker. */
  close(): Promise<void>;
}

export interface LoadRequest {
  readonly model: string;
  readonly onProgress: (p: LoadProgress) => void;
  readonly signal: AbortSignal;
  /** A server to talk to instead of loading `model` here. */
  readonly remote?: RemoteOptions;
}

/** The Worker itself failed (not the model): worth trying in the page. */
class WorkerFailed extends Error {}

async function inWorker(req: LoadRequest): Promise<LoadedEngine> {
  let worker: Worker;
  try {
    worker = new Worker(new URL('./engine-worker.ts', import.meta.url), { type: 'module', name: 'webmoe-engine' });
  } catch (e) {
    throw new WorkerFailed(String(e));
  }
  try {
    const engine = await createWorkerEngine(worker, { model: req.model, onProgress: req.onProgress, signal: req.signal });
    return {
      engine,
      where: 'worker',
      async close() {
        await engine.dispose().catch(() => {});
        worker.terminate();
      },
    };
  } catch (e) {
    worker.terminate();
    throw e;
  }
}

async function inPage(req: LoadRequest): Promise<LoadedEngine> {
  const engine = await createEngine({ model: req.model, onProgress: req.onProgress, signal: req.signal });
  return { engine, where: 'page', close: () => engine.dispose() };
}

export async function loadEngine(req: LoadRequest): Promise<LoadedEngine> {
  if (req.remote) {
    const engine = await createEngine({ remote: req.remote, signal: req.signal });
    return { engine, where: 'remote', close: () => engine.dispose() };
  }
  if (typeof navigator === 'undefined' || !('gpu' in navigator) || !navigator.gpu) {
    throw new WebmoeError('no-webgpu', 'navigator.gpu is missing: this browser or context has no WebGPU');
  }
  if (typeof Worker === 'undefined') return inPage(req);
  try {
    return await inWorker(req);
  } catch (e) {
    const workerTrouble = e instanceof WorkerFailed || isWebmoeError(e, 'worker-lost') || isWebmoeError(e, 'no-webgpu') || isWebmoeError(e, 'internal');
    if (!workerTrouble || req.signal.aborted) throw e;
    console.warn('webmoe: the engine Worker failed, running the model in the page instead:', e);
    return inPage(req);
  }
}
