// Expert paging's host-memory tier (docs/paging.md): the bytes of recently paged-in experts, so that an
// expert evicted from its GPU slot and chosen again is copied from memory instead of read from storage.
// Bounded in bytes; the least recently used entries go first.

export class HostExpertCache {
  /** Insertion order is use order: a hit moves its entry to the end. */
  private readonly entries = new Map<string, Uint8Array>();
  private held = 0;

  constructor(readonly limitBytes: number) {}

  get bytes(): number {
    return this.held;
  }

  get(key: string): Uint8Array | undefined {
    const data = this.entries.get(key);
    if (data) {
      this.entries.delete(key);
      this.entries.set(key, data);
    }
    return data;
  }

  /** Keeps `data` (an expert larger than the whole cache is not kept), dropping the least recently used. */
  set(key: string, data: Uint8Array): void {
    if (data.byteLength > this.limitBytes) return;
    const old = this.entries.get(key);
    if (old) {
      this.held -= old.byteLength;
      this.entries.delete(key);
    }
    for (const [k, v] of this.entries) {
      if (this.held + data.byteLength <= this.limitBytes) break;
      this.entries.delete(k);
      this.held -= v.byteLength;
    }
    this.entries.set(key, data);
    this.held += data.byteLength;
  }

  clear(): void {
    this.entries.clear();
    this.held = 0;
  }
}
