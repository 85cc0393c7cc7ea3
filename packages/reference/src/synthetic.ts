// Random weights for any ModelConfig, held in memory: lets tests run the reference on shapes no checkpoint
// on disk has. Scaled so that activations stay O(1) through the layers (weights ~ N(0, 1/in), norms near 1).
import { createRng, expectedTensors, type ModelConfig } from './engine';
import { MapWeightSource, type Tensor64 } from './weights';

export function syntheticWeights(config: ModelConfig, seed: number): MapWeightSource {
  const rng = createRng(seed);
  const tensors = new Map<string, Tensor64>();
  for (const spec of expectedTensors(config, true)) {
    const n = spec.shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    const fanIn = spec.shape.at(-1)!;
    for (let i = 0; i < n; i++) {
      switch (spec.kind) {
        case 'norm': data[i] = 1 + 0.2 * rng.normal(); break;
        case 'bias': data[i] = 0.1 * rng.normal(); break;
        case 'embedding': data[i] = rng.normal(); break;
        default: data[i] = rng.normal() / Math.sqrt(fanIn);
      }
    }
    tensors.set(spec.name, { shape: spec.shape, data });
  }
  return new MapWeightSource(tensors);
}
