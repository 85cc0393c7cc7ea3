// Recorded dispatch lists (a forward plan per prompt length, a sampler per setting) with the GPU buffers
// their launchers created (params blocks, scratch), kept up to a bound: a dropped recording destroys its
// buffers at once instead of leaving them to the garbage collector.
import type { KernelContext } from '../gpu/kernel-context';

interface Recorded<V> {
  value: V;
  owned: GPUBuffer[];
}

export class Recordings<K, V> {
  private readonly entries = new Map<K, Recorded<V>>();

  /**
   * @param limit most recordings kept. Recording one more drops the oldest one that `keep` does not
   *   protect; without `keep`, it drops them all (a cheap recording is simply made again).
   */
  constructor(private readonly ctx: KernelContext, private readonly limit: number, private readonly keep?: (key: K) => boolean) {}

  get size(): number {
    return this.entries.size;
  }

  /** The recording for `key`, made by `build` on first use with a context that collects what it creates. */
  get(key: K, build: (ctx: KernelContext) => V): V {
    const hit = this.entries.get(key);
    if (hit) return hit.value;
    const owned: GPUBuffer[] = [];
    const value = build({ ...this.ctx, track: (b) => owned.push(b) });
    if (this.entries.size >= this.limit) this.evict();
    this.entries.set(key, { value, owned });
    return value;
  }

  private evict(): void {
    const victims = this.keep ? [...this.entries.keys()].filter((k) => !this.keep!(k)).slice(0, 1) : [...this.entries.keys()];
    for (const k of victims) this.drop(k);
  }

  /** Forgets one recording and destroys its buffers (work already submitted still completes). */
  private drop(key: K): void {
    for (const b of this.entries.get(key)?.owned ?? []) b.destroy();
    this.entries.delete(key);
  }

  clear(): void {
    for (const k of [...this.entries.keys()]) this.drop(k);
  }
}
