// Rotary position embedding as DeepSeek uses it: ADJACENT pairs (x[2i], x[2i+1]) rotated by pos × invFreq[i],
// with YaRN's blend of original and stretched frequencies and YaRN's softmax scale (shared/deepseek.md).
import type { ReferenceArgs } from './args';

// ----------------------------------------------------------------------------
// YaRN

/** The dimension index whose wavelength makes `rotations` full turns over the original context. */
function correctionDim(rotations: number, dim: number, base: number, originalSeqLen: number): number {
  return (dim * Math.log(originalSeqLen / (2 * Math.PI * rotations))) / (2 * Math.log(base));
}

/** [low, high]: frequency indices below low keep their frequency, above high are divided by factor. */
export function yarnCorrectionRange(args: ReferenceArgs): [number, number] {
  const y = args.yarn;
  if (!y) throw new Error('yarnCorrectionRange: the model has no YaRN scaling');
  const dim = args.qkRopeHeadDim;
  const low = Math.max(Math.floor(correctionDim(y.betaFast, dim, args.ropeTheta, y.originalSeqLen)), 0);
  const high = Math.min(Math.ceil(correctionDim(y.betaSlow, dim, args.ropeTheta, y.originalSeqLen)), dim - 1);
  return [low, high];
}

/** invFreq[i] for i = 0 … rope/2 - 1: base^(-2i/dim), blended towards base^(-2i/dim) / factor by YaRN's ramp. */
export function ropeInvFreq(args: ReferenceArgs): Float64Array {
  const dim = args.qkRopeHeadDim;
  const half = dim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = Math.pow(args.ropeTheta, (-2 * i) / dim);
  const y = args.yarn;
  if (!y) return inv;
  const [low, high] = yarnCorrectionRange(args);
  const span = high === low ? 0.001 : high - low;
  for (let i = 0; i < half; i++) {
    const ramp = Math.min(Math.max((i - low) / span, 0), 1);
    inv[i] = inv[i] * (1 - ramp) + (inv[i] / y.factor) * ramp;
  }
  return inv;
}

/** YaRN's attention temperature: 0.1 × mscale × ln(factor) + 1, or 1 when the factor does not extend. */
export function yarnMscale(factor: number, mscale: number): number {
  return factor <= 1 ? 1 : 0.1 * mscale * Math.log(factor) + 1;
}

/** Attention logit scale: (nope + rope)^-0.5, times m² with m from mscale_all_dim under YaRN. */
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
  readonly invFreq: Float64Array;
  readonly amplitude: number;

  constructor(args: ReferenceArgs) {
    this.invFreq = ropeInvFreq(args);
    this.amplitude = ropeAmplitude(args);
  }

  /** Rotates x[offset … offset + rope) in place for position `pos`. */
  apply(x: Float64Array, offset: number, pos: number): void {
    for (let i = 0; i < this.invFreq.length; i++) {
      const angle = pos * this.invFreq[i];
      const cos = Math.cos(angle) * this.amplitude;
      const sin = Math.sin(angle) * this.amplitude;
      const a = x[offset + 2 * i];
      const b = x[offset + 2 * i + 1];
      x[offset + 2 * i] = a * cos - b * sin;
      x[offset + 2 * i + 1] = a * sin + b * cos;
    }
  }
}
