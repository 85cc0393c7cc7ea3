// The Worker side: runs a LocalEngine (the same code as the in-process engine) and answers the protocol.
// A worker script is one line: `serveEngine()` (see worker-entry.ts), or `serveEngine({ generator })`
// with another backend.
import * as Comlink from 'comlink';
import { WebmoeError } from '../errors';
import { createEngine, type EngineEnvironment, type LocalEngine } from './engine';
import { toErrorData, type EngineEvent, type EngineRequest, type EngineResult, type EngineWorkerApi } from './worker-protocol';

type RemoteCallback = ((e: EngineEvent) => Promise<void>) & { [Comlink.releaseProxy]?: () => void };

export function serveEngine(env: EngineEnvironment = {}, endpoint: Comlink.Endpoint = self as unknown as Comlink.Endpoint): void {
  let engine: LocalEngine | null = null;
  const controllers = new Map<number, AbortController>();

  // Events are not awaited: the generation must not wait for the page. Failures (page gone) are moot.
  const sender = (cb: RemoteCallback | undefined) => (e: EngineEvent) => void cb?.(e).catch(() => {});
  const release = (cb: RemoteCallback | undefined) => cb?.[Comlink.releaseProxy]?.();

  function loaded(): LocalEngine {
    if (!engine) throw new WebmoeError('invalid-request', 'no model is loaded in this worker');
    return engine;
  }

  async function handle(req: EngineRequest, cb: RemoteCallback | undefined): Promise<EngineResult> {
    switch (req.type) {
      case 'load': {
        const controller = new AbortController();
        controllers.set(req.id, controller);
        try {
          const old = engine;
          engine = null;
          await old?.dispose();
          const send = sender(cb);
          engine = await createEngine({ ...env, ...req.options, signal: controller.signal, onProgress: (progress) => send({ type: 'progress', progress }) });
          return { type: 'loaded', model: engine.model };
        } finally {
          controllers.delete(req.id);
          release(cb);
        }
      }
      case 'chat': {
        const controller = new AbortController();
        controllers.set(req.id, controller);
        const send = sender(cb);
        const finish = (e: EngineEvent) => {
          send(e);
          controllers.delete(req.id);
          release(cb);
        };
        try {
          const { result } = await loaded().runner.start(req.params, (delta) => send({ type: 'delta', delta }), controller.signal);
          result.then(
            (r) => finish({ type: 'end', result: r }),
            (err) => finish({ type: 'error', error: toErrorData(err) }),
          );
          return { type: 'accepted', id: req.id };
        } catch (err) {
          controllers.delete(req.id);
          release(cb);
          throw err;
        }
      }
      case 'abort':
        controllers.get(req.id)?.abort();
        return { type: 'done' };
      case 'reset-chat':
        await loaded().resetChat();
        return { type: 'done' };
      case 'stats':
        return { type: 'stats', stats: await loaded().stats() };
      case 'dispose': {
        const old = engine;
        engine = null;
        await old?.dispose();
        return { type: 'done' };
      }
    }
  }

  const api: EngineWorkerApi = {
    async call(req, onEvent) {
      try {
        return { ok: true, result: await handle(req, onEvent as RemoteCallback | undefined) };
      } catch (e) {
        return { ok: false, error: toErrorData(e) };
      }
    },
  };
  Comlink.expose(api, endpoint);
}
