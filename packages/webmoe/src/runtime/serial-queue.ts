// One generation at a time: requests wait their turn in arrival order. A request aborted while waiting
// leaves the queue at once and never runs.
import { WebmoeError } from '../errors';

export function abortedError(what = 'the request was aborted', detail?: Record<string, unknown>): WebmoeError {
  return new WebmoeError('aborted', what, detail ? { detail } : {});
}

export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();

  run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const prev = this.tail;
    let release!: () => void;
    this.tail = new Promise<void>((r) => (release = r));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(abortedError('the request was aborted while queued'));
      signal?.addEventListener('abort', onAbort, { once: true });
      void prev.then(async () => {
        signal?.removeEventListener('abort', onAbort);
        try {
          if (signal?.aborted) throw abortedError('the request was aborted while queued');
          resolve(await task());
        } catch (e) {
          reject(e);
        } finally {
          release();
        }
      });
    });
  }
}
