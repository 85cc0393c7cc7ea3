// The KV state of a V4 model on the GPU, per layer kind (docs/architecture-v4.md#caches), sized from the
// config and the context: every layer a ring of recent KV entries; CSA and HCA layers their compressed
// entries and the compressor's ring of recent projections; CSA layers the indexer's keys and its own
// compressor ring. KV entries that V4 rounds through FP8 are stored as FP8 bytes plus scales.
import type { BufferGroup } from '../../gpu/buffers';
import { kvEntryWords } from '../../kernels/v4-kv';
import type { V4Config, V4LayerSpec } from '../../model/config-v4';

export interface V4LayerCache {
  spec: V4LayerSpec;
  /** Entries of the last `slots` positions (slot = position mod slots). */
  window: GPUBuffer;
  /** Compressed entries, block b at b (CSA, HCA); null on window-only layers. */
  compressed: GPUBuffer | null;
  /** The compressor's recent [kv | gate + ape] rows (slot = position mod compressorSlots). */
  compressorState: GPUBuffer | null;
  /** CSA: the indexer's compressed keys [maxBlocks, Di] and its compressor's rows. */
  indexKeys: GPUBuffer | null;
  indexState: GPUBuffer | null;
  /** Blocks the compressed buffers hold. */
  maxBlocks: number;
  /** Rows of the compressor rings: a multiple of the ratio covering a whole chunk and the block before it. */
  compressorSlots: number;
}

export interface V4CacheLayout {
  /** Window ring entries: the window, plus a chunk's tokens that all need theirs at once. */
  slots: number;
  /** u32 words of one KV entry (FP8 bytes + scales + f32 rope dims, or D f32). */
  entryWords: number;
  fp8: boolean;
}

export function v4CacheLayout(c: V4Config, maxTokens: number): V4CacheLayout {
  const fp8 = c.kvFp8Roundtrip;
  return { slots: c.slidingWindow + maxTokens - 1, entryWords: kvEntryWords(c.headDim, c.qkRopeHeadDim, fp8), fp8 };
}

/**
 * How far back a prompt may rewind the cache and keep the rest. Feeding again from position k needs the
 * window entries k−w+1 … k−1 and the compressor rows of the current and previous block, none overwritten by
 * the positions fed after k: with a ring of w + maxTokens − 1 entries (and compressor rings of at least
 * maxTokens + 2m rows) that holds while the rewind is at most maxTokens. One less leaves room for the MTP
 * module, which re-feeds one more position.
 */
export function v4MaxRewind(maxTokens: number): number {
  return Math.max(0, maxTokens - 1);
}

export function compressorSlots(ratio: number, maxTokens: number): number {
  return ratio * Math.ceil((maxTokens + 2 * ratio) / ratio);
}

/** The compressor's row width W = c·Dc: CSA's overlapping blocks keep two halves per token. */
export function compressorWidth(spec: V4LayerSpec, dim: number): number {
  return (spec.attention === 'csa' ? 2 : 1) * dim;
}

/** Bytes per layer of each buffer, before allocation: the limits check and the memory report use them. */
export function v4LayerBytes(c: V4Config, spec: V4LayerSpec, contextLength: number, maxTokens: number) {
  const L = v4CacheLayout(c, maxTokens);
  const m = spec.compressRatio;
  const maxBlocks = m ? Math.max(1, Math.floor(contextLength / m)) : 0;
  const Di = c.indexer.headDim;
  const slots = m ? compressorSlots(m, maxTokens) : 0;
  return {
    window: L.slots * L.entryWords * 4,
    compressed: maxBlocks * L.entryWords * 4,
    compressorState: slots * 2 * compressorWidth(spec, c.headDim) * 4,
    indexKeys: spec.attention === 'csa' ? maxBlocks * Di * 4 : 0,
    indexState: spec.attention === 'csa' ? slots * 2 * 2 * Di * 4 : 0,
    maxBlocks,
    compressorSlots: slots,
  };
}

/** The caches of `specs`, made in `buffers` (which counts their bytes and destroys them). */
export function createV4Caches(buffers: BufferGroup, c: V4Config, specs: readonly V4LayerSpec[], contextLength: number, maxTokens: number): V4LayerCache[] {
  return specs.map((spec, L) => {
    const b = v4LayerBytes(c, spec, contextLength, maxTokens);
    const make = (what: string, bytes: number) => (bytes ? buffers.storage(`${L}:${what}`, bytes) : null);
    return {
      spec,
      window: make('window', b.window)!,
      compressed: make('compressed', b.compressed),
      compressorState: make('compressor', b.compressorState),
      indexKeys: make('index_keys', b.indexKeys),
      indexState: make('index_compressor', b.indexState),
      maxBlocks: b.maxBlocks,
      compressorSlots: b.compressorSlots,
    };
  });
}

/**
 * KV bytes each cached token adds, as the context grows (the window and compressor rings are a fixed cost
 * per sequence): a CSA layer one entry and one indexer key per 4 tokens, an HCA layer one entry per m.
 */
export function v4KvBytesPerToken(c: V4Config): { total: number; byKind: Record<'swa' | 'csa' | 'hca', number> } {
  const entry = kvEntryWords(c.headDim, c.qkRopeHeadDim, c.kvFp8Roundtrip) * 4;
  const byKind = { swa: 0, csa: 0, hca: 0 };
  for (const l of c.layers) {
    if (l.attention === 'csa') byKind.csa += (entry + c.indexer.headDim * 4) / 4;
    else if (l.attention === 'hca') byKind.hca += entry / l.compressRatio;
  }
  return { total: byKind.csa + byKind.hca, byKind };
}
