// Where the reference model gets its weights: anything that can hand out a named tensor in float64.
// Model folders are read by checkpoint.ts (safetensors) and webmoe-folder.ts (converted); tests build
// sources in memory (MapWeightSource) or at random (synthetic.ts).
import { WebmoeError } from 'webmoe/model';

export interface Tensor64 {
  /** HF layout: weights are [out, in], row-major; FP4-packed weights are given unpacked. */
  shape: number[];
  data: Float64Array;
}

export interface WeightSource {
  /**
   * The tensor's exact values in float64 (dequantized if stored quantized). Throws if absent. `shape` is the
   * shape the model expects; sources that make tensors up (synthetic weights) need it, the others ignore it.
   */
  get(name: string, shape?: readonly number[]): Tensor64;
  /** Whether the tensor exists (without reading it). */
  has(name: string): boolean;
}

export function missingTensor(name: string, where = ''): WebmoeError {
  return new WebmoeError('model-format', `tensor ${name} is missing${where}`, { detail: { tensor: name } });
}

/** A source over tensors already in memory. */
export class MapWeightSource implements WeightSource {
  constructor(private readonly tensors: Map<string, Tensor64>) {}

  get(name: string): Tensor64 {
    const t = this.tensors.get(name);
    if (!t) throw missingTensor(name);
    return t;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }
}

/** Fetches a tensor and checks its shape, so that a wrong checkpoint fails naming the tensor, not as NaNs later. */
export function take(source: WeightSource, name: string, shape: readonly number[]): Float64Array {
  const t = source.get(name, shape);
  const want = shape.reduce((a, b) => a * b, 1);
  if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i]) || t.data.length !== want) {
    throw new WebmoeError('model-format',
      `tensor ${name} has shape [${t.shape.join(', ')}] (${t.data.length} values), expected [${shape.join(', ')}]`,
      { detail: { tensor: name, shape: t.shape, expected: shape } });
  }
  return t.data;
}
