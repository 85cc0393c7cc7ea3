import { GpuModel, acquireGpu } from 'webmoe';
import { parseManifest } from '../../packages/webmoe/src/model/manifest';
import { ModelSource } from '../../packages/webmoe/src/runtime/cache/loader';
import { createModelCache } from '../../packages/webmoe/src/runtime/cache/model-cache';
import { memoryCacheStore } from '../../packages/webmoe/src/runtime/cache/store';

let model: GpuModel | null = null;
(window as any).trace = async (url: string, ids: number[], label: string, buffer: string, count: number) => {
  if (!model) {
    const gpu = await acquireGpu();
    const source = new ModelSource({ modelId: url, baseUrl: url, cache: createModelCache({ store: memoryCacheStore(), storage: null }) });
    const manifest = parseManifest(await source.json('manifest.json'));
    model = await GpuModel.load(gpu, manifest, (on) => source.loadShards(manifest.shards, (_s, d, i) => on(i, d)), { contextLength: 64 });
  }
  return Array.from(await model.trace(ids, label, buffer as never, count));
};
