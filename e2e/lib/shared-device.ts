// An Engine backend (GeneratorFactory) for the harness pages that loads each engine's GpuModel on a GPU device
// the page holds, where createEngine's default backend takes a new device per engine and so compiles every
// pipeline again (10-25 s a load on SwiftShader). Disposing such an engine disposes its model, not the device.
// The load options an engine passes its backend reach GpuModel as the default backend passes them
// (runtime/default-generator.ts); `fixed` overrides them.
import { GpuModel, parseManifest, type GeneratorFactory, type GpuContext, type GpuModelOptions } from 'webmoe';

export const onSharedDevice = (device: () => Promise<GpuContext>, fixed: GpuModelOptions = {}): GeneratorFactory => async (ctx) => {
  const manifest = parseManifest(ctx.manifest, `${ctx.modelId}/manifest.json`);
  return GpuModel.load(await device(), manifest, (onPiece) => ctx.loadShards((_shard, data, index, offset) => onPiece(index, data, offset)), {
    ...(ctx.contextLength ? { contextLength: ctx.contextLength } : {}),
    ...(ctx.speculative ? { speculative: ctx.speculative } : {}),
    ...(ctx.decodeAhead ? { decodeAhead: ctx.decodeAhead } : {}),
    ...(ctx.gpuMemoryBudget ? { gpuMemoryBudget: ctx.gpuMemoryBudget } : {}),
    ...(ctx.readShardRange ? { readShardRange: ctx.readShardRange } : {}),
    ...fixed,
  });
};
