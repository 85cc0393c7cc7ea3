// Test helper: convert a checkpoint and compare every tensor of the folder with the checkpoint, both decoded
// independently in float64, within each format's bound (docs/model-folder.md). Used by the converter's tests.
import { expect } from 'vitest';
import { FP8_BLOCK, GROUP, f16ToF32, tensorLayout, type Manifest, type ManifestTensor, type TensorLayout, type WeightFormat } from 'webmoe/model';
import { decodeF64 } from 'webmoe/model';
import { convertCheckpoint } from './convert';
import { openWebmoeModel } from './model-folder';
import { scaleNameOf } from './safetensors';
import { rawTensors, sourceF64 } from './test-helpers';

function sectionValues(bytes: Uint8Array, s: { offset: number; bytes: number }, kind: 'f16' | 'f32' | 'e8m0'): Float64Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + s.offset, s.bytes);
  switch (kind) {
    case 'f16': return Float64Array.from({ length: s.bytes / 2 }, (_, i) => f16ToF32(dv.getUint16(2 * i, true)));
    case 'f32': return Float64Array.from({ length: s.bytes / 4 }, (_, i) => dv.getFloat32(4 * i, true));
    case 'e8m0': return Float64Array.from({ length: s.bytes }, (_, i) => 2 ** (dv.getUint8(i) - 127));
  }
}

/** The format each tensor should get (docs/model-folder.md's rules), from its kind, name and source dtype. */
function wantFormat(t: ManifestTensor, dtype: string, quant: WeightFormat): WeightFormat {
  if (t.kind === 'norm' || t.kind === 'bias') return 'f32';
  if (t.kind === 'table') return 'u32';
  if (t.kind === 'router' || t.kind === 'precise') return dtype === 'BF16' ? 'bf16' : 'f32';
  const head = t.kind === 'embedding' || ['lm_head.weight', 'head.weight'].includes(t.name) || t.name.endsWith('.shared_head.head.weight');
  if (quant === 'q4') return head ? 'q8' : 'q4'; // q4 keeps the embedding and the output heads at q8
  if (quant !== 'fp8') return quant;
  if (head) return 'bf16';
  return dtype === 'I8' ? 'fp4' : 'fp8';
}

/**
 * Each format's bound for element i (quantize.ts), from the scales stored in the tensor's bytes. `exact`:
 * the source is representable in the format (bf16 from BF16, fp8/fp4 kept as released, f32 from 16-bit or
 * power-of-two-scaled sources). Quantized formats get one f32 rounding of the source value on top.
 */
function boundOf(layout: TensorLayout, bytes: Uint8Array, src: Float64Array, exact: boolean): (i: number) => number {
  const { cols, format } = layout;
  if (exact) return () => 0;
  const G = Math.ceil(cols / GROUP);
  const group = (i: number) => Math.floor(i / cols) * G + Math.floor((i % cols) / GROUP);
  const slack = (i: number) => 2 ** -24 * Math.abs(src[i]); // the f32 rounding of an FP8 source value
  switch (format) {
    case 'f32':
    case 'u32': return slack;
    case 'f16': return (i) => Math.max(Math.abs(src[i]) * 2 ** -11, 2 ** -25) + slack(i);
    case 'bf16': return (i) => Math.max(Math.abs(src[i]) * 2 ** -8, 2 ** -134) + slack(i);
    case 'q8':
    case 'q4': {
      const s = sectionValues(bytes, layout.scales!, 'f16');
      return (i) => s[group(i)] / 2 * (1 + 1e-6) + slack(i);
    }
    case 'fp8': {
      const s = sectionValues(bytes, layout.scales!, 'f32');
      const bc = Math.ceil(cols / FP8_BLOCK);
      return (i) => Math.max(Math.abs(src[i]) * 2 ** -4, s[Math.floor(Math.floor(i / cols) / FP8_BLOCK) * bc + Math.floor((i % cols) / FP8_BLOCK)] * 2 ** -10) * (1 + 1e-6) + slack(i);
    }
    case 'fp4': {
      const s = sectionValues(bytes, layout.scales!, 'e8m0');
      return (i) => Math.max(s[group(i)], Math.abs(src[i])) / 4 * (1 + 1e-6) + slack(i);
    }
    default: throw new Error(`round trip: no bound for ${format} (llama.cpp's blocks come only from GGUF files)`);
  }
}

export interface RoundTrip {
  manifest: Manifest;
  out: string;
  /** Over linear and embedding weights: ‖ŵ−w‖/‖w‖, with ŵ and w decoded independently in float64. */
  rmsError: number;
}

/**
 * Converts `dir` into `out`, then compares every tensor of the folder, decoded by the independent float64 decoder,
 * with the checkpoint's values decoded independently too (test-helpers sourceF64), within each format's
 * bound; formats.ts dequantize (what openWebmoeModel reads) must agree with the float64 decoding.
 */
export async function convertAndCompare(dir: string, out: string, quant: WeightFormat, options: { shardBytes?: number; mtp?: boolean } = {}): Promise<RoundTrip> {
  const manifest = await convertCheckpoint(dir, out, { quant, ...options });
  const raw = await rawTensors(dir);
  const model = await openWebmoeModel(out);
  let num = 0;
  let den = 0;
  try {
    for (const t of manifest.tensors) {
      const dtype = raw.get(t.name)!.dtype;
      expect(t.format, t.name).toBe(wantFormat(t, dtype, quant));
      const src = sourceF64(raw, t.name, scaleNameOf(manifest.model.config, t.name));
      const bytes = await model.read(t.name);
      const got = decodeF64(t.format, t.shape, bytes);
      const f32 = await model.readF32(t.name);
      expect(f32.every((x, i) => x === Math.fround(got[i])), `${t.name}: dequantize disagrees with the float64 decoding`).toBe(true);
      const exact = t.format === 'f32' ? dtype !== 'F8_E4M3' || manifest.model.config.family === 'v4'
        : (t.format === 'bf16' && dtype === 'BF16') || (t.format === 'fp8' && dtype === 'F8_E4M3') || (t.format === 'fp4' && dtype === 'I8') || t.format === 'u32';
      const bound = boundOf(tensorLayout(t.format, t.shape), bytes, src, exact);
      let bad = -1;
      for (let i = 0; i < src.length && bad < 0; i++) if (!(Math.abs(got[i] - src[i]) <= bound(i))) bad = i;
      expect(bad, `${t.name} (${t.format} from ${dtype}) element ${bad}: ${got[bad]} vs ${src[bad]}, bound ${bound(bad)}`).toBe(-1);
      if (t.kind === 'linear' || t.kind === 'embedding') {
        for (let i = 0; i < src.length; i++) {
          num += (got[i] - src[i]) ** 2;
          den += src[i] ** 2;
        }
      }
    }
  } finally {
    await model.close();
  }
  return { manifest, out, rmsError: Math.sqrt(num / den) };
}

