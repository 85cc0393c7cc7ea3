// Writes the shard files of a model folder sequentially, hashing each byte as it goes out, and places byte
// ranges by the rules documented in webmoe's model/manifest.ts (aligned starts, no straddling unless a range
// alone exceeds a shard, which then starts a fresh shard and runs on through the next ones).
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { TENSOR_ALIGNMENT, shardFileName, type ByteRange, type ManifestFile } from 'webmoe/model';

const ZEROS = new Uint8Array(64 * 1024);

export class ShardWriter {
  private readonly done: ManifestFile[] = [];
  private fh: FileHandle | null = null;
  private hash: Hash | null = null;
  private index = 0;
  private offset = 0;
  /** The write in flight: one is kept outstanding so that the disk works while the caller computes. */
  private pending: Promise<unknown> = Promise.resolve();

  constructor(private readonly dir: string, readonly shardBytes: number, private readonly onShard?: (f: ManifestFile) => void) {
    if (!Number.isSafeInteger(shardBytes) || shardBytes < TENSOR_ALIGNMENT || shardBytes % TENSOR_ALIGNMENT !== 0) {
      throw new RangeError(`shard size ${shardBytes} must be a positive multiple of ${TENSOR_ALIGNMENT} bytes`);
    }
  }

  /** Reserves the position of the next `bytes`-long range; its bytes must follow through write(). */
  async place(bytes: number): Promise<ByteRange> {
    const aligned = Math.ceil(this.offset / TENSOR_ALIGNMENT) * TENSOR_ALIGNMENT;
    if (this.offset > 0 && aligned + bytes > this.shardBytes) await this.nextShard();
    else await this.zeros(aligned - this.offset);
    return { shard: this.index, offset: this.offset, bytes };
  }

  async write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.byteLength) {
      if (this.offset === this.shardBytes) await this.nextShard();
      if (!this.fh) {
        this.fh = await open(join(this.dir, shardFileName(this.index)), 'wx');
        this.hash = createHash('sha256');
      }
      const n = Math.min(chunk.byteLength - at, this.shardBytes - this.offset);
      const piece = at === 0 && n === chunk.byteLength ? chunk : chunk.subarray(at, at + n);
      this.hash!.update(piece);
      await this.pending;
      this.pending = this.fh.write(piece); // callers never reuse a buffer they have written
      this.pending.catch(() => {}); // a failure surfaces at the next await of `pending`, not as an unhandled rejection
      this.offset += n;
      at += n;
    }
  }

  async zeros(n: number): Promise<void> {
    for (let left = n; left > 0; left -= ZEROS.byteLength) await this.write(left >= ZEROS.byteLength ? ZEROS : ZEROS.subarray(0, left));
  }

  /** Closes the last shard; returns every shard's name, size and SHA-256. */
  async finish(): Promise<ManifestFile[]> {
    await this.closeShard();
    return this.done;
  }

  /** Closes the open file without recording it (for error paths; the caller removes the folder). */
  async abort(): Promise<void> {
    await this.pending.catch(() => {});
    await this.fh?.close();
    this.fh = null;
  }

  private async closeShard(): Promise<void> {
    if (!this.fh) return;
    await this.pending;
    await this.fh.close();
    const f = { file: shardFileName(this.index), bytes: this.offset, sha256: this.hash!.digest('hex') };
    this.done.push(f);
    this.onShard?.(f);
    this.fh = null;
    this.hash = null;
  }

  private async nextShard(): Promise<void> {
    await this.closeShard();
    this.index++;
    this.offset = 0;
  }
}
