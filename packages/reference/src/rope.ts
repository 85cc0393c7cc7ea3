// Rotary position embedding as DeepSeek uses it: ADJACENT pairs (x[2i], x[2i+1]) rotated by pos × invFreq[i],
// with YaRN's blend of original and stretched frequencies (docs/architecture-v3.md#rope). V3 also takes YaRN's
// softmax scale and cos/sin amplitude; V4 uses the same frequencies without either (docs/architecture-v4.md#rope).
import type { ReferenceArgs } from './args';

/** The YaRN parameters the frequencies depend on. */
export interface YarnFrequencyArgs {
  factor: number;
  originalSeqLen: number;
  betaFast: number;
  betaSlow: number;
}

// ----------------------------------------------------------------------------
// YaRN

/** The dimension index whose wavelength makes `rotations` full turns over the original context. */
function correctionDim(rotations: number, dim: number, base: number, originalSeqLen: number): number {
  return (dim * Math.log(originalSeqLen / (2 * Math.PI * rotations))) / (2 * Math.log(base));
}

/** [low, high]: frequency indices below low keep their frequency, above high are divided by factor. */
export function yarnCorrectionRange(dim: number, base: number, yarn: YarnFrequencyArgs): [number, number] {
  const low = Math.max(Math.floor(correctionDim(yarn.betaFast, dim, base, yarn.originalSeqLen)), 0);
  const high = Math.min(Math.ceil(correctionDim(yarn.betaSlow, dim, base, yarn.originalSeqLen)), dim - 1);
  return [low, high];
}

/** invFreq[i] for i < dim/2: base^(-2i/dim), blended towards base^(-2i/dim) / factor by YaRN's ramp. */
export function ropeInvFreq(dim: number, base: number, yarn: YarnFrequencyArgs | null): Float64Array {
  const half = dim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(base, (-2 * i) / dim);
  if (!yarn) return inv;
  const [low, high] = yarnCorrectionRange(dim, base, yarn);
  const span = high === low ? 0.001 : high - low;
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(Math.max((i - low) / span, 0), 1);
    inv[i] = inv[i] * (1 - ramp) + (inv[i] / yarn.factor) * ramp;
  }
  return inv;
}

/** YaRN's attention temperature: 0.1 × mscale × ln(factor) + 1, or 1 when the factor does not extend. */
export function yarnMscale(factor: number, mscale: number): number {
  return factor <= 1 ? 1 : 0.1 * mscale * Math.log(factor) + 1;
}

/** V3 attention logit scale: (nope + rope)^-0.5, times m² with m from mscale_all_dim under YaRN. */
export function softmaxScale(args: ReferenceArgs): number {
  const base = 1 / Math.sqrt(args.qkNopeHeadDim + args.qkRopeHeadDim);
  if (!args.yarn) return base;
  const m = yarnMscale(args.yarn.factor, args.yarn.mscaleAllDim);
  return base * m * m;
}

/** Hugging Face's cos/sin amplitude mscale(mscale)/mscale(mscale_all_dim); 1 in every released config. */
export function ropeAmplitude(args: ReferenceArgs): number {
  const y = args.yarn;
  return y ? yarnMscale(y.factor, y.mscale) / yarnMscale(y.factor, y.mscaleAllDim) : 1;
}

// ----------------------------------------------------------------------------
// rotation

export class Rope {
  constructor(readonly invFreq: Float64Array, readonly amplitude = 1) {}

  /** The V2/V3 rotation: frequencies and amplitude from the config's rope fields. */
  static forArgs(args: ReferenceArgs): Rope {
    return new Rope(ropeInvFreq(args.qkRopeHeadDim, args.ropeTheta, args.yarn), ropeAmplitude(args));
  }

  /** Rotates x[offset … offset + 2·invFreq.length) in place for position `pos`. */
  apply(x: Float64Array, offset: number, pos: number): void {
    this.rotate(x, offset, pos, 1);
  }

  /** The inverse rotation (angle −pos·θ), which undoes `apply` at the same position. */
  applyInverse(x: Float64Array, offset: number, pos: number): void {
    this.rotate(x, offset, pos, -1);
  }

  private rotate(x: Float64Array, offset: number, pos: number, direction: 1 | -1): void {
    for (let i = 0; i < this.invFreq.length; i++) {
      const angle = pos * this.invFreq[i];
      const cos = Math.cos(angle) * this.amplitude;
      const sin = direction * Math.sin(angle) * this.amplitude;
      const a = x[offset + 2 * i];
      const b = x[offset + 2 * i + 1];
      x[offset + 2 * i] = a * cos - b * sin;
      x[offset + 2 * i + 1] = a * sin + b * cos;
    }
  }
}
