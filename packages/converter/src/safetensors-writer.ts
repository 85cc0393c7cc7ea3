// A streaming safetensors writer: the header is fixed up front from the declared tensors, then their
// bytes are appended in declaration order (in as many pieces as the caller likes).
import { open, type FileHandle } from 'node:fs/promises';
import { DTYPE_BYTES, type Dtype } from './dtypes';
import { elementCount } from './safetensors';

export interface TensorDecl {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export interface SafetensorsWriter {
  /** Appends bytes of `name`, which must be the tensor being written or the next declared one. */
  write(name: string, bytes: Uint8Array): Promise<void>;
  /** Checks that every declared byte was written, then closes the file. */
  close(): Promise<void>;
  /** Closes without checking (for error paths). */
  abort(): Promise<void>;
}

/** The header bytes (length prefix included) for tensors stored back to back in declaration order. */
export function safetensorsHeader(decls: readonly TensorDecl[], metadata: Record<string, string> = { format: 'pt' }): { bytes: Uint8Array; sizes: number[] } {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const sizes: number[] = [];
  for (const d of decls) {
    const n = elementCount(d.shape) * DTYPE_BYTES[d.dtype];
    if (Object.hasOwn(header, d.name)) throw new Error(`safetensors writer: tensor "${d.name}" declared twice`);
    header[d.name] = { dtype: d.dtype, shape: d.shape, data_offsets: [offset, offset + n] };
    sizes.push(n);
    offset += n;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8); // keeps the data 8-byte aligned, as the reference writer does
  const text = new TextEncoder().encode(json);
  const bytes = new Uint8Array(8 + text.length);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(text.length), true);
  bytes.set(text, 8);
  return { bytes, sizes };
}

export async function createSafetensorsWriter(path: string, decls: readonly TensorDecl[], metadata?: Record<string, string>): Promise<SafetensorsWriter> {
  const { bytes, sizes } = safetensorsHeader(decls, metadata);
  const fh: FileHandle = await open(path, 'w');
  await fh.write(bytes);
  let index = 0;
  let written = 0;
  return {
    async write(name, chunk) {
      if (index < decls.length && written === sizes[index] && decls[index].name !== name) {
        index++;
        written = 0;
      }
      while (index < decls.length && sizes[index] === 0 && decls[index].name !== name) index++;
      if (index >= decls.length || decls[index].name !== name) throw new Error(`safetensors writer ${path}: "${name}" written out of order (expected "${decls[index]?.name}")`);
      if (written + chunk.byteLength > sizes[index]) throw new Error(`safetensors writer ${path}: "${name}" gets more than its ${sizes[index]} bytes`);
      await fh.write(chunk);
      written += chunk.byteLength;
    },
    async close() {
      const complete = index === decls.length || (written === sizes[index] && decls.slice(index + 1).every((_, i) => sizes[index + 1 + i] === 0));
      await fh.close();
      if (!complete) throw new Error(`safetensors writer ${path}: closed before "${decls[index].name}" was complete`);
    },
    abort: () => fh.close(),
  };
}
