// Random weights for any V2/V3 shape, made on demand: the model asks for each tensor with its shape, and
// gets the same values every time it asks (each tensor has its own generator, seeded from the seed and the
// name). Lets tests run the reference on shapes no checkpoint on disk has. Scaled so that activations stay
// O(1) through the layers: weights ~ N(0, 1/in), embeddings ~ N(0, 1), norms near 1, a small bias.
import { WebmoeError, createRng } from 'webmoe/model';
import type { Tensor64, WeightSource } from './weights';

/** FNV-1a over the name's UTF-16 code units, mixed with the seed. */
function nameSeed(seed: number, name: string): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export class SyntheticWeights implements WeightSource {
  private readonly made = new Map<string, Tensor64>();

  constructor(readonly seed: number) {}

  has(): boolean {
    return true;
  }

  get(name: string, shape?: readonly number[]): Tensor64 {
    const known = this.made.get(name);
    if (known) return known;
    if (!shape) throw new WebmoeError('invalid-request', `synthetic weights: tensor ${name} was asked for without a shape`);
    const rng = createRng(nameSeed(this.seed, name));
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.at(-1)!;
    const draw: () => number = name.endsWith('norm.weight') ? () => 1 + 0.2 * rng.normal()
      : name.endsWith('correction_bias') ? () => 0.1 * rng.normal()
        : name.endsWith('embed_tokens.weight') ? () => rng.normal()
          : () => rng.normal() / Math.sqrt(fanIn);
    const t = { shape: [...shape], data: Float64Array.from({ length: n }, draw) };
    this.made.set(name, t);
    return t;
  }
}

export function syntheticWeights(seed: number): SyntheticWeights {
  return new SyntheticWeights(seed);
}
