// DeepSeek-V3's multi-token-prediction module on the GPU (docs/architecture-v3.md#mtp), stored as decoder
// layer N = num_hidden_layers: from the main model's last hidden state h_i (before the final norm) and the
// token t_{i+1} that follows, h' = eh_proj([enorm(embed(t_{i+1})); hnorm(h_i)]), then layer N's decoder
// block with its own latent cache (at the main model's positions), shared_head.norm and shared_head.head:
// logits for t_{i+2}. embed_tokens and shared_head.head are layer N's own copies, as the checkpoint stores them.
//
// It runs inside the main model's submissions, on the main activations (family.ts FamilyMtp says in which
// order): the carried row before the main forward, which is free to overwrite every activation then; the
// call's other rows after it, from act.h's rows 0 … T-2, which it overwrites in place while row T-1, the
// next call's carry, stays as it was. Speculative decoding runs it ahead instead (recordDraft, family.ts):
// rows for every position of the call, the last one's next token being the token just sampled; a row past
// a rejected draft is run again by the next call, as the latent cache allows any rewind.
import type { KernelContext } from '../../gpu/kernel-context';
import type { Dispatch } from '../../gpu/pipelines';
import { addRmsnorm, rmsnorm } from '../../kernels/rmsnorm';
import { matmul } from '../../kernels/matmul';
import { gatherParts, productParts } from '../../kernels/weight-parts';
import { matmulNormed } from '../../kernels/matmul-normed';
import type { ModelConfig } from '../../model/config';
import { MtpModule, type MtpHead } from '../mtp-module';
import { weightParts } from '../split-buffers';
import { recordForward, residualInH, weightRef, type ForwardResources } from './forward';

export class V3Mtp extends MtpModule<ForwardResources> {
  /** f32 [maxTokens, 2d]: eh_proj's input, [enorm(embed); hnorm(h)] per row. */
  private readonly joined: GPUBuffer;
  private readonly layer: number;

  /** `hidden`: the main model's act.h, which holds its last hidden states after a forward call; `cache`: layer N's latent cache. */
  constructor(device: GPUDevice, c: ModelConfig, maxTokens: number, hidden: GPUBuffer, readonly cache: GPUBuffer,
    private readonly mainResources: (ctx: KernelContext) => ForwardResources) {
    super(device, c.vocabSize, maxTokens, hidden, c.hiddenSize * 4);
    this.layer = c.numLayers;
    this.joined = this.scratch.f32('joined', maxTokens * 2 * c.hiddenSize);
  }

  get kvCacheBytes(): number {
    return this.cache.size;
  }

  /** The main resources with the module's block as layer N: its feed-forward kind and its cache appended. */
  protected resources(ctx: KernelContext): ForwardResources {
    const r = this.mainResources(ctx), c = r.config;
    // Layer N is a routed-expert layer whenever the model has experts (the checkpoint's layout, model/tensors.ts).
    const layers = [...c.layers, { attention: 'mla' as const, ffn: c.moe ? 'moe' as const : 'dense' as const }];
    return { ...r, config: { ...c, layers }, cache: [...r.cache, this.cache] };
  }

  /** eh_proj's output into act.h, layer N's block, and with `head` shared_head.norm and the head. */
  protected step(r: ForwardResources, hidden: GPUBuffer, idsOffset: number, T: number, head: MtpHead | null): Dispatch[] {
    const { ctx, config: c, act: a, weights: w } = r;
    const d = c.hiddenSize, eps = c.rmsNormEps, p = `model.layers.${this.layer}`;
    const lab = (s: string) => `mtp.${s}`;
    const out: Dispatch[] = [
      ...gatherParts(ctx, weightParts(w.tensor(`${p}.embed_tokens.weight`)), { ids: a.ids, idsOffset, y: a.xn, tokens: T }, lab('embed')),
      rmsnorm(ctx, { x: a.xn, weight: w.tensor(`${p}.enorm.weight`).buffer, y: this.joined, yStride: 2 * d, rows: T, cols: d, eps }, lab('enorm')),
      rmsnorm(ctx, { x: hidden, weight: w.tensor(`${p}.hnorm.weight`).buffer, y: this.joined, yOffset: d, yStride: 2 * d, rows: T, cols: d, eps }, lab('hnorm')),
      matmul(ctx, { weight: weightRef(w, `${p}.eh_proj.weight`), x: this.joined, y: a.h, tokens: T }, lab('eh_proj')),
      ...recordForward(r, T, { layers: { from: this.layer, to: this.layer + 1 } }),
    ];
    if (!head) return out;
    const norm = w.tensor(`${p}.shared_head.norm.weight`).buffer;
    const headParts = weightParts(w.tensor(`${p}.shared_head.head.weight`));
    // In decode the block left its output in h (forward.ts residualInH): the norm is the head's prologue.
    if (residualInH(ctx, c, T)) {
      out.push(...productParts(headParts, { norm, eps, x: a.h, xOffset: head.from * d, y: this.logits, yOffset: head.at * c.vocabSize },
        (args) => matmulNormed(ctx, args, lab('head')), lab('head')));
      return out;
    }
    out.push(
      addRmsnorm(ctx, { delta: a.delta, weight: norm, h: a.h, y: a.xn, rows: T, cols: d, eps }, lab('norm')),
      ...productParts(headParts, { x: a.xn, xOffset: head.from * d, y: this.logits, yOffset: head.at * c.vocabSize, tokens: T - head.from },
        (args) => matmul(ctx, args, lab('head')), lab('head')),
    );
    return out;
  }

  override destroy(): void {
    this.cache.destroy();
    super.destroy();
  }
}
