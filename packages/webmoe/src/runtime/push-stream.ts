// An AsyncIterable fed from outside (a generation loop here, Worker messages there). The producer never
// waits for the consumer: chunks are small and a slow consumer must not slow the GPU. Breaking out of a
// `for await` calls onCancel, which aborts the generation behind it.

export class PushStream<T> implements AsyncIterable<T> {
  private readonly buffer: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | null = null;
  private closed = false;
  private failure: { error: unknown } | null = null;
  private iterated = false;

  constructor(private readonly onCancel?: () => void) {}

  push(value: T): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value, done: false });
    } else this.buffer.push(value);
  }

  end(): void {
    this.closed = true;
    this.settle();
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.failure = { error };
    this.closed = true;
    this.settle();
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    if (this.iterated) throw new Error('a completion stream can be iterated only once');
    this.iterated = true;
    return {
      next: () => {
        if (this.buffer.length) return Promise.resolve({ value: this.buffer.shift()!, done: false });
        if (this.failure) {
          const { error } = this.failure;
          this.failure = null;
          return Promise.reject(error);
        }
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: () => {
        if (!this.closed) {
          this.closed = true;
          this.buffer.length = 0;
          this.onCancel?.();
        }
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }

  private settle(): void {
    const w = this.waiter;
    if (!w || this.buffer.length) return;
    this.waiter = null;
    if (this.failure) {
      const { error } = this.failure;
      this.failure = null;
      w.reject(error);
    } else w.resolve({ value: undefined, done: true });
  }
}
