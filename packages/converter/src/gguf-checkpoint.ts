// A deepseek2 GGUF file read as a checkpoint (safetensors.ts `Checkpoint`) under Hugging Face names, so
// that the converter's own writer makes the model folder. Matrices whose GGUF type the kernels read
// (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) report it as their storedFormat and are copied block for
// block; everything else is read as values. GGUF lists dimensions innermost first: ne = [in, out] is
// the row-major [out, in] matrix the engine uses, so no transpose is needed (docs/gguf.md#tensors).
import { open, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  GGML_TYPE_SIZE, GgufTruncated, WebmoeError, checkGgufRanges, decodeF64, dequantize, expectedTensors, parseGgufHeader, parseHfConfig, requireV3,
  tensorLayout, type GgmlTypeName, type GgufHeader, type GgufTensorInfo, type ModelConfig, type TensorSpec, type WeightFormat,
} from 'webmoe/model';
import { ggufToHfConfig } from './gguf-config';
import { ggufSourceOf, splitKvNames } from './gguf-names';
import { formatError, type Checkpoint, type CheckpointTensor } from './safetensors';

/** The weight format holding a GGUF type's rows as they are stored. */
export const GGML_FORMAT: Record<GgmlTypeName, WeightFormat> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', Q8_0: 'q8_0', Q4_0: 'q4_0', Q4_K: 'q4_k', Q5_K: 'q5_k', Q6_K: 'q6_k',
};

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

/** Where one HF tensor's rows are: a GGUF tensor (an expert's slice of it), or kv_b rebuilt from k_b and v_b. */
type Place = { kind: 'rows'; info: GgufTensorInfo; firstRow: number } | { kind: 'kv-split'; kb: GgufTensorInfo; vb: GgufTensorInfo };

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
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const hf = ggufToHfConfig(header, new Set(byName.keys()), path);
  const config = requireV3(parseHfConfig(hf, `${path} (metadata)`), 'a GGUF file');
  const expected = expectedTensors(config, false);
  const file = basename(path);
  const places = new Map<string, Place>();
  const tensors = new Map<string, CheckpointTensor>();
  const specs = new Map<string, TensorSpec>();
  const tensorError = (name: string, message: string) => formatError(path, `tensor "${name}": ${message}`, { tensor: name });
  for (const spec of expected) {
    specs.set(spec.name, spec);
    const src = ggufSourceOf(spec.name);
    if (!src) throw new WebmoeError('internal', `no GGUF name for ${spec.name}`);
    let info = byName.get(src.gguf);
    // Tied output head: llama.cpp leaves output.weight out and reads token_embd.
    if (!info && src.gguf === 'output.weight') info = byName.get('token_embd.weight');
    const [rows, cols] = spec.shape.length === 1 ? [1, spec.shape[0]] : spec.shape;
    if (!info && src.gguf.endsWith('.attn_kv_b.weight')) {
      const { kb, vb } = splitKvNames(spec.layer!);
      const k = byName.get(kb);
      const v = byName.get(vb);
      if (!k || !v) throw formatError(path, `layer ${spec.layer}: neither ${src.gguf} nor ${kb} and ${vb} are in the file`, { tensor: src.gguf });
      const H = config.numHeads;
      const want = (t: GgufTensorInfo, dims: number[]) => {
        if (t.dims.join() !== dims.join()) throw tensorError(t.name, `has dims [${t.dims.join(', ')}], expected [${dims.join(', ')}] (ne[0] first)`);
      };
      want(k, [config.qkNopeHeadDim, config.kvLoraRank, H]);
      want(v, [config.kvLoraRank, config.vHeadDim, H]);
      places.set(spec.name, { kind: 'kv-split', kb: k, vb: v });
      tensors.set(spec.name, { name: spec.name, dtype: 'F32', shape: spec.shape, begin: 0, end: rows * cols * 4, file });
      continue;
    }
    if (!info) throw formatError(path, `tensor ${src.gguf} (${spec.name}) is missing`, { tensor: src.gguf });
    const dims = src.expert === null ? [...spec.shape].reverse() : [cols, rows, config.moe!.nRoutedExperts];
    if (info.dims.join() !== dims.join()) throw tensorError(info.name, `has dims [${info.dims.join(', ')}], expected [${dims.join(', ')}] for ${spec.name} (ne[0] first)`);
    const firstRow = (src.expert ?? 0) * rows;
    places.set(spec.name, { kind: 'rows', info, firstRow });
    const rowBytes = rowBytesOf(info.type, cols);
    const dtype = info.type === 'F16' || info.type === 'BF16' ? info.type : 'F32';
    const begin = header.dataOffset + info.offset + firstRow * rowBytes;
    tensors.set(spec.name, { name: spec.name, dtype, shape: spec.shape, begin, end: begin + rows * rowBytes, file });
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
  const rawRows = (p: Extract<Place, { kind: 'rows' }>, cols: number, start: number, count: number) => {
    const rb = rowBytesOf(p.info.type, cols);
    return readAt(header.dataOffset + p.info.offset + (p.firstRow + start) * rb, count * rb);
  };
  /** A whole GGUF tensor decoded (all its rows, ne[0] wide). */
  const decodeWhole = async (t: GgufTensorInfo): Promise<Float32Array> => {
    const cols = t.dims[0];
    const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
    const bytes = await readAt(header.dataOffset + t.offset, t.bytes);
    return decodeRows(GGML_FORMAT[t.type], bytes, rows, cols);
  };
  /** kv_b [H·(nope+v), kvLoraRank]: per head, nope rows of k_b (stored [H][kvLoraRank][nope]) transposed, then v rows of v_b. */
  const rebuildKv = async (p: Extract<Place, { kind: 'kv-split' }>): Promise<Float32Array> => {
    const [k, v] = [await decodeWhole(p.kb), await decodeWhole(p.vb)];
    const { numHeads: H, qkNopeHeadDim: nope, vHeadDim: vd, kvLoraRank: L } = config;
    const out = new Float32Array(H * (nope + vd) * L);
    for (let h = 0; h < H; h++) {
      for (let c = 0; c < L; c++) {
        for (let i = 0; i < nope; i++) out[(h * (nope + vd) + i) * L + c] = k[(h * L + c) * nope + i];
        for (let j = 0; j < vd; j++) out[(h * (nope + vd) + nope + j) * L + c] = v[(h * vd + j) * L + c];
      }
    }
    return out;
  };
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
    if (!spec || (spec.kind !== 'linear' && spec.kind !== 'embedding')) return null;
    const p = place(name);
    return p.kind === 'kv-split' ? 'f32' : GGML_FORMAT[p.info.type];
  };
  const counts = new Map<WeightFormat, number>();
  for (const s of expected) {
    const f = storedFormat(s.name);
    if (f && s.kind === 'linear') counts.set(f, (counts.get(f) ?? 0) + s.shape[0] * s.shape[1]);
  }
  const mainFormat = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'f32';
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
      return decodeF64(GGML_FORMAT[p.info.type], shapeOf(name), padded(await rawRows(p, colsOf(name), 0, rowsOf(name))));
    },
    scaleOf: () => null,
    shapeOf,
    storedFormat,
    close: () => fh.close(),
  };
}

function rowBytesOf(type: GgmlTypeName, cols: number): number {
  const { values, bytes } = GGML_TYPE_SIZE[type];
  return (cols / values) * bytes;
}

/** Bytes padded to the 16-byte multiple the format layouts end on. */
function padded(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength % 16 === 0) return bytes;
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 16) * 16);
  out.set(bytes);
  return out;
}

/** Rows stored in `format` (whole blocks, as GGUF stores them) decoded to f32 by the engine's own dequantization. */
export function decodeRows(format: WeightFormat, bytes: Uint8Array, rows: number, cols: number): Float32Array {
  return dequantize(tensorLayout(format, [rows, cols]), padded(bytes));
}
