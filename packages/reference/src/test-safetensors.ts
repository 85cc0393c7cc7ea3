// Test helper: writes a safetensors file from raw tensor bytes, so that tests can make checkpoints with any
// dtype, shape or defect. Not part of the package's entry points.
import { writeFileSync } from 'node:fs';

export interface RawTensor {
  name: string;
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
  /** Override the header's data_offsets (to make a broken file). */
  offsets?: [number, number];
}

export function writeSafetensors(path: string, tensors: RawTensor[]): void {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: t.offsets ?? [at, at + t.bytes.byteLength] };
    at += t.bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + at);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  let p = 8 + json.byteLength;
  for (const t of tensors) {
    out.set(t.bytes, p);
    p += t.bytes.byteLength;
  }
  writeFileSync(path, out);
}

export const f32Bytes = (v: number[]) => new Uint8Array(Float32Array.from(v).buffer);
export const i64Bytes = (v: number[]) => new Uint8Array(BigInt64Array.from(v.map(BigInt)).buffer);
