// Hugging Face checkpoint → deepseek2 GGUF file, laid out as llama.cpp's converter lays it out (names,
// metadata, stacked experts, ne innermost first). webmoe's tests make their GGUF inputs with it from the
// golden and generated models: no llama.cpp output is at hand. Each matrix takes `type` when its width
// allows (K-quants need whole blocks of 256, Q8_0/Q4_0 of 32), else `fallback` (F32 by default), as
// llama.cpp falls back for such tensors; norms, biases and the router stay F32.
import { writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import {
  GGML_FORMAT, GGML_TYPE_SIZE, expectedTensors, ggufSourceOf, hfConfigToGguf, quantize, requireV3, splitKvNames, writeGguf, type GgmlTypeName,
  type GgufMetadataInput, type GgufTensorInput,
} from 'webmoe/model';
import { openCheckpoint } from './safetensors';

export interface GgufExportOptions {
  /** The type of the matrices (linear weights and the embedding). */
  type: GgmlTypeName;
  fallback?: GgmlTypeName;
  /** Store kv_b as llama.cpp's newer files do: attn_k_b and attn_v_b instead of attn_kv_b. */
  splitKv?: boolean;
  /** Extra metadata (a tokenizer's, from tokenizerToGguf). */
  metadata?: GgufMetadataInput;
}

function encode(type: GgmlTypeName, values: Float32Array, rows: number, cols: number): Uint8Array {
  const bytes = quantize(GGML_FORMAT[type], [rows, cols], values);
  return bytes.subarray(0, (rows * cols / GGML_TYPE_SIZE[type].values) * GGML_TYPE_SIZE[type].bytes);
}

/** The type a [rows, cols] matrix gets: `type` if cols holds whole blocks of it, else `fallback`. */
export function ggufTypeFor(cols: number, type: GgmlTypeName, fallback: GgmlTypeName): GgmlTypeName {
  return cols % GGML_TYPE_SIZE[type].values === 0 ? type : fallback;
}

export async function exportGguf(hfDir: string, outFile: string, options: GgufExportOptions): Promise<void> {
  const ckpt = await openCheckpoint(hfDir);
  try {
    const config = requireV3(ckpt.config, 'the GGUF export');
    const fallback = options.fallback ?? 'F32';
    const specs = expectedTensors(config, false);
    const tensors: GgufTensorInput[] = [];
    const stacked = new Map<string, { type: GgmlTypeName; dims: number[]; parts: Uint8Array[] }>();
    for (const spec of specs) {
      const src = ggufSourceOf(spec.name)!;
      const [rows, cols] = spec.shape.length === 1 ? [1, spec.shape[0]] : spec.shape;
      const values = await ckpt.readF32(spec.name);
      const matrix = spec.kind === 'linear' || spec.kind === 'embedding';
      const type = matrix ? ggufTypeFor(cols, options.type, fallback) : 'F32';
      if (src.expert !== null) {
        const s = stacked.get(src.gguf) ?? { type, dims: [cols, rows, config.moe!.nRoutedExperts], parts: [] };
        stacked.set(src.gguf, s);
        s.parts[src.expert] = encode(s.type, values, rows, cols);
        continue;
      }
      if (options.splitKv && src.gguf.endsWith('.attn_kv_b.weight')) {
        const { numHeads: H, qkNopeHeadDim: nope, vHeadDim: vd, kvLoraRank: L } = config;
        const k = new Float32Array(H * L * nope);
        const v = new Float32Array(H * vd * L);
        for (let h = 0; h < H; h++) {
          for (let c = 0; c < L; c++) {
            for (let i = 0; i < nope; i++) k[(h * L + c) * nope + i] = values[(h * (nope + vd) + i) * L + c];
            for (let j = 0; j < vd; j++) v[(h * vd + j) * L + c] = values[(h * (nope + vd) + nope + j) * L + c];
          }
        }
        const { kb, vb } = splitKvNames(spec.layer!);
        const kt = ggufTypeFor(nope, options.type, fallback);
        const vt = ggufTypeFor(L, options.type, fallback);
        tensors.push({ name: kb, dims: [nope, L, H], type: kt, data: encode(kt, k, H * L, nope) });
        tensors.push({ name: vb, dims: [L, vd, H], type: vt, data: encode(vt, v, H * vd, L) });
        continue;
      }
      tensors.push({ name: src.gguf, dims: [...spec.shape].reverse(), type, data: encode(type, values, rows, cols) });
    }
    for (const [name, s] of stacked) {
      const data = new Uint8Array(s.parts.reduce((a, p) => a + p.byteLength, 0));
      let at = 0;
      for (const p of s.parts) {
        data.set(p, at);
        at += p.byteLength;
      }
      tensors.push({ name, dims: s.dims, type: s.type, data });
    }
    const metadata = { ...hfConfigToGguf(ckpt.hfConfig, basename(hfDir)), ...options.metadata };
    await writeFile(outFile, writeGguf(metadata, tensors));
  } finally {
    await ckpt.close();
  }
}
