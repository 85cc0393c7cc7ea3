// Model weights on the GPU, uploaded piece by piece from a converted model folder: the shard bytes are
// the GPU bytes (formats.ts layouts), so loading is a copy. Non-expert tensors get one buffer each; each
// MoE layer's routed experts share one buffer (expert e at e × stride) so that a kernel can pick experts
// by id without a CPU round trip, or several buffers of whole experts when the group exceeds the binding
// limit (split-buffers.ts, docs/paging.md#binding-limit). MTP tensors are uploaded only when asked for
// (GpuModelOptions.mtp): the main forward pass does not use them.
import { WebmoeError } from '../errors';
import { alignedSize, STORAGE } from '../gpu/buffers';
import { tensorLayout, type TensorLayout } from '../model/formats';
import { rangePieces, type Manifest, type ManifestTensor } from '../model/manifest';
import { expertPartOf, type ExpertPart, type WeightPart } from '../kernels/weight-parts';
import { bindingLimit, createSplitTensor, expertBuffers } from './split-buffers';
import { FusedWeights } from './fused-weights';

export interface GpuTensor {
  readonly name: string;
  readonly buffer: GPUBuffer;
  /** Where the tensor starts in `buffer` (0 for non-expert tensors). */
  readonly byteOffset: number;
  readonly layout: TensorLayout;
  /** A tensor above the binding limit, split by rows (split-buffers.ts); `buffer` is then the first part's. */
  readonly parts?: readonly WeightPart[];
}

export interface GpuExpertMatrix {
  /** Byte offset of this matrix inside one expert's range. */
  readonly offset: number;
  readonly layout: TensorLayout;
}

export interface GpuExperts {
  readonly layer: number;
  /** The layer's routed experts, or the slots of a paged pool (WeightOptions.expertSlots). */
  readonly count: number;
  /** The first part's buffer: the only one unless the group exceeds the binding limit. */
  readonly buffer: GPUBuffer;
  /**
   * The buffers of whole experts [base, base + count) that hold the group, the shared expert stored after the
   * routed ones included (fused-weights.ts); one part for a group that fits, and always for a paged pool.
   */
  readonly parts: readonly ExpertPart[];
  /** Bytes from one expert's range to the next (256-aligned). */
  readonly strideBytes: number;
  readonly gate: GpuExpertMatrix;
  readonly up: GpuExpertMatrix;
  readonly down: GpuExpertMatrix;
}

type ExpertMatrix = 'gate' | 'up' | 'down';

/**
 * How each family names a routed expert's matrices: V2/V3 store MTP layers as further `model.layers.L`;
 * V4 keeps DeepSeek's own names (w1 gate, w3 up, w2 down) and its MTP modules are `mtp.K` (layer numLayers + K).
 */
const EXPERT_NAMES: Record<'v3' | 'v4', { pattern: RegExp; group: (layer: number, numLayers: number) => string; matrix: Record<ExpertMatrix, string> }> = {
  v3: {
    pattern: /^model\.layers\.\d+\.mlp\.experts\.\d+\.(gate|up|down)_proj\.weight$/,
    group: (l) => `model.layers.${l}.mlp.experts`,
    matrix: { gate: 'gate_proj', up: 'up_proj', down: 'down_proj' },
  },
  v4: {
    pattern: /^(layers|mtp)\.\d+\.ffn\.experts\.\d+\.w[123]\.weight$/,
    group: (l, n) => (l < n ? `layers.${l}` : `mtp.${l - n}`) + '.ffn.experts',
    matrix: { gate: 'w1', up: 'w3', down: 'w2' },
  },
};

export interface WeightOptions {
  /** Also upload the MTP modules' tensors (the folder must have been converted with them). Default false. */
  mtp?: boolean;
  /**
   * Expert paging (docs/paging.md): each MoE layer's expert buffer is a pool of this many slots, filled
   * later by the pager (expert-pager.ts), and the shards' expert bytes are not uploaded. Default: every expert.
   */
  expertSlots?: number;
  /** Bytes one weight buffer may take, below the adapter's limit (tests of split tensors); never raises it. */
  maxBindingBytes?: number;
}

/** Whether to take the tensors marked mtp; refuses MTP that the model or its folder does not have. */
function takesMtp(manifest: Manifest, opts: WeightOptions): boolean {
  if (!opts.mtp) return false;
  if (manifest.model.config.numMtpLayers < 1) {
    throw new WebmoeError('invalid-request', 'MTP was asked for, but this model has no MTP module (num_nextn_predict_layers is 0)');
  }
  if (!manifest.mtp) {
    throw new WebmoeError('invalid-request', 'MTP was asked for, but this model folder was converted without the MTP module (manifest.json "mtp": false); convert the checkpoint again with --mtp');
  }
  return true;
}

export class GpuWeights {
  private constructor(
    private readonly tensors: Map<string, GpuTensor>,
    private readonly expertsByLayer: Map<number, GpuExperts>,
    readonly bytes: number,
  ) {}

  tensor(name: string): GpuTensor {
    const t = this.tensors.get(name);
    if (!t) throw new WebmoeError('model-format', `the model has no tensor ${name}`);
    return t;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  experts(layer: number): GpuExperts {
    const e = this.expertsByLayer.get(layer);
    if (!e) throw new WebmoeError('model-format', `layer ${layer} has no routed experts`);
    return e;
  }

  destroy(): void {
    for (const t of this.tensors.values()) for (const p of t.parts ?? [t]) p.buffer.destroy();
    for (const e of this.expertsByLayer.values()) for (const p of e.parts) p.buffer.destroy();
  }

  /** Plans buffers from the manifest (no GPU work): byte totals for the memory plan. */
  static plan(manifest: Manifest, opts: WeightOptions = {}): { tensorBytes: number; expertBytes: number; largestBinding: number } {
    const mtp = takesMtp(manifest, opts);
    let tensorBytes = 0, expertBytes = 0, largestBinding = 0;
    for (const t of manifest.tensors) {
      if ((t.mtp && !mtp) || t.expert !== null) continue;
      tensorBytes += alignedSize(t.bytes);
      largestBinding = Math.max(largestBinding, t.bytes);
    }
    const perLayer = new Map<number, number>();
    for (const e of manifest.experts) {
      if (e.mtp && !mtp) continue;
      perLayer.set(e.layer, (perLayer.get(e.layer) ?? 0) + alignedSize(e.bytes, 256));
    }
    for (const b of perLayer.values()) {
      expertBytes += b;
      largestBinding = Math.max(largestBinding, b);
    }
    return { tensorBytes, expertBytes, largestBinding };
  }

  /**
   * Allocates every buffer from the manifest and returns an uploader that takes pieces of shards as they
   * arrive (shards in any order; a shard's pieces in order, or again from an earlier offset): each piece's
   * bytes go straight into the buffers of the tensors it overlaps and can be dropped, so a load holds one
   * piece in host memory, not a shard.
   */
  static uploader(device: GPUDevice, manifest: Manifest, opts: WeightOptions = {}): WeightUploader {
    const mtp = takesMtp(manifest, opts);
    const numLayers = manifest.model.config.numLayers;
    const tensors = new Map<string, GpuTensor>();
    const experts = new Map<number, GpuExperts>();
    // Where each piece of each shard goes: [shard] → (src offset, dst buffer, dst offset, bytes).
    const copies: { src: number; dst: GPUBuffer; dstOffset: number; bytes: number }[][] = manifest.shards.map(() => []);
    const route = (t: { shard: number; offset: number; bytes: number }, dst: GPUBuffer, dstOffset: number) => {
      let at = dstOffset;
      for (const p of rangePieces(manifest.shards, t)) {
        copies[p.shard].push({ src: p.offset, dst, dstOffset: at, bytes: p.bytes });
        at += p.bytes;
      }
    };
    const byName = new Map<string, ManifestTensor>(manifest.tensors.map((t) => [t.name, t]));
    const naming = EXPERT_NAMES[manifest.model.config.family];
    // Tensors stored fused for fewer decode launches (fused-weights.ts).
    const fused = new FusedWeights(manifest, byName, mtp);
    const destroyAll = () => {
      for (const t of tensors.values()) for (const p of t.parts ?? [t]) p.buffer.destroy();
      for (const x of experts.values()) for (const p of x.parts) p.buffer.destroy();
    };

    const limit = bindingLimit(device, opts.maxBindingBytes);
    try {
      for (const t of manifest.tensors) {
        if ((t.mtp && !mtp) || t.expert !== null || fused.absorbs(t.name)) continue;
        const parts = createSplitTensor(device, manifest, t, limit, route);
        if (parts) { tensors.set(t.name, { name: t.name, buffer: parts[0].buffer, byteOffset: 0, layout: tensorLayout(t.format, t.shape), parts }); continue; }
        const buffer = device.createBuffer({ label: t.name, size: alignedSize(t.bytes, 16), usage: STORAGE });
        tensors.set(t.name, { name: t.name, buffer, byteOffset: 0, layout: tensorLayout(t.format, t.shape) });
        route(t, buffer, 0);
      }
      const layers = new Map<number, typeof manifest.experts>();
      for (const e of manifest.experts) {
        if (e.mtp && !mtp) continue;
        if (!layers.has(e.layer)) layers.set(e.layer, []);
        layers.get(e.layer)!.push(e);
      }
      for (const [layer, list] of layers) {
        list.sort((a, b) => a.expert - b.expert);
        const stride = alignedSize(list[0].bytes, 256);
        if (list.some((e, i) => e.expert !== i || alignedSize(e.bytes, 256) !== stride)) {
          throw new WebmoeError('model-format', `manifest.json: the routed experts of layer ${layer} are not numbered 0…${list.length - 1} with equal sizes`);
        }
        const first = list[0];
        const matrix = (kind: ExpertMatrix): GpuExpertMatrix => {
          const name = `${naming.group(layer, numLayers)}.0.${naming.matrix[kind]}.weight`;
          const t = byName.get(name);
          if (!t) throw new WebmoeError('model-format', `manifest.json: tensor ${name} is missing`);
          return { offset: t.shard === first.shard ? t.offset - first.offset : rangeOffset(manifest, first, t), layout: tensorLayout(t.format, t.shape) };
        };
        const count = opts.expertSlots ?? list.length;
        const ranges = expertBuffers(layer, list.length, stride, limit, opts.expertSlots, fused.extraExperts(layer));
        const group = naming.group(layer, numLayers);
        const parts: ExpertPart[] = ranges.map((r, i) => ({ ...r, buffer: device.createBuffer({ label: ranges.length > 1 ? `${group}#${i}` : group, size: stride * r.count, usage: STORAGE }) }));
        experts.set(layer, { layer, count, buffer: parts[0].buffer, parts, strideBytes: stride, gate: matrix('gate'), up: matrix('up'), down: matrix('down') });
        if (opts.expertSlots === undefined) {
          list.forEach((e, i) => {
            const p = expertPartOf(parts, i);
            route(e, p.buffer, (i - p.base) * stride);
          });
        }
      }
      fused.place(device, tensors, experts, route);
      for (const t of manifest.tensors) {
        if ((!t.mtp || mtp) && t.expert !== null && !naming.pattern.test(t.name)) {
          throw new WebmoeError('model-format', `manifest.json: unexpected expert tensor ${t.name}`);
        }
      }
    } catch (e) {
      destroyAll();
      throw e;
    }

    // Per shard, how many bytes from 0 on have been written without a gap.
    const covered = manifest.shards.map(() => 0);
    return {
      write(index: number, data: Uint8Array, offset = 0) {
        const shard = manifest.shards[index];
        if (!shard) throw new WebmoeError('internal', `weights: there is no shard ${index}`);
        const end = offset + data.byteLength;
        if (offset > covered[index] || end > shard.bytes || offset % 4 !== 0) {
          throw new WebmoeError('integrity', `${shard.file}: a piece of ${data.byteLength} bytes at offset ${offset} does not continue the ${covered[index]} bytes written of ${shard.bytes}`);
        }
        for (const c of copies[index]) {
          const lo = Math.max(offset, c.src), hi = Math.min(end, c.src + c.bytes);
          if (hi > lo) device.queue.writeBuffer(c.dst, c.dstOffset + lo - c.src, data as Uint8Array<ArrayBuffer>, lo - offset, hi - lo);
        }
        covered[index] = Math.max(covered[index], end);
      },
      finish() {
        const short = manifest.shards.filter((s, i) => covered[i] !== s.bytes);
        if (short.length) {
          destroyAll();
          throw new WebmoeError('internal', `weights: shards ${short.map((s) => s.file).join(', ')} were not uploaded in full`);
        }
        // Fused tensors (the shared expert) live inside an experts buffer: count every buffer once.
        const buffers = new Set([...tensors.values()].flatMap((t) => (t.parts ?? [t]).map((p) => p.buffer)));
        for (const e of experts.values()) for (const p of e.parts) buffers.add(p.buffer);
        let total = 0;
        for (const b of buffers) total += b.size;
        return new GpuWeights(tensors, experts, total);
      },
      abort: destroyAll,
    };
  }
}

export interface WeightUploader {
  /** `data`: shard `index`'s bytes from `offset` (default 0, a multiple of 4) on. */
  write(index: number, data: Uint8Array, offset?: number): void;
  finish(): GpuWeights;
  /** Frees what was allocated (a failed load). */
  abort(): void;
}

/** Offset of tensor `t` inside the range `first`, when the range continues across shards. */
function rangeOffset(manifest: Manifest, first: { shard: number; offset: number }, t: { shard: number; offset: number }): number {
  let off = manifest.shards[first.shard].bytes - first.offset;
  for (let s = first.shard + 1; s < t.shard; s++) off += manifest.shards[s].bytes;
  return off + t.offset;
}
