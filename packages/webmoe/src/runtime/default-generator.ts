// The backend createEngine uses when the application names none: the WebGPU forward pass (GpuModel).
import { acquireGpu } from '../gpu/device';
import { parseManifest } from '../model/manifest';
import { GpuModel } from '../executor/gpu-model';
import type { GeneratorFactory } from './generator-factory';

export const defaultGeneratorFactory: GeneratorFactory = async (ctx) => {
  const manifest = parseManifest(ctx.manifest, `${ctx.modelId}/manifest.json`);
  const bytes = manifest.shards.reduce((n, s) => n + s.bytes, 0);
  const gpu = await acquireGpu();
  try {
    const model = await GpuModel.load(gpu, manifest, (onShard) => ctx.loadShards((_shard, data, index) => onShard(index, data)), {
      ...(ctx.contextLength ? { contextLength: ctx.contextLength } : {}),
      onCompile: () => ctx.onProgress({ phase: 'compile', bytesDone: bytes, bytesTotal: bytes, shardsDone: manifest.shards.length, shardsTotal: manifest.shards.length }),
    });
    const dispose = model.dispose.bind(model);
    model.dispose = () => {
      dispose();
      gpu.destroy();
    };
    return model;
  } catch (e) {
    gpu.destroy();
    throw e;
  }
};
