// Helpers shared by the converter's tests: temporary folders and surgery on safetensors files.
import { cp, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';

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
