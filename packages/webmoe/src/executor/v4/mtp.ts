// V4's multi-token-prediction module `mtp.0` on the GPU (docs/architecture-v4.md#mtp): from the main
// model's streams X_i after its last block and the token t_{i+1} that follows, each stream becomes
// e_proj(enorm(embed[t_{i+1}])) + h_proj(hnorm(X_i[j])); then the module's block with its own caches (at the
// main model's positions), its own hc_head and norm, and the shared LM head: logits for t_{i+2}.
//
// It runs inside the main model's submissions, on the main activations (family.ts FamilyMtp says in which
// order): the carried row before the main forward, which is free to overwrite every stream then; the
// call's other rows after it, from the main streams' rows 0 … T-2, which it overwrites in place while row
// T-1, the next call's carry, stays as it was.
//
// Speculative decoding runs the module ahead instead (recordDraft, docs/speculative.md): inside the step's
// submission, after the main forward and the verification, its rows for every position of the call, the
// last one's next token being the token just sampled (written into ids on the GPU); the last row's logits
// give the draft, and the next call has no carried row (GpuModel's mtpLength = length). A row past a
// rejected draft holds a wrong token: the next step's rows start at that position and overwrite it, a
// rewind of one position, which V4's rings allow (v4MaxRewind).
import { BufferGroup } from '../../gpu/buffers';
import type { KernelContext } from '../../gpu/kernel-context';
import type { Dispatch } from '../../gpu/pipelines';
import { matmul } from '../../kernels/matmul';
import { gatherParts } from '../../kernels/weight-parts';
import { rmsnorm } from '../../kernels/rmsnorm';
import type { V4Config } from '../../model/config-v4';
import { MtpModule, type MtpHead } from '../mtp-module';
import { weightParts } from '../split-buffers';
import { createV4Caches, type V4LayerCache } from './caches';
import { recordBlock, recordHead, ref, type V4ForwardResources } from './forward';

const PREFIX = 'mtp.0';

export class V4Mtp extends MtpModule<V4ForwardResources> {
  readonly caches: V4LayerCache[];
  private readonly kv: BufferGroup;

  /** `streams`: the main model's act.streams[0], which holds its streams [hc, d] per row after a forward call. */
  constructor(device: GPUDevice, c: V4Config, contextLength: number, maxTokens: number, streams: GPUBuffer,
    private readonly mainResources: (ctx: KernelContext) => V4ForwardResources) {
    super(device, c.vocabSize, maxTokens, streams, c.hc.mult * c.hiddenSize * 4);
    this.kv = new BufferGroup(device, 'mtp_kv:');
    this.caches = createV4Caches(this.kv, c, c.mtpLayers.slice(0, 1), contextLength, maxTokens);
  }

  get kvCacheBytes(): number {
    return this.kv.bytes;
  }

  protected resources(ctx: KernelContext): V4ForwardResources {
    return this.mainResources(ctx);
  }

  /** The module's input into act.streams[0], its block, and with `head` its hc_head, norm and the shared head. */
  protected step(r: V4ForwardResources, hidden: GPUBuffer, idsOffset: number, T: number, head: MtpHead | null): Dispatch[] {
    const { ctx, config: c, act: a, weights: w } = r;
    const hc = c.hc.mult, d = c.hiddenSize, eps = c.rmsNormEps;
    const [x, normed] = a.streams;
    const lab = (s: string) => `mtp.${s}`;
    const out: Dispatch[] = [
      rmsnorm(ctx, { x: hidden, weight: w.tensor(`${PREFIX}.hnorm.weight`).buffer, y: normed, rows: T * hc, cols: d, eps }, lab('hnorm')),
      matmul(ctx, { weight: ref(w, `${PREFIX}.h_proj.weight`), x: normed, y: x, tokens: T * hc }, lab('h_proj')),
      ...gatherParts(ctx, weightParts(w.tensor('embed.weight')), { ids: a.ids, idsOffset, y: a.u, tokens: T }, lab('embed')),
      rmsnorm(ctx, { x: a.u, weight: w.tensor(`${PREFIX}.enorm.weight`).buffer, y: a.xn, rows: T, cols: d, eps }, lab('enorm')),
      // The token's projection is added to every stream: batch entry j is stream j, all reading the same row.
      matmul(ctx, {
        weight: ref(w, `${PREFIX}.e_proj.weight`), x: a.xn, y: x, tokens: T, batch: hc,
        xTokenStride: d, xBatchStride: 0, yTokenStride: hc * d, yBatchStride: d, output: 'accumulate',
      }, lab('e_proj')),
      ...recordBlock(r, c.mtpLayers[0], this.caches[0], PREFIX, c.numLayers, 0, T),
    ];
    if (head) out.push(...recordHead(r, `${PREFIX}.`, x, T, head.from, this.logits, head.at, lab));
    return out;
  }

  override destroy(): void {
    this.kv.destroy();
    super.destroy();
  }
}
