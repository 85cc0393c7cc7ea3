// The RoPE settings a config.json describes (rope_theta, the rotated dims, rope_scaling's YaRN block), shared
// by every family's config (docs/architecture-v3.md#rope, docs/architecture-v4.md).
export interface YarnConfig {
  factor: number;
  originalMaxPositions: number;
  betaFast: number;
  betaSlow: number;
  mscale: number;
  mscaleAllDim: number;
}

export interface RopeConfig {
  theta: number;
  /** qk_rope_head_dim: rotated in adjacent pairs (x[2i], x[2i+1]). */
  dim: number;
  yarn: YarnConfig | null;
}
