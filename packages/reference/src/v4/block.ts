// One V4 block (docs/architecture-v4.md#order-of-a-block): mHC around attention, then mHC around the MoE,
// on the hc residual streams of one token at a time.
import { rmsnorm } from '../math';
import { Rope, ropeInvFreq } from '../rope';
import { take, type WeightSource } from '../weights';
import { layerKind, type V4Args } from './args';
import { V4Attention } from './attention';
import { HyperConnection } from './mhc';
import { V4Moe } from './moe';

/** The two RoPE variants: plain base rope_theta on window-only layers, compress_rope_theta with YaRN elsewhere. */
export interface V4Ropes {
  window: Rope;
  compressed: Rope;
}

export function v4Ropes(args: V4Args): V4Ropes {
  return {
    window: new Rope(ropeInvFreq(args.ropeDim, args.ropeTheta, null)),
    compressed: new Rope(ropeInvFreq(args.ropeDim, args.compressRopeTheta, args.yarn)),
  };
}

export class V4Block {
  readonly attention: V4Attention;
  readonly moe: V4Moe;
  private readonly hcAttn: HyperConnection;
  private readonly hcFfn: HyperConnection;
  private readonly attnNorm: Float64Array;
  private readonly ffnNorm: Float64Array;

  /** `prefix`: 'layers.L.' or 'mtp.K.'; `layerId`: L, or nLayers + K for an MTP block. */
  constructor(private readonly args: V4Args, source: WeightSource, prefix: string, layerId: number, ropes: V4Ropes) {
    const ratio = args.compressRatios[layerId];
    const d = args.dim;
    this.hcAttn = new HyperConnection(args, source, prefix, 'attn');
    this.attnNorm = take(source, `${prefix}attn_norm.weight`, [d]);
    this.attention = new V4Attention(args, source, `${prefix}attn`, ratio, layerKind(ratio) === 'window' ? ropes.window : ropes.compressed);
    this.hcFfn = new HyperConnection(args, source, prefix, 'ffn');
    this.ffnNorm = take(source, `${prefix}ffn_norm.weight`, [d]);
    this.moe = new V4Moe(args, source, `${prefix}ffn`, layerId < args.nHashLayers);
  }

  reset(): void {
    this.attention.reset();
  }

  /** The streams (hc·d) of the token `token` at position `pos` after this block. */
  step(x: Float64Array, token: number, pos: number): Float64Array {
    const eps = this.args.normEps;
    const a = this.hcAttn.pre(x);
    const afterAttn = this.hcAttn.post(this.attention.step(rmsnorm(a.input, this.attnNorm, eps), pos), x, a);
    const f = this.hcFfn.pre(afterAttn);
    return this.hcFfn.post(this.moe.forward(rmsnorm(f.input, this.ffnNorm, eps), token), afterAttn, f);
  }
}
