// Where each tensor of the engine's tensor list lies in a deepseek2 GGUF file (docs/gguf.md#tensors): a
// GGUF tensor, or one expert's rows of a stacked `ffn_*_exps` tensor, or kv_b rebuilt from the per-head
// attn_k_b / attn_v_b of newer files; and the format each is kept in. Shared by `webmoe convert model.gguf`
// (the converter's checkpoint view) and the browser's direct load of a .gguf URL (gguf-manifest.ts), so
// that both give the same bytes.
import { WebmoeError } from '../errors';
import { parseHfConfig, requireV3, type ModelConfig } from './config';
import { dequantize, tensorLayout, type WeightFormat } from './formats';
import { GGML_TYPE_SIZE, type GgmlTypeName, type GgufHeader, type GgufTensorInfo } from './gguf';
import { ggufToHfConfig } from './gguf-config';
import { ggufSourceOf, splitKvNames } from './gguf-names';
import { expectedTensors, type TensorSpec } from './tensors';

/** The weight format holding a GGUF type's rows as they are stored. */
export const GGML_FORMAT: Record<GgmlTypeName, WeightFormat> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', Q8_0: 'q8_0', Q4_0: 'q4_0', Q4_K: 'q4_k', Q5_K: 'q5_k', Q6_K: 'q6_k',
};

/** Where one tensor's rows are: rows of a GGUF tensor (an expert's slice of it), or kv_b rebuilt from k_b and v_b. */
export type GgufPlace = { kind: 'rows'; info: GgufTensorInfo; firstRow: number } | { kind: 'kv-split'; kb: GgufTensorInfo; vb: GgufTensorInfo };

export interface GgufPlan {
  /** The config.json the metadata describes. */
  hf: Record<string, unknown>;
  config: ModelConfig;
  /** The tensors a model folder holds (no MTP modules), in expectedTensors order. */
  expected: TensorSpec[];
  places: Map<string, GgufPlace>;
  /** The most common stored format of the linear weights: a folder's `quant`. */
  mainFormat: WeightFormat;
}

const formatError = (source: string, message: string, tensor: string) =>
  new WebmoeError('model-format', `${source}: ${message}`, { detail: { file: source, tensor } });

/** Bytes of `cols` values of a GGUF type (whole blocks). */
export function ggmlRowBytes(type: GgmlTypeName, cols: number): number {
  const { values, bytes } = GGML_TYPE_SIZE[type];
  return (cols / values) * bytes;
}

/** [rows, cols] of a tensor spec (a 1-D tensor is one row). */
export function specRowsCols(spec: Pick<TensorSpec, 'shape'>): [number, number] {
  return spec.shape.length === 1 ? [1, spec.shape[0]] : [spec.shape[0], spec.shape[1]];
}

/**
 * Maps every tensor the metadata's config implies to its place in the file, checking dimensions. Throws
 * WebmoeError('model-format') for another architecture, a missing tensor or wrong dimensions.
 */
export function planGguf(header: GgufHeader, source: string): GgufPlan {
  const byName = new Map(header.tensors.map((t) => [t.name, t]));
  const hf = ggufToHfConfig(header, new Set(byName.keys()), source);
  const config = requireV3(parseHfConfig(hf, `${source} (metadata)`), 'a GGUF file');
  const expected = expectedTensors(config, false);
  const places = new Map<string, GgufPlace>();
  const dimsError = (t: GgufTensorInfo, dims: number[], what = '') =>
    formatError(source, `tensor "${t.name}": has dims [${t.dims.join(', ')}], expected [${dims.join(', ')}]${what} (ne[0] first)`, t.name);
  for (const spec of expected) {
    const src = ggufSourceOf(spec.name);
    if (!src) throw new WebmoeError('internal', `no GGUF name for ${spec.name}`);
    // Tied output head: llama.cpp leaves output.weight out and reads token_embd.
    const info = byName.get(src.gguf) ?? (src.gguf === 'output.weight' ? byName.get('token_embd.weight') : undefined);
    const [rows, cols] = specRowsCols(spec);
    if (!info && src.gguf.endsWith('.attn_kv_b.weight')) {
      const { kb, vb } = splitKvNames(spec.layer!);
      const k = byName.get(kb);
      const v = byName.get(vb);
      if (!k || !v) throw formatError(source, `layer ${spec.layer}: neither ${src.gguf} nor ${kb} and ${vb} are in the file`, src.gguf);
      const kDims = [config.qkNopeHeadDim, config.kvLoraRank, config.numHeads];
      const vDims = [config.kvLoraRank, config.vHeadDim, config.numHeads];
      if (k.dims.join() !== kDims.join()) throw dimsError(k, kDims);
      if (v.dims.join() !== vDims.join()) throw dimsError(v, vDims);
      places.set(spec.name, { kind: 'kv-split', kb: k, vb: v });
      continue;
    }
    if (!info) throw formatError(source, `tensor ${src.gguf} (${spec.name}) is missing`, src.gguf);
    const dims = src.expert === null ? [...spec.shape].reverse() : [cols, rows, config.moe!.nRoutedExperts];
    if (info.dims.join() !== dims.join()) throw dimsError(info, dims, ` for ${spec.name}`);
    places.set(spec.name, { kind: 'rows', info, firstRow: (src.expert ?? 0) * rows });
  }
  const counts = new Map<WeightFormat, number>();
  for (const s of expected) {
    const p = places.get(s.name)!;
    if (s.kind === 'linear') {
      const f = p.kind === 'kv-split' ? 'f32' : GGML_FORMAT[p.info.type];
      counts.set(f, (counts.get(f) ?? 0) + s.shape[0] * s.shape[1]);
    }
  }
  const mainFormat = [...counts].sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'f32';
  return { hf, config, expected, places, mainFormat };
}

/** The checkpoint dtype a place's values come in: F16 and BF16 as stored, everything else read as F32. */
export function placeDtype(p: GgufPlace): 'F32' | 'F16' | 'BF16' {
  return p.kind === 'rows' && (p.info.type === 'F16' || p.info.type === 'BF16') ? p.info.type : 'F32';
}

/** A matrix's (linear or embedding) format: the file's own; kv_b rebuilt from its halves is f32. Other kinds: null. */
export function storedFormatOf(spec: Pick<TensorSpec, 'kind'>, p: GgufPlace): WeightFormat | null {
  if (spec.kind !== 'linear' && spec.kind !== 'embedding') return null;
  return p.kind === 'kv-split' ? 'f32' : GGML_FORMAT[p.info.type];
}

/** Absolute byte range in the file of rows [start, start + count) of a 'rows' place `cols` wide. */
export function placeRowRange(header: Pick<GgufHeader, 'dataOffset'>, p: Extract<GgufPlace, { kind: 'rows' }>, cols: number, start: number, count: number): { at: number; bytes: number } {
  const rb = ggmlRowBytes(p.info.type, cols);
  return { at: header.dataOffset + p.info.offset + (p.firstRow + start) * rb, bytes: count * rb };
}

/** Bytes padded to the 16-byte multiple the format layouts end on. */
export function padTo16(bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength % 16 === 0) return bytes;
  const out = new Uint8Array(Math.ceil(bytes.byteLength / 16) * 16);
  out.set(bytes);
  return out;
}

/** Rows stored in `format` (whole blocks, as GGUF stores them) decoded to f32 by the engine's own dequantization. */
export function decodeRows(format: WeightFormat, bytes: Uint8Array, rows: number, cols: number): Float32Array {
  return dequantize(tensorLayout(format, [rows, cols]), padTo16(bytes));
}

/** A whole GGUF tensor's values from its bytes (all its rows, ne[0] wide). */
export function decodeGgufTensor(t: GgufTensorInfo, bytes: Uint8Array): Float32Array {
  const rows = t.dims.slice(1).reduce((a, b) => a * b, 1);
  return decodeRows(GGML_FORMAT[t.type], bytes, rows, t.dims[0]);
}

/**
 * kv_b [H·(nope+v), kvLoraRank] from the values of attn_k_b (stored [H][kvLoraRank][nope]: W_UK transposed
 * per head) and attn_v_b ([H][v][kvLoraRank]): per head, nope rows of k_b transposed, then v rows of v_b.
 */
export function rebuildKvB(config: Pick<ModelConfig, 'numHeads' | 'qkNopeHeadDim' | 'vHeadDim' | 'kvLoraRank'>, k: Float32Array, v: Float32Array): Float32Array {
  const { numHeads: H, qkNopeHeadDim: nope, vHeadDim: vd, kvLoraRank: L } = config;
  const out = new Float32Array(H * (nope + vd) * L);
  for (let h = 0; h < H; h++) {
    for (let c = 0; c < L; c++) {
      for (let i = 0; i < nope; i++) out[(h * (nope + vd) + i) * L + c] = k[(h * L + c) * nope + i];
      for (let j = 0; j < vd; j++) out[(h * (nope + vd) + nope + j) * L + c] = v[(h * vd + j) * L + c];
    }
  }
  return out;
}
