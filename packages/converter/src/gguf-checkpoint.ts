// A deepseek2 GGUF file read as a checkpoint (safetensors.ts `Checkpoint`) under Hugging Face names, so
// that the converter's own writer makes the model folder. Matrices whose GGUF type the kernels read
// (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) report it as their storedFormat and are copied block for
// block; everything else is read as values. GGUF lists dimensions innermost first: ne = [in, out] is
// the row-major [out, in] matrix the engine uses, so no transpose is needed (docs/gguf.md#tensors).
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  GgufTruncated, checkGgufRanges, decodeF64, decodeGgufTensor, decodeRows, padTo16, parseGgufHeader, placeDtype, placeRowRange, planGguf, rebuildKvB,
  specRowsCols, storedFormatOf, GGML_FORMAT, type GgufHeader, type GgufPlace, type GgufTensorInfo, type ModelConfig, type TensorSpec, type WeightFormat,
} from 'webmoe/model';
import { formatError, type Checkpoint, type CheckpointTensor } from './safetensors';

/** Reads the header from the start of an open file, growing the read until the header fits. */
export async function readGgufHeader(fh: FileHandle, path: string, fileBytes: number): Promise<GgufHeader> {
  let have = Math.min(fileBytes, 1 << 20);
  for (;;) {
    const buf = new Uint8Array(have);
    await fh.read(buf, 0, have, 0);
    try {
      return parseGgufHeader(buf, path);
    } catch (e) {
      if (!(e instanceof GgufTruncated) || have >= fileBytes) throw e;
      have = Math.min(fileBytes, e.needBytes);
    }
  }
}

export interface GgufCheckpoint extends Checkpoint {
  config: ModelConfig;
  header: GgufHeader;
  /** The tensors the model folder needs (no MTP modules), in expectedTensors order. */
  expected: TensorSpec[];
  /** The most common stored format of the matrices: the folder's `quant`. */
  mainFormat: WeightFormat;
}

export async function openGgufCheckpoint(path: string): Promise<GgufCheckpoint> {
  const fh = await open(path, 'r').catch((e: NodeJS.ErrnoException) => {
    throw formatError(path, e.code === 'ENOENT' ? 'not found' : `cannot read (${e.message})`);
  });
  try {
    const size = (await stat(path)).size;
    const header = await readGgufHeader(fh, path, size);
    checkGgufRanges(header, size, path);
    return buildCheckpoint(fh, path, header);
  } catch (e) {
    await fh.close();
    throw e;
  }
}

function buildCheckpoint(fh: FileHandle, path: string, header: GgufHeader): GgufCheckpoint {
  const { hf, config, expected, places, mainFormat } = planGguf(header, path);
  const file = basename(path);
  const tensors = new Map<string, CheckpointTensor>();
  const specs = new Map<string, TensorSpec>();
  for (const spec of expected) {
    specs.set(spec.name, spec);
    const p = places.get(spec.name)!;
    const [rows, cols] = specRowsCols(spec);
    if (p.kind === 'kv-split') {
      tensors.set(spec.name, { name: spec.name, dtype: 'F32', shape: spec.shape, begin: 0, end: rows * cols * 4, file });
      continue;
    }
    const { at, bytes } = placeRowRange(header, p, cols, 0, rows);
    tensors.set(spec.name, { name: spec.name, dtype: placeDtype(p), shape: spec.shape, begin: at, end: at + bytes, file });
  }

  const readAt = async (position: number, length: number) => {
    const out = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await fh.read(out, done, length - done, position + done);
      if (bytesRead === 0) throw formatError(path, `ends at byte ${position + done} (the file was truncated)`);
      done += bytesRead;
    }
    return out;
  };
  const place = (name: string) => {
    const p = places.get(name);
    if (!p) throw formatError(path, `no tensor "${name}" in this model`, { tensor: name });
    return p;
  };
  const shapeOf = (name: string) => specs.get(name)!.shape;
  const colsOf = (name: string) => shapeOf(name)[shapeOf(name).length - 1];
  const rowsOf = (name: string) => (shapeOf(name).length === 1 ? 1 : shapeOf(name)[0]);

  /** Stored rows [start, start+count) as they are in the file. */
  const rawRows = (p: Extract<GgufPlace, { kind: 'rows' }>, cols: number, start: number, count: number) => {
    const { at, bytes } = placeRowRange(header, p, cols, start, count);
    return readAt(at, bytes);
  };
  const decodeWhole = async (t: GgufTensorInfo) => decodeGgufTensor(t, await readAt(header.dataOffset + t.offset, t.bytes));
  const rebuildKv = async (p: Extract<GgufPlace, { kind: 'kv-split' }>) => rebuildKvB(config, await decodeWhole(p.kb), await decodeWhole(p.vb));
  const readF32 = async (name: string, rows?: { start: number; count: number }): Promise<Float32Array> => {
    const p = place(name);
    const { start, count } = rows ?? { start: 0, count: rowsOf(name) };
    const cols = colsOf(name);
    if (p.kind === 'kv-split') return (await rebuildKv(p)).slice(start * cols, (start + count) * cols);
    return decodeRows(GGML_FORMAT[p.info.type], await rawRows(p, cols, start, count), count, cols);
  };
  const readRows = async (name: string, start: number, count: number): Promise<Uint8Array> => {
    const p = place(name);
    if (p.kind === 'kv-split') return new Uint8Array((await readF32(name, { start, count })).buffer);
    return rawRows(p, colsOf(name), start, count);
  };
  const storedFormat = (name: string): WeightFormat | null => {
    const spec = specs.get(name);
    return spec ? storedFormatOf(spec, place(name)) : null;
  };
  return {
    dir: dirname(path),
    hfConfig: hf,
    config,
    header,
    expected,
    mainFormat,
    files: [file],
    tensors,
    read: (name) => readRows(name, 0, rowsOf(name)),
    readRows,
    readF32,
    readF64: async (name) => {
      const p = place(name);
      if (p.kind === 'kv-split') return Float64Array.from(await readF32(name));
      return decodeF64(GGML_FORMAT[p.info.type], shapeOf(name), padTo16(await rawRows(p, colsOf(name), 0, rowsOf(name))));
    },
    scaleOf: () => null,
    shapeOf,
    storedFormat,
    close: () => fh.close(),
  };
}
