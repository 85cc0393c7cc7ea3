// Where the reference model gets its weights: anything that can hand out a named tensor in float64.
// Checkpoint folders (Hugging Face or converted webmoe) are adapted in load.ts; tests build sources in memory.
import { WebmoeError } from './engine';

export interface Tensor64 {
  /** HF layout: weights are [out, in], row-major. */
  shape: number[];
  data: Float64Array;
}

export interface WeightSource {
  /** The tensor's exact values in float64 (dequantized if stored quantized). Throws if absent. */
  get(name: string): Tensor64;
}

/** A source over tensors already in memory (synthetic models in tests). */
export class MapWeightSource implements WeightSource {
  constructor(private readonly tensors: Map<string, Tensor64>) {}

  get(name: string): Tensor64 {
    const t = this.tensors.get(name);
    if (!t) throw new WebmoeError('model-format', `tensor ${name} is missing`, { detail: { tensor: name } });
    return t;
  }
}

/** Fetches a tensor and checks its shape, so that a wrong checkpoint fails naming the tensor, not as NaNs later. */
export function take(source: WeightSource, name: string, shape: number[]): Float64Array {
  const t = source.get(name);
  const want = shape.reduce((a, b) => a * b, 1);
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]) || t.data.length !== want) {
    throw new WebmoeError('model-format',
      `tensor ${name} has shape [${t.shape.join(', ')}] (${t.data.length} values), expected [${shape.join(', ')}]`,
      { detail: { tensor: name, shape: t.shape, expected: shape } });
  }
  return t.data;
}
