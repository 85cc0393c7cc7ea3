// The messages between a page and the engine Worker. comlink carries them (one exposed `call`), but the
// protocol itself is plain data: a request union, a result union, and errors as WebmoeErrorData so that
// they keep their code and message across the boundary (comlink alone would turn them into bare Errors).
import { WebmoeError, type WebmoeErrorData } from '../errors';
import type { LoadProgress } from './cache/shards';
import type { EngineStats, LoadOptions, ModelInfo } from './engine';
import type { ChatCompletionCreateParamsBase } from './openai-types';
import type { ReplyDelta, ReplyResult } from './reply';

/** A chat request as it crosses: everything but the AbortSignal (abort is its own message). */
export type ChatRequestData = Omit<ChatCompletionCreateParamsBase, 'signal'>;

export type EngineRequest =
  | { readonly type: 'load'; readonly id: number; readonly options: LoadOptions }
  | { readonly type: 'chat'; readonly id: number; readonly params: ChatRequestData }
  /** Aborts the load or chat request with that id; a no-op when it has finished. */
  | { readonly type: 'abort'; readonly id: number }
  | { readonly type: 'reset-chat' }
  /** Answered once the running chat request is done. */
  | { readonly type: 'stats' }
  | { readonly type: 'dispose' };

export type EngineResult =
  | { readonly type: 'loaded'; readonly model: ModelInfo }
  /** The chat request passed its checks and is queued; its events follow through the callback. */
  | { readonly type: 'accepted'; readonly id: number }
  | { readonly type: 'stats'; readonly stats: EngineStats }
  | { readonly type: 'done' };

export type EngineResponse = { readonly ok: true; readonly result: EngineResult } | { readonly ok: false; readonly error: WebmoeErrorData };

/**
 * Everything that happens after a call returns, through the one callback of that call: one callback means
 * one MessagePort, which keeps the events in order (the last delta arrives before 'end').
 */
export type EngineEvent =
  | { readonly type: 'progress'; readonly progress: LoadProgress }
  | { readonly type: 'delta'; readonly delta: ReplyDelta }
  | { readonly type: 'end'; readonly result: ReplyResult }
  | { readonly type: 'error'; readonly error: WebmoeErrorData };

/** What serveEngine exposes through comlink. `onEvent` arrives as a comlink proxy. */
export interface EngineWorkerApi {
  call(request: EngineRequest, onEvent?: (e: EngineEvent) => void): Promise<EngineResponse>;
}

export function toErrorData(e: unknown): WebmoeErrorData {
  if (e instanceof WebmoeError) return e.toData();
  if ((e as { name?: unknown } | null)?.name === 'AbortError') return new WebmoeError('aborted', 'the request was aborted').toData();
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new WebmoeError('internal', message).toData();
}
