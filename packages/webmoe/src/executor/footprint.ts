// What a model's KV state takes at a given context length, for `webmoe run --json`, the bench and the
// demo: the family's own caches (exactly the buffers the executor would allocate, at one token per call),
// beside a standard multi-head cache of the same model (keys and values of every head, f32).
import { latentCacheLayout } from '../kernels/mla';
import type { AnyModelConfig } from '../model/config';
import { v4KvBytesPerToken, v4LayerBytes } from './v4/caches';

export interface KvFootprint {
  family: 'v3' | 'v4';
  /** Bytes each further cached token adds, by layer kind (V3: every layer is 'mla'). */
  perTokenByKind: Record<string, number>;
  /** [context, bytes of the family's KV state, bytes of a multi-head cache]. */
  at: { tokens: number; bytes: number; mhaBytes: number }[];
}

/** Multi-head KV bytes per token: each head's key and value in f32, every layer. */
function mhaBytesPerToken(c: AnyModelConfig): number {
  if (c.family === 'v4') return c.numLayers * c.numHeads * 2 * c.headDim * 4;
  return c.numLayers * c.numHeads * (c.qkNopeHeadDim + c.qkRopeHeadDim + c.vHeadDim) * 4;
}

export function kvFootprint(c: AnyModelConfig, contexts: readonly number[]): KvFootprint {
  const mha = mhaBytesPerToken(c);
  if (c.family === 'v4') {
    const at = contexts.map((tokens) => {
      let bytes = 0;
      for (const spec of c.layers) {
        const b = v4LayerBytes(c, spec, tokens, 1);
        bytes += b.window + b.compressed + b.compressorState + b.indexKeys + b.indexState;
      }
      return { tokens, bytes, mhaBytes: mha * tokens };
    });
    return { family: 'v4', perTokenByKind: v4KvBytesPerToken(c).byKind, at };
  }
  const perLayer = (tokens: number) => latentCacheLayout(c, tokens).bytesPerLayer;
  return {
    family: 'v3',
    perTokenByKind: { mla: perLayer(1) * c.numLayers },
    at: contexts.map((tokens) => ({ tokens, bytes: perLayer(tokens) * c.numLayers, mhaBytes: mha * tokens })),
  };
}
