// What a model's KV state takes at a given context length, for `webmoe run --json`, the bench and the
// demo: the family's own caches (exactly the buffers the executor would allocate, at one token per call),
// beside a standard multi-head cache of the same model (keys and values of every head, f32).
import { KV_CACHE_FORMATS, latentCacheLayout, type KvCacheFormat } from '../kernels/mla';
import type { AnyModelConfig } from '../model/config';
import { v4KvBytesPerToken, v4LayerBytes } from './v4/caches';

export interface KvFootprint {
  family: 'v3' | 'v4';
  /** The V3 latent cache's format (V4's caches have their own; reported as 'f32'). */
  format: KvCacheFormat;
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

export function kvFootprint(c: AnyModelConfig, contexts: readonly number[], format: KvCacheFormat = 'f32'): KvFootprint {
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
    return { family: 'v4', format: 'f32', perTokenByKind: v4KvBytesPerToken(c).byKind, at };
  }
  const perLayer = (tokens: number) => latentCacheLayout(c, tokens, format).bytesPerLayer;
  return {
    family: 'v3',
    format,
    perTokenByKind: { mla: perLayer(1) * c.numLayers },
    at: contexts.map((tokens) => ({ tokens, bytes: perLayer(tokens) * c.numLayers, mhaBytes: mha * tokens })),
  };
}

export interface ContextForBudget {
  format: KvCacheFormat;
  /** Bytes each cached token takes over all main layers. */
  bytesPerToken: number;
  /** The most tokens whose latent cache fits the budget. */
  tokens: number;
}

/** V2/V3: the context length each latent cache format allows within `budgetBytes` of KV cache. */
export function contextForBudget(c: AnyModelConfig, budgetBytes: number): ContextForBudget[] {
  if (c.family === 'v4') return [];
  return KV_CACHE_FORMATS.map((format) => {
    const bytesPerToken = latentCacheLayout(c, 1, format).bytesPerLayer * c.numLayers;
    return { format, bytesPerToken, tokens: Math.floor(budgetBytes / bytesPerToken) };
  });
}
