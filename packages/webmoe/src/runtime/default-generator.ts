// The backend createEngine uses when the application names none: the WebGPU forward pass (GpuModel).
import { acquireGpu, type GpuRequest } from '../gpu/device';
import { parseManifest } from '../model/manifest';
import { GpuModel } from '../executor/gpu-model';
import type { GeneratorFactory } from './generator-factory';

/** The WebGPU backend on the adapter `request` picks (`request.gpu`: a GPU object outside a browser). */
export const webgpuGeneratorFactory = (request: GpuRequest = {}): GeneratorFactory => async (ctx) => {
  const manifest = parseManifest(ctx.manifest, `${ctx.modelId}/manifest.json`);
  const bytes = manifest.shards.reduce((n, s) => n + s.bytes, 0);
  const gpu = await acquireGpu(request);
  try {
    const model = await GpuModel.load(gpu, manifest, (onShard) => ctx.loadShards((_shard, data, index, offset) => onShard(index, data, offset)), {
      ...(ctx.contextLength ? { contextLength: ctx.contextLength } : {}),
      ...(ctx.kvCacheFormat ? { kvCacheFormat: ctx.kvCacheFormat } : {}),
      ...(ctx.speculative ? { speculative: ctx.speculative } : {}),
      ...(ctx.speculativeDepth ? { speculativeDepth: ctx.speculativeDepth } : {}),
      ...(ctx.decodeAhead ? { decodeAhead: ctx.decodeAhead } : {}),
      ...(ctx.gpuMemoryBudget ? { gpuMemoryBudget: ctx.gpuMemoryBudget } : {}),
      ...(ctx.readShardRange ? { readShardRange: ctx.readShardRange } : {}),
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

export const defaultGeneratorFactory: GeneratorFactory = webgpuGeneratorFactory();
