// CPU side of the rotary embedding: DeepSeek's YaRN frequencies and softmax scale (docs/architecture-v3.md#yarn),
// and the table the rope kernels read, uploaded once per model.
import type { ModelConfig, RopeConfig, YarnConfig } from './config';

/**
 * The first and last pair index of YaRN's ramp between the original and the interpolated frequencies:
 * pairs below `low` keep base^(-2i/dim) (they turn many times within the original context), pairs above
 * `high` are divided by the factor. V3: [10, 23].
 */
export function yarnCorrectionRange(yarn: YarnConfig, dim: number, base: number): [number, number] {
  const corr = (rotations: number) => (dim * Math.log(yarn.originalMaxPositions / (2 * Math.PI * rotations))) / (2 * Math.log(base));
  // `+ 0` turns ceil's -0 (for a range that clamps to nothing) into 0.
  return [Math.max(Math.floor(corr(yarn.betaFast)), 0), Math.min(Math.ceil(corr(yarn.betaSlow)), dim - 1) + 0];
}

/** inv_freq[i] for pair i = 0 … dim/2-1, in float64. Without YaRN: base^(-2i/dim). */
export function ropeInvFreq(rope: RopeConfig): Float64Array {
  const half = rope.dim / 2;
  const out = new Float64Array(half);
  const [low, high] = rope.yarn ? yarnCorrectionRange(rope.yarn, rope.dim, rope.theta) : [0, 0];
  const span = high === low ? 0.001 : high - low;
  for (let i = 0; i < half; i++) {
    const freq = rope.theta ** ((-2 * i) / rope.dim);
    if (!rope.yarn) {
      out[i] = freq;
      continue;
    }
    const ramp = Math.min(Math.max((i - low) / span, 0), 1);
    out[i] = freq * (1 - ramp) + (freq / rope.yarn.factor) * ramp;
  }
  return out;
}

/** YaRN's magnitude correction m = 0.1 × mscale × ln(factor) + 1 (1 when the factor does not stretch). */
export function yarnMscale(factor: number, mscale: number): number {
  return factor <= 1 ? 1 : 0.1 * mscale * Math.log(factor) + 1;
}

/**
 * The attention softmax scale: (nope+rope)^-0.5, times m² with m from mscale_all_dim under YaRN
 * (V3: 0.1352338, V2-Lite: 0.1147214). mscale_all_dim 0 (absent) leaves the plain scale, as HF does.
 *
 * The cos/sin amplitude mscale/mscale_all_dim that Hugging Face also applies is not used: DeepSeek's own
 * code never applies it, and it is 1 in every released config.
 */
export function softmaxScale(cfg: Pick<ModelConfig, 'qkNopeHeadDim' | 'qkRopeHeadDim' | 'rope'>): number {
  const plain = (cfg.qkNopeHeadDim + cfg.qkRopeHeadDim) ** -0.5;
  const yarn = cfg.rope.yarn;
  if (!yarn || !yarn.mscaleAllDim) return plain;
  const m = yarnMscale(yarn.factor, yarn.mscaleAllDim);
  return plain * m * m;
}

/**
 * The table the rope kernels read (shaders/rope.wgsl): for pair i, the rotation per position in turns,
 * inv_freq[i] / 2π, as an unevaluated sum of two f32 (hi at 2i, lo at 2i+1).
 *
 * Why two floats and turns: angles reach pos × inv_freq ≈ 1.6e5 rad at V3's context, where one f32
 * product is off by ~1e-2 rad and sin/cos lose their accuracy guarantee. The kernel splits pos and hi so
 * that every partial product is exact, keeps only fractions of a turn, and adds pos × lo; the angle it
 * ends up with is within ~1e-6 rad of the float64 one at any position below 2^24.
 */
export function ropeTable(rope: RopeConfig): Float32Array {
  const inv = ropeInvFreq(rope);
  const table = new Float32Array(inv.length * 2);
  for (let i = 0; i < inv.length; i++) {
    const turns = inv[i] / (2 * Math.PI);
    const hi = Math.fround(turns);
    table[2 * i] = hi;
    table[2 * i + 1] = turns - hi;
  }
  return table;
}

/** Highest position the table's exact-angle split supports (pos = hi·4096 + lo with 12-bit halves). */
export const ROPE_MAX_POSITION = 1 << 24;
