// No binding limit as a model ceiling (docs/model-folder.md#split-tensors): a dense tensor larger than what
// the adapter can bind is uploaded as several buffers of whole output rows, each a tensor of its own in the
// same format (formats.ts), and the products and gathers reading it launch once per part
// (kernels/weight-parts.ts). Here: where the parts start, which bytes of the stored tensor each part takes,
// and the early, plain-words refusal of what cannot be split (a tensor whose products cut across rows, a
// paged expert pool or a single expert larger than one binding). A layer's routed experts above the limit
// are split too, by whole experts (planExpertParts, docs/paging.md#binding-limit).
import { WebmoeError } from '../errors';
import { FP8_BLOCK, tensorLayout, type Section, type TensorLayout } from '../model/formats';
import { alignedSize, STORAGE } from '../gpu/buffers';
import type { Manifest, ManifestTensor } from '../model/manifest';
import type { WeightPart } from '../kernels/weight-parts';
import { FusedWeights } from './fused-weights';

/** The most bytes one weight buffer may take: the adapter's limits, lowered (never raised) by `override`. */
export function bindingLimit(device: GPUDevice, override?: number): number {
  const l = device.limits as GPUSupportedLimits | undefined;
  const limit = l ? Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize) : Infinity;
  if (override === undefined) return limit;
  if (!(Number.isInteger(override) && override >= 256)) {
    throw new WebmoeError('invalid-request', `maxBindingBytes: must be an integer of at least 256, got ${override}`);
  }
  return Math.min(limit, override);
}

/**
 * Tensors whose every reader launches over parts (the embedding gathers, the LM heads): only these are
 * split. Another tensor above the limit is refused by checkWeightBindings, naming it.
 */
const SPLIT_READERS = [
  /^model\.embed_tokens\.weight$/, /^lm_head\.weight$/,
  /^model\.layers\.\d+\.(embed_tokens|shared_head\.head)\.weight$/,
  /^(embed|head)\.weight$/,
];

export function isSplittable(name: string): boolean {
  return SPLIT_READERS.some((r) => r.test(name));
}

export interface RowPart {
  rowStart: number;
  layout: TensorLayout;
}

type SectionName = 'q' | 'scales' | 'mins';
const SECTIONS: readonly SectionName[] = ['q', 'scales', 'mins'];

/** Weight rows per stored row of a section: fp8's scales hold one row per 128×128 block. */
function unitRows(L: TensorLayout, s: SectionName): number {
  return L.format === 'fp8' && s === 'scales' ? FP8_BLOCK : 1;
}

/** Bytes of one stored row of section `s`. */
function unitBytes(L: TensorLayout, s: SectionName, sec: Section): number {
  return sec.bytes / Math.ceil(L.rows / unitRows(L, s));
}

/**
 * The row multiple every part boundary falls on: whole quantization blocks along the rows (fp8's 128) and
 * sections cut on 4-byte boundaries, as buffer writes and the kernels' word offsets need.
 */
export function rowAlignment(L: TensorLayout): number {
  let align = 1;
  for (const s of SECTIONS) {
    const sec = L[s];
    if (!sec) continue;
    const u = unitRows(L, s), b = unitBytes(L, s, sec);
    let k = 1;
    while ((k * b) % 4 !== 0) k++;
    align = lcm(align, u * k);
  }
  return align;
}

const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
const lcm = (a: number, b: number) => (a / gcd(a, b)) * b;

/**
 * Splits `L` by output rows into the fewest parts of nearly equal size, each at most `limit` bytes, with
 * boundaries on rowAlignment(L). One part (the tensor itself) when it fits. Throws WebmoeError naming the
 * tensor when not even one aligned run of rows fits.
 */
export function planRowSplit(L: TensorLayout, limit: number, name: string): RowPart[] {
  if (L.bytes <= limit) return [{ rowStart: 0, layout: L }];
  const align = rowAlignment(L);
  const fits = (rows: number) => tensorLayout(L.format, [rows, L.cols]).bytes <= limit;
  if (!fits(align)) {
    throw new WebmoeError('insufficient-limits',
      `${name}: ${align} rows of ${L.format}[${L.rows}, ${L.cols}] already exceed the ${limit} bytes one GPU buffer may bind; the tensor cannot be split to fit`,
      { detail: { tensor: name, limit } });
  }
  // The largest aligned row count that fits, from the average row size down (section padding may cost a step).
  let per = Math.max(align, Math.floor(limit / (L.bytes / L.rows) / align) * align);
  while (!fits(per)) per -= align;
  const n = Math.ceil(L.rows / per);
  const even = Math.ceil(L.rows / n / align) * align;
  const parts: RowPart[] = [];
  for (let r = 0; r < L.rows; r += even) parts.push({ rowStart: r, layout: tensorLayout(L.format, [Math.min(even, L.rows - r), L.cols]) });
  return parts;
}

/** A byte range of the stored tensor copied into a part: `from` relative to the tensor's start. */
export interface PartCopy {
  from: number;
  to: number;
  bytes: number;
}

/**
 * The copies that build `part` from the whole tensor's bytes: each section's run of rows. The last part's
 * runs are rounded up to whole words, which stays inside the section's 16-byte padding on both sides.
 */
export function partCopies(L: TensorLayout, part: RowPart): PartCopy[] {
  const out: PartCopy[] = [];
  for (const s of SECTIONS) {
    const sec = L[s], dst = part.layout[s];
    if (!sec || !dst) continue;
    const from = sec.offset + (part.rowStart / unitRows(L, s)) * unitBytes(L, s, sec);
    out.push({ from, to: dst.offset, bytes: alignedSize(dst.bytes, 4) });
  }
  return out;
}

/** A shard range starting `from` bytes into `t` (which may continue across shards). */
function subRange(manifest: Manifest, t: ManifestTensor, from: number, bytes: number): { shard: number; offset: number; bytes: number } {
  let shard = t.shard, offset = t.offset + from;
  while (offset >= manifest.shards[shard].bytes) offset -= manifest.shards[shard++].bytes;
  return { shard, offset, bytes };
}

/**
 * The upload of a tensor above `limit` (weights.ts): one buffer per part, and `route` told where each run of
 * the stored bytes goes. Null when the tensor fits one buffer.
 */
export function createSplitTensor(device: GPUDevice, manifest: Manifest, t: ManifestTensor, limit: number,
  route: (range: { shard: number; offset: number; bytes: number }, dst: GPUBuffer, dstOffset: number) => void): WeightPart[] | null {
  const L = tensorLayout(t.format, t.shape);
  if (L.bytes <= limit) return null;
  if (!isSplittable(t.name)) throw overLimit(t.name, L.bytes, limit);
  const parts: WeightPart[] = [];
  try {
    for (const [i, part] of planRowSplit(L, limit, t.name).entries()) {
      const buffer = device.createBuffer({ label: `${t.name}#${i}`, size: alignedSize(part.layout.bytes, 16), usage: STORAGE });
      parts.push({ buffer, offset: 0, layout: part.layout, rowStart: part.rowStart });
      for (const c of partCopies(L, part)) route(subRange(manifest, t, c.from, c.bytes), buffer, c.to);
    }
  } catch (e) {
    for (const p of parts) p.buffer.destroy();
    throw e;
  }
  return parts;
}

function overLimit(name: string, bytes: number, limit: number): WebmoeError {
  return new WebmoeError('insufficient-limits',
    `${name} takes ${mib(bytes)} MiB; this GPU binds at most ${mib(limit)} MiB per buffer, and only the embedding and LM head tables can be split over several buffers`,
    { detail: { tensor: name, needed: bytes, limit } });
}

const mib = (b: number) => (b / 2 ** 20).toFixed(1);

/** Experts [base, base + count) of a layer's group (its routed experts, then any stored after them), in one buffer. */
export interface ExpertRange {
  base: number;
  count: number;
}

/**
 * A layer's group of `count` experts (the routed ones and `extra` stored after them: fused-weights.ts's
 * shared expert) at `strideBytes` apart, split into the fewest nearly equal runs of whole experts whose
 * buffers each fit `limit` (docs/paging.md#binding-limit). One part when the group fits. Throws WebmoeError
 * naming the layer when not even one expert fits.
 */
export function planExpertParts(layer: number, count: number, strideBytes: number, limit: number, extra = 0): ExpertRange[] {
  const n = count + extra;
  const per = Math.floor(limit / strideBytes);
  if (per < 1) {
    throw new WebmoeError('insufficient-limits',
      `one routed expert of layer ${layer} takes ${mib(strideBytes)} MiB (${strideBytes} bytes); this GPU binds at most ${mib(limit)} MiB (${limit} bytes) per buffer, and an expert cannot be split over buffers`,
      { detail: { layer, needed: strideBytes, limit } });
  }
  const parts = Math.ceil(n / per);
  const even = Math.ceil(n / parts);
  const out: ExpertRange[] = [];
  for (let base = 0; base < n; base += even) out.push({ base, count: Math.min(even, n - base) });
  return out;
}

/**
 * Refuses a paged expert pool whose buffer (its slots, plus `extra` experts stored after them:
 * fused-weights.ts's shared expert) exceeds the limit, naming the layer and the slots that would fit
 * (docs/paging.md#binding-limit). The pager writes slots by index into one buffer, so a pool is not split.
 */
export function checkExpertPool(layer: number, slots: number, strideBytes: number, limit: number, extra = 0): void {
  const bytes = (slots + extra) * strideBytes;
  if (bytes <= limit) return;
  const fit = Math.max(0, Math.floor(limit / strideBytes) - extra);
  throw new WebmoeError('insufficient-limits',
    `the expert pool of layer ${layer} takes ${mib(bytes)} MiB in one buffer (${slots} slots${extra ? ` and ${extra} shared` : ''} of ${mib(strideBytes)} MiB); `
    + `this GPU binds at most ${mib(limit)} MiB per buffer: page with at most ${fit} slot${fit === 1 ? '' : 's'} per layer (expertSlots or gpuMemoryBudget, docs/paging.md)`,
    { detail: { layer, needed: bytes, limit, slotsThatFit: fit } });
}

/** The experts' buffers of a layer: a paged pool (checked to fit whole) or the parts of its whole group. */
export function expertBuffers(layer: number, count: number, strideBytes: number, limit: number, slots: number | undefined, extra: number): ExpertRange[] {
  if (slots === undefined) return planExpertParts(layer, count, strideBytes, limit, extra);
  checkExpertPool(layer, slots, strideBytes, limit, extra);
  return [{ base: 0, count: slots + extra }];
}

export interface BindingOptions {
  mtp?: boolean;
  /** Paged experts: the slots of each layer's pool. */
  expertSlots?: number;
}

/**
 * Before any weight is fetched: every weight buffer the model needs fits `limit`, or is a tensor that can be
 * split (and its parts fit). Throws WebmoeError('insufficient-limits') naming the tensor or layer.
 */
export function checkWeightBindings(manifest: Manifest, limit: number, opts: BindingOptions = {}): void {
  for (const t of manifest.tensors) {
    if ((t.mtp && !opts.mtp) || t.expert !== null || t.bytes <= limit) continue;
    if (!isSplittable(t.name)) throw overLimit(t.name, t.bytes, limit);
    planRowSplit(tensorLayout(t.format, t.shape), limit, t.name);
  }
  const layers = new Map<number, { count: number; stride: number }>();
  for (const e of manifest.experts) {
    if (e.mtp && !opts.mtp) continue;
    const l = layers.get(e.layer) ?? { count: 0, stride: 0 };
    layers.set(e.layer, { count: l.count + 1, stride: Math.max(l.stride, alignedSize(e.bytes, 256)) });
  }
  const fused = new FusedWeights(manifest, new Map(manifest.tensors.map((t) => [t.name, t])), opts.mtp === true);
  for (const [layer, { count, stride }] of layers) {
    expertBuffers(layer, count, stride, limit, opts.expertSlots, fused.extraExperts(layer));
  }
}

/** The parts a reader launches over: the tensor's own, or the whole tensor as one part. */
export function weightParts(t: { buffer: GPUBuffer; byteOffset: number; layout: TensorLayout; parts?: readonly WeightPart[] }): readonly WeightPart[] {
  return t.parts ?? [{ buffer: t.buffer, offset: t.byteOffset, layout: t.layout, rowStart: 0 }];
}
