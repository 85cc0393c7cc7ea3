// The model folder a deepseek2 GGUF file would convert to, built in memory from its header: the manifest
// (config, tensors in the converter's formats and placement, virtual shards) and, for each virtual shard,
// where its bytes come from in the file. A browser loads a .gguf URL through it without a conversion step
// (docs/gguf.md#loading-a-gguf-url): matrices are the file's rows as they are (a routed expert's rows are
// one range of its stacked tensor), and the few tensors the converter stores differently (norms kept as
// f32 from F16/BF16, kv_b rebuilt from attn_k_b/attn_v_b) are computed from theirs.
import type { GgufHeader } from './gguf';
import { placeDtype, placeRowRange, planGguf, specRowsCols, storedFormatOf, type GgufPlace, type GgufPlan } from './gguf-plan';
import { tensorLayout, type WeightFormat } from './formats';
import { DEFAULT_SHARD_BYTES, TENSOR_ALIGNMENT, MANIFEST_FORMAT, MANIFEST_VERSION, type ManifestExpert, type ManifestFile, type ManifestTensor } from './manifest';
import { expertGroups, type TensorSpec } from './tensors';

/** Bumped when the virtual layout changes, so that cached bytes of another layout are not reused. */
export const GGUF_LAYOUT_VERSION = 1;

/** Where a tensor's bytes come from: a byte range of the file, or values computed from its place. */
export type GgufTensorSource = { kind: 'file'; at: number; bytes: number } | { kind: 'computed'; place: GgufPlace; format: 'f32' };

/** A run of a virtual shard's bytes: bytes [from, from + bytes) of one tensor's source, at `offset` in the shard. */
export interface GgufSegment {
  offset: number;
  bytes: number;
  tensor: string;
  from: number;
}

export interface GgufManifest {
  /**
   * manifest.json as the converter would write it (parseManifest accepts it). A virtual shard's `sha256`
   * names its content in the cache: all zeros until the caller sets it (gguf-url.ts).
   */
  manifest: {
    format: typeof MANIFEST_FORMAT; version: typeof MANIFEST_VERSION; model: { config: unknown; hf: Record<string, unknown> }; quant: WeightFormat;
    mtp: false; alignment: number; shardBytes: number; tensors: ManifestTensor[]; experts: ManifestExpert[]; shards: ManifestFile[];
    tokenizer: ManifestFile[]; source: { name: string; dtype: string; files: string[] };
  };
  plan: GgufPlan;
  /** Per tensor name, where its bytes come from. */
  sources: Map<string, GgufTensorSource>;
  /** Per virtual shard, its segments in order; bytes between them are zero (alignment padding). */
  segments: GgufSegment[][];
}

const align = (n: number) => Math.ceil(n / TENSOR_ALIGNMENT) * TENSOR_ALIGNMENT;

/** The format a tensor takes: a matrix keeps the file's type; norms and biases f32; routers bf16 only from BF16 (the converter's formatFor). */
function formatOf(spec: TensorSpec, p: GgufPlace): WeightFormat {
  return storedFormatOf(spec, p) ?? (spec.kind === 'router' && placeDtype(p) === 'BF16' ? 'bf16' : 'f32');
}

/** Whether the stored bytes are the format's bytes as they are (else the values are computed). */
function copiesAsStored(p: GgufPlace, format: WeightFormat): p is Extract<GgufPlace, { kind: 'rows' }> {
  if (p.kind !== 'rows') return false;
  return format === 'f32' ? p.info.type === 'F32' : format === 'bf16' ? p.info.type === 'BF16' : true;
}

/**
 * The in-memory model folder of a GGUF file; `fileName` names the file in messages and the manifest's source.
 */
export function ggufManifest(header: GgufHeader, fileName: string, shardBytes = DEFAULT_SHARD_BYTES): GgufManifest {
  const plan = planGguf(header, fileName);
  const sources = new Map<string, GgufTensorSource>();
  const formats = new Map<string, WeightFormat>();
  for (const spec of plan.expected) {
    const p = plan.places.get(spec.name)!;
    const format = formatOf(spec, p);
    formats.set(spec.name, format);
    const [rows, cols] = specRowsCols(spec);
    sources.set(spec.name, copiesAsStored(p, format) ? { kind: 'file', ...placeRowRange(header, p, cols, 0, rows) } : { kind: 'computed', place: p, format: 'f32' });
  }
  // Items in the converter's order: non-expert tensors, then each routed expert's gate, up and down together.
  const items: TensorSpec[][] = [...plan.expected.filter((s) => s.expert === null).map((s) => [s]), ...expertGroups(plan.expected)];
  const tensors: ManifestTensor[] = [];
  const experts: ManifestExpert[] = [];
  const segments: GgufSegment[][] = [[]];
  const shardEnds: number[] = [0];
  let linear = 0; // shard · shardBytes + offset
  const at = (lin: number) => ({ shard: Math.floor(lin / shardBytes), offset: lin % shardBytes });
  const mark = (lin: number, bytes: number, tensor: string, from: number) => {
    // Split at shard boundaries (only a range larger than a shard crosses one).
    for (let left = bytes; left > 0; ) {
      const { shard, offset } = at(lin);
      const n = Math.min(left, shardBytes - offset);
      while (segments.length <= shard) {
        segments.push([]);
        shardEnds.push(0);
      }
      segments[shard].push({ offset, bytes: n, tensor, from });
      shardEnds[shard] = Math.max(shardEnds[shard], offset + n);
      lin += n;
      from += n;
      left -= n;
    }
  };
  for (const item of items) {
    const sizes = item.map((s) => tensorLayout(formats.get(s.name)!, s.shape).bytes);
    const span = sizes.reduce((end, n, i) => (i + 1 < sizes.length ? align(end + n) : end + n), 0);
    let off = align(linear % shardBytes);
    if (linear % shardBytes > 0 && off + span > shardBytes) off = shardBytes; // to the next shard
    let lin = linear - (linear % shardBytes) + off;
    const first = lin;
    item.forEach((spec, i) => {
      lin = i === 0 ? lin : align(lin);
      const src = sources.get(spec.name)!;
      const { shard, offset } = at(lin);
      tensors.push({
        name: spec.name, kind: spec.kind, shape: [...spec.shape], format: formats.get(spec.name)!, layer: spec.layer, expert: spec.expert, mtp: false,
        shard, offset, bytes: sizes[i],
      });
      mark(lin, src.kind === 'file' ? src.bytes : sizes[i], spec.name, 0);
      lin += sizes[i];
    });
    const s0 = item[0];
    if (s0.expert !== null) experts.push({ layer: s0.layer!, expert: s0.expert, mtp: false, ...at(first), bytes: lin - first });
    // A range larger than a shard fills the shards it spans to exactly shardBytes.
    for (let k = Math.floor(first / shardBytes); k < Math.floor((lin - 1) / shardBytes); k++) shardEnds[k] = shardBytes;
    while (shardEnds.length <= Math.floor((lin - 1) / shardBytes)) shardEnds.push(0);
    shardEnds[Math.floor((lin - 1) / shardBytes)] = Math.max(shardEnds[Math.floor((lin - 1) / shardBytes)], ((lin - 1) % shardBytes) + 1);
    linear = lin;
  }
  while (segments.length < shardEnds.length) segments.push([]);
  const shards: ManifestFile[] = shardEnds.map((bytes, i) => ({ file: `gguf-shard-${String(i).padStart(5, '0')}.bin`, bytes, sha256: '0'.repeat(64) }));
  const types = [...new Set(header.tensors.map((t) => t.type))].sort();
  return {
    manifest: {
      format: MANIFEST_FORMAT, version: MANIFEST_VERSION, model: { config: plan.config, hf: plan.hf }, quant: plan.mainFormat, mtp: false,
      alignment: TENSOR_ALIGNMENT, shardBytes, tensors, experts, shards, tokenizer: [], source: { name: fileName, dtype: types.join('+'), files: [fileName] },
    },
    plan,
    sources,
    segments,
  };
}
