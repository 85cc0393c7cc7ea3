// Helpers shared by the converter's tests: temporary folders and surgery on safetensors files.
import { cp, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { decodeF64 } from 'webmoe/model';

const made: string[] = [];

/** A fresh folder under the OS temp dir; removeTempDirs() deletes them all. */
export async function tempDir(label: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `webmoe-${label}-`));
  made.push(dir);
  return dir;
}

export async function removeTempDirs(): Promise<void> {
  await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
}

export async function copyDir(from: string, to: string): Promise<string> {
  await cp(from, to, { recursive: true });
  return to;
}

export type Header = Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;

export async function readHeader(path: string): Promise<{ header: Header; data: Uint8Array }> {
  const bytes = new Uint8Array(await readFile(path));
  const n = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  return { header: JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n))), data: bytes.subarray(8 + n) };
}

/** Rewrites a safetensors file with its header changed by `mutate` (the data region is kept as it is). */
export async function rewriteHeader(path: string, mutate: (h: Header) => void): Promise<void> {
  const { header, data } = await readHeader(path);
  mutate(header);
  const text = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  await writeFile(path, out);
}

/** Overwrites bytes of a file in place. */
export async function patchBytes(path: string, position: number, bytes: Uint8Array): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.write(bytes, 0, bytes.length, position);
  } finally {
    await fh.close();
  }
}

/** Entries next to `dir` whose names start with its name: the folder itself or temporary leftovers. */
export async function outputsOf(dir: string): Promise<string[]> {
  const names = await readdir(dirname(dir));
  return names.filter((n) => n === basename(dir) || n.startsWith(`.${basename(dir)}.`));
}

/** The raw bytes of every tensor of a checkpoint folder's safetensors files, by name, read through readHeader. */
export async function rawTensors(dir: string): Promise<Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>> {
  const out = new Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>();
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.safetensors'))) {
    const { header, data } = await readHeader(join(dir, file));
    for (const [name, e] of Object.entries(header)) {
      if (name === '__metadata__') continue;
      const { dtype, shape, data_offsets: [b, end] } = e as { dtype: string; shape: number[]; data_offsets: [number, number] };
      out.set(name, { dtype, shape, bytes: data.subarray(b, end) });
    }
  }
  return out;
}

/**
 * A checkpoint tensor's values in float64, decoded independently of the converter's reader: BF16/F32 and
 * I64 by definition, F8_E4M3 and packed FP4 (I8) times their scales (F32, or F8_E8M0 = 2^(b−127)), through
 * webmoe's independent decodeF64 of the fp8/fp4 layouts. `scaleName` names the scale tensor of a quantized one.
 */
export function sourceF64(raw: Map<string, { dtype: string; shape: number[]; bytes: Uint8Array }>, name: string, scaleName: string): Float64Array {
  const t = raw.get(name)!;
  const rows = t.shape.length === 1 ? 1 : t.shape[0];
  const cols = t.shape.length === 1 ? t.shape[0] : t.shape[1];
  const scalesAsF32 = () => {
    const s = raw.get(scaleName)!;
    if (s.dtype === 'F32') return s.bytes;
    return new Uint8Array(Float32Array.from(s.bytes, (b) => 2 ** (b - 127)).buffer);
  };
  const pad = (n: number) => (n + 15) & ~15;
  switch (t.dtype) {
    case 'BF16': return decodeF64('bf16', t.shape, t.bytes);
    case 'F32': return decodeF64('f32', t.shape, t.bytes);
    case 'I64': return Float64Array.from(new BigInt64Array(t.bytes.slice().buffer), Number);
    case 'F8_E4M3': {
      const bytes = new Uint8Array(pad(rows * cols) + pad(scalesAsF32().length));
      bytes.set(t.bytes);
      bytes.set(scalesAsF32(), pad(rows * cols));
      return decodeF64('fp8', [rows, cols], bytes);
    }
    case 'I8': {
      const full = 2 * cols;
      const rowBytes = Math.ceil(full / 32) * 16;
      const s = raw.get(scaleName)!.bytes;
      const bytes = new Uint8Array(pad(rows * rowBytes) + pad(s.length));
      for (let r = 0; r < rows; r++) bytes.set(t.bytes.subarray(r * cols, (r + 1) * cols), r * rowBytes);
      bytes.set(s, pad(rows * rowBytes));
      return decodeF64('fp4', [rows, full], bytes);
    }
  }
  throw new Error(`sourceF64: dtype ${t.dtype}`);
}

/** Overwrites bytes of one tensor's data, `at` bytes into it, in a safetensors file. */
export async function patchTensorBytes(path: string, name: string, at: number, bytes: Uint8Array): Promise<void> {
  const { header } = await readHeader(path);
  const t = header[name] as { data_offsets: number[] };
  const start = 8 + Number(new DataView((await readFile(path)).buffer).getBigUint64(0, true));
  await patchBytes(path, start + t.data_offsets[0] + at, bytes);
}
