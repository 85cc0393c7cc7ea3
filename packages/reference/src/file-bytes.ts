// Synchronous reads of byte ranges: the reference reads small models, and synchronous reads let a weight
// source hand out tensors on demand from a plain function call.
import { closeSync, openSync, readSync } from 'node:fs';
import { WebmoeError } from 'webmoe/model';

/** Reads `length` bytes at `fileOffset` of the file into out[at …]. */
export function readInto(path: string, out: Uint8Array, at: number, fileOffset: number, length: number): void {
  const fd = openSync(path, 'r');
  try {
    for (let done = 0; done < length;) {
      const n = readSync(fd, out, at + done, length - done, fileOffset + done);
      if (n === 0) throw new WebmoeError('model-format', `${path} ends before byte ${fileOffset + length}`, { detail: { file: path } });
      done += n;
    }
  } finally {
    closeSync(fd);
  }
}

export function readAt(path: string, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  readInto(path, out, 0, offset, length);
  return out;
}
