// The demo model's two engines, one in the page and one in a Worker, each loaded on first use: shared by
// everything the engine harness page runs (e2e/engine/main.ts, e2e/chat-api/main.ts). A load costs
// SwiftShader 15-25 s of pipeline compiles on a new GPU device, more than most checks; every check that
// uses these engines compares replies of the same engine or of a fresh one, so none depends on which
// requests came before (reusing a prefix gives a fresh engine's reply: engine.spec.ts checks it).
import { createEngine, createWorkerEngine, type Engine } from 'webmoe';

export const MODEL = new URL('/models/webmoe-tiny/', location.href).href;
/** Room for chat-api's longest request: the tools in the prompt and a call of up to 240 tokens. */
export const CONTEXT = 1024;

const engines: Partial<Record<'page' | 'worker', Promise<Engine>>> = {};

export function engine(where: 'page' | 'worker'): Promise<Engine> {
  return (engines[where] ??= where === 'page'
    ? createEngine({ model: MODEL, contextLength: CONTEXT })
    : createWorkerEngine(new Worker(new URL('../../demo/engine-worker.ts', import.meta.url), { type: 'module' }), { model: MODEL, contextLength: CONTEXT }));
}
