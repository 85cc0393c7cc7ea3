// Loading a GpuModel straight from a model folder's URL (or a .gguf file's), for tools and tests that drive the model
// without the chat runtime (`webmoe run`, `webmoe bench`, the whole-model tests). Shards are verified
// against the manifest's SHA-256 like any load; by default nothing is kept in IndexedDB.
import type { GpuContext } from '../gpu/device';
import { parseManifest, type Manifest } from '../model/manifest';
import { ModelSource } from './cache/loader';
import { isGgufUrl, openGgufUrl } from './gguf-url';
import { ModelCache } from './cache/model-cache';
import { memoryCacheStore } from './cache/store';
import { GpuModel, type GpuModelOptions } from '../executor/gpu-model';

export interface UrlModel {
  model: GpuModel;
  manifest: Manifest;
  /** For the folder's other files (tokenizer.json, …). */
  source: ModelSource;
}

export async function loadGpuModelFromUrl(gpu: GpuContext, url: string, opts: GpuModelOptions & { cache?: ModelCache; fetch?: typeof fetch; streamOnly?: boolean } = {}): Promise<UrlModel> {
  const baseUrl = new URL(url, (globalThis as { location?: { href: string } }).location?.href).href;
  const cache = opts.cache ?? new ModelCache({ store: memoryCacheStore(), storage: null });
  const common = { modelId: baseUrl, cache, ...(opts.fetch ? { fetch: opts.fetch } : {}) };
  let source: ModelSource;
  let manifest: Manifest;
  if (isGgufUrl(baseUrl)) {
    // A .gguf file: the folder its header implies, its weights by range requests (docs/gguf.md).
    const g = await openGgufUrl(baseUrl, common);
    source = g.source;
    manifest = parseManifest(g.folder.manifest, baseUrl);
  } else {
    source = new ModelSource({ ...common, baseUrl, ...(opts.streamOnly ? { streamOnly: true } : {}) });
    manifest = parseManifest(await source.json('manifest.json'), `${baseUrl}manifest.json`);
  }
  const model = await GpuModel.load(gpu, manifest, (onShard) => source.loadShards(manifest.shards, (_s, data, i, offset) => onShard(i, data, offset)), {
    // Paged experts (docs/paging.md) are read back from the stored chunks.
    readShardRange: (i, offset, bytes) => source.readRange(manifest.shards[i], offset, bytes),
    ...opts,
  });
  return { model, manifest, source };
}
