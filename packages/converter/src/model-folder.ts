// Reading a converted webmoe model folder in Node: the manifest, shard integrity (SHA-256), and tensors
// dequantized to f32 through formats.ts `dequantize` (the definition the GPU kernels follow).
import { createHash } from 'node:crypto';
import { open, readFile, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MANIFEST_FILE, WebmoeError, dequantize, parseManifest, rangePieces, tensorLayout,
  type AnyModelConfig, type ByteRange, type Manifest, type ManifestExpert, type ManifestTensor,
} from 'webmoe/model';

async function readManifest(dir: string): Promise<Manifest> {
  const path = join(dir, MANIFEST_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new WebmoeError('model-format', `${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (e as Error).message}`, { detail: { file: path } });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new WebmoeError('model-format', `${path}: not valid JSON (${(e as Error).message})`, { detail: { file: path } });
  }
  return parseManifest(json, path);
}

async function sha256File(path: string): Promise<string> {
  const fh = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = new Uint8Array(4 << 20);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.byteLength, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
    }
    return hash.digest('hex');
  } finally {
    await fh.close();
  }
}

/**
 * Reads and validates the manifest, then checks every shard's and tokenizer file's size and SHA-256.
 * Throws WebmoeError('model-format') for a bad manifest, ('integrity') naming the file that does not match.
 */
export async function verifyModelFolder(dir: string): Promise<Manifest> {
  const manifest = await readManifest(dir);
  for (const f of [...manifest.shards, ...manifest.tokenizer]) {
    const path = join(dir, f.file);
    const size = await stat(path).then((s) => s.size, () => -1);
    if (size !== f.bytes) {
      throw new WebmoeError('integrity', `${path}: ${size < 0 ? 'missing' : `${size} bytes, the manifest says ${f.bytes}`}`, { detail: { file: path } });
    }
    const sha = await sha256File(path);
    if (sha !== f.sha256) throw new WebmoeError('integrity', `${path}: SHA-256 ${sha} does not match the manifest's ${f.sha256} (the file is corrupt)`, { detail: { file: path } });
  }
  return manifest;
}

export interface WebmoeModel {
  dir: string;
  manifest: Manifest;
  config: AnyModelConfig;
  tensors: Map<string, ManifestTensor>;
  /** A tensor's bytes in its webmoe format (what is uploaded to the GPU). */
  read(name: string): Promise<Uint8Array>;
  /** Bytes of a byte range of the folder (an expert's range, for instance). */
  readRange(range: ByteRange): Promise<Uint8Array>;
  /** A tensor dequantized to row-major f32. */
  readF32(name: string): Promise<Float32Array>;
  expert(layer: number, expert: number): ManifestExpert;
  close(): Promise<void>;
}

/** Opens a converted model folder; shard hashes are verified first unless `verify` is false. */
export async function openWebmoeModel(dir: string, options: { verify?: boolean } = {}): Promise<WebmoeModel> {
  const manifest = options.verify === false ? await readManifest(dir) : await verifyModelFolder(dir);
  const tensors = new Map(manifest.tensors.map((t) => [t.name, t]));
  const experts = new Map(manifest.experts.map((e) => [`${e.layer}/${e.expert}`, e]));
  const handles = new Map<number, FileHandle>();
  const handle = async (shard: number) => {
    let fh = handles.get(shard);
    if (!fh) {
      fh = await open(join(dir, manifest.shards[shard].file), 'r');
      handles.set(shard, fh);
    }
    return fh;
  };
  const readRange = async (range: ByteRange) => {
    const out = new Uint8Array(range.bytes);
    let at = 0;
    for (const p of rangePieces(manifest.shards, range)) {
      const { bytesRead } = await (await handle(p.shard)).read(out, at, p.bytes, p.offset);
      if (bytesRead !== p.bytes) throw new WebmoeError('integrity', `${join(dir, manifest.shards[p.shard].file)}: shorter than the manifest says`);
      at += p.bytes;
    }
    return out;
  };
  const entry = (name: string) => {
    const t = tensors.get(name);
    if (!t) throw new WebmoeError('invalid-request', `${dir}: the model has no tensor "${name}"`, { detail: { tensor: name } });
    return t;
  };
  return {
    dir,
    manifest,
    config: manifest.model.config,
    tensors,
    read: (name) => readRange(entry(name)),
    readRange,
    readF32: async (name) => {
      const t = entry(name);
      return dequantize(tensorLayout(t.format, t.shape), await readRange(t));
    },
    expert: (layer, expert) => {
      const e = experts.get(`${layer}/${expert}`);
      if (!e) throw new WebmoeError('invalid-request', `${dir}: no routed expert ${expert} in layer ${layer}`);
      return e;
    },
    close: async () => {
      await Promise.all([...handles.values()].map((h) => h.close()));
      handles.clear();
    },
  };
}
