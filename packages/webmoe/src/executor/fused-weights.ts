// Weights rearranged at load time so that decode needs fewer launches (docs/architecture-v3.md#layers):
//
// - q_a_proj and kv_a_proj_with_mqa read the same normed input: they are stored as one tensor, q_a's rows
//   first, each section of the format (q, scales, mins) concatenated along the rows, so that one product
//   writes both outputs. Pairs whose formats or widths differ, or whose sections do not split at a row
//   (fp8's 128-row scale blocks), stay apart. Without q LoRA (q_proj) they stay apart too: the product
//   would write kv_a's output into the query's buffer, which the cache store reads (kv) while it rotates
//   the query in place, and WebGPU refuses one buffer bound both ways in a dispatch.
// - A shared expert with the routed experts' layouts (n_shared_experts = 1, same format) is stored as one
//   more expert after the layer's routed experts (or its paging pool), so that the routed experts'
//   launches run it as one more slot, unweighted. Its tensor names point into that buffer (the last one
//   when the group is split over several, docs/paging.md#binding-limit).
//
// V2/V3 families only; V4 keeps its tensors as stored.
import { STORAGE, alignedSize } from '../gpu/buffers';
import { tensorLayout, type TensorLayout } from '../model/formats';
import type { ByteRange, Manifest, ManifestTensor } from '../model/manifest';
import { expertPartOf, type ExpertPart } from '../kernels/weight-parts';

/** What this file reads of weights.ts's GpuTensor and GpuExperts (weights.ts imports this file). */
interface Tensor {
  readonly name: string;
  readonly buffer: GPUBuffer;
  readonly byteOffset: number;
  readonly layout: TensorLayout;
}
interface Experts {
  readonly layer: number;
  readonly count: number;
  readonly buffer: GPUBuffer;
  readonly parts: readonly ExpertPart[];
  readonly strideBytes: number;
  readonly gate: { readonly offset: number; readonly layout: TensorLayout };
  readonly up: { readonly offset: number; readonly layout: TensorLayout };
  readonly down: { readonly offset: number; readonly layout: TensorLayout };
}

/** The fused q_a + kv_a tensor of layer prefix `p` (`model.layers.L`). */
export const fusedQkvName = (p: string) => `${p}.self_attn.q_kv_a.weight`;

const SHARED = ['gate', 'up', 'down'] as const;
const sharedName = (layer: number, m: (typeof SHARED)[number]) => `model.layers.${layer}.mlp.shared_experts.${m}_proj.weight`;

/** Where uploads go: the uploader's router of shard bytes into a buffer. */
type Route = (range: ByteRange, dst: GPUBuffer, dstOffset: number) => void;

interface QkvPair {
  name: string;
  query: ManifestTensor;
  kv: ManifestTensor;
  layout: TensorLayout;
}

const sameLayout = (a: TensorLayout, b: TensorLayout) =>
  a.format === b.format && a.rows === b.rows && a.cols === b.cols && a.bytes === b.bytes;

/** The section names of a layout, in order. */
const SECTIONS = ['q', 'scales', 'mins'] as const;

/** The layout of [a; b] when every section of a and b is exactly its rows (no partial blocks) in whole words, else null. */
function concatLayout(a: TensorLayout, b: TensorLayout): TensorLayout | null {
  if (a.format !== b.format || a.cols !== b.cols) return null;
  const both = tensorLayout(a.format, [a.rows + b.rows, a.cols]);
  for (const s of SECTIONS) {
    const x = a[s], y = b[s], z = both[s];
    if (!x || !y || !z) continue;
    if (x.bytes + y.bytes !== z.bytes || x.bytes * both.rows !== z.bytes * a.rows) return null;
    // The uploads are queue writes: whole words at word offsets.
    if (x.bytes % 4 !== 0 || y.bytes % 4 !== 0) return null;
  }
  return both;
}

/** `bytes` bytes from `delta` bytes into `t`'s range, which may continue into the next shards. */
function subRange(manifest: Manifest, t: ByteRange, delta: number, bytes: number): ByteRange {
  let shard = t.shard, offset = t.offset + delta;
  while (shard < manifest.shards.length - 1 && offset >= manifest.shards[shard].bytes) offset -= manifest.shards[shard++].bytes;
  return { shard, offset, bytes };
}

export class FusedWeights {
  private readonly pairs: QkvPair[] = [];
  /** MoE layers whose shared expert joins the experts' buffer. */
  private readonly sharedLayers = new Set<number>();
  private readonly absorbed = new Set<string>();

  constructor(private readonly manifest: Manifest, byName: Map<string, ManifestTensor>, takesMtp: boolean) {
    if (manifest.model.config.family !== 'v3') return;
    const taken = (t: ManifestTensor | undefined): t is ManifestTensor => t !== undefined && (!t.mtp || takesMtp);
    const layout = (t: ManifestTensor) => tensorLayout(t.format, t.shape);
    const layers = new Set(manifest.tensors.flatMap((t) => (t.layer === null ? [] : [t.layer])));
    for (const L of layers) {
      const p = `model.layers.${L}.self_attn`;
      const query = byName.get(`${p}.q_a_proj.weight`);
      const kv = byName.get(`${p}.kv_a_proj_with_mqa.weight`);
      if (!taken(query) || !taken(kv)) continue;
      const both = concatLayout(layout(query), layout(kv));
      if (!both) continue;
      this.pairs.push({ name: fusedQkvName(`model.layers.${L}`), query, kv, layout: both });
      this.absorbed.add(query.name).add(kv.name);
    }
    for (const L of new Set(manifest.experts.filter((e) => !e.mtp || takesMtp).map((e) => e.layer))) {
      const shared = SHARED.map((m) => byName.get(sharedName(L, m)));
      const routed = SHARED.map((m) => byName.get(`model.layers.${L}.mlp.experts.0.${m}_proj.weight`));
      if (!shared.every(taken) || !routed.every((t) => t !== undefined)) continue;
      if (!shared.every((t, i) => sameLayout(layout(t!), layout(routed[i]!)))) continue;
      this.sharedLayers.add(L);
      for (const t of shared) this.absorbed.add(t!.name);
    }
  }

  /** Whether tensor `name` is stored only as part of a fused tensor or an experts' buffer. */
  absorbs(name: string): boolean {
    return this.absorbed.has(name);
  }

  /** Experts the layer's buffer holds beyond its routed ones (its shared expert). */
  extraExperts(layer: number): number {
    return this.sharedLayers.has(layer) ? 1 : 0;
  }

  /** Creates the fused tensors and routes every absorbed tensor's bytes; names each in `tensors`. */
  place(device: GPUDevice, tensors: Map<string, Tensor>, experts: Map<number, Experts>, route: Route): void {
    for (const { name, query, kv, layout } of this.pairs) {
      const buffer = device.createBuffer({ label: name, size: alignedSize(layout.bytes, 16), usage: STORAGE });
      tensors.set(name, { name, buffer, byteOffset: 0, layout });
      let rowsBefore = 0;
      for (const t of [query, kv]) {
        const part = tensorLayout(t.format, t.shape);
        for (const s of SECTIONS) {
          const from = part[s], to = layout[s];
          if (!from || !to) continue;
          route(subRange(this.manifest, t, from.offset, from.bytes), buffer, to.offset + (to.bytes / layout.rows) * rowsBefore);
        }
        rowsBefore += part.rows;
      }
    }
    for (const L of this.sharedLayers) {
      const ex = experts.get(L)!;
      // Expert ex.count of the group: the last part's last, when the group is split (docs/paging.md#binding-limit).
      const part = expertPartOf(ex.parts, ex.count);
      const base = (ex.count - part.base) * ex.strideBytes;
      for (const m of SHARED) {
        const t = this.manifest.tensors.find((x) => x.name === sharedName(L, m))!;
        const byteOffset = base + ex[m].offset;
        tensors.set(t.name, { name: t.name, buffer: part.buffer, byteOffset, layout: ex[m].layout });
        route(t, part.buffer, byteOffset);
      }
    }
  }
}

/**
 * The index in the layer's group of experts of its shared expert when the loader put it there (FusedWeights),
 * else null: then the shared expert runs as its own products.
 */
export function sharedExpertIndex(w: { tensor(name: string): Tensor; has(name: string): boolean }, ex: Experts): number | null {
  const name = sharedName(ex.layer, 'gate');
  if (!w.has(name)) return null;
  const t = w.tensor(name);
  const part = ex.parts.find((p) => p.buffer === t.buffer);
  return part ? part.base + (t.byteOffset - ex.gate.offset) / ex.strideBytes : null;
}
