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
// Speculative decoding can run the module ahead instead, inside the decode submission: after the main
// forward and the sampler, end the pass, copy the decoded position's streams into the carry, and run a
// one-row step from the carry at that position with the sampled id (io.sampled) as its next token; its
// logits give the draft, and the next call then has no carried row (GpuModel's mtpLength = length). The
// module's cache must see every position in order, each with the token accepted there: when a draft is
// rejected, that row is run again from the carry with the accepted token, as a carried row is here.
import { BufferGroup } from '../../gpu/buffers';
import type { KernelContext } from '../../gpu/kernel-context';
import type { Dispatch } from '../../gpu/pipelines';
import { gatherRows, matmul } from '../../kernels/matmul';
import { rmsnorm } from '../../kernels/rmsnorm';
import type { V4Config } from '../../model/config-v4';
import type { FamilyMtp } from '../family';
import { createV4Caches, type V4LayerCache } from './caches';
import { recordBlock, recordHead, ref, type V4ForwardResources } from './forward';

/** Bytes of the MTP logits rows read back at once (a 129k vocabulary: 64 rows). */
const LOGITS_BYTES = 32 * 2 ** 20;
const PREFIX = 'mtp.0';

export class V4Mtp implements FamilyMtp {
  readonly logits: GPUBuffer;
  readonly logitRows: number;
  readonly carryPositions: GPUBuffer;
  /** f32 [hc, d]: the main streams of the last position fed, whose next token is not known yet. */
  private readonly carry: GPUBuffer;
  private readonly rowBytes: number;
  readonly caches: V4LayerCache[];
  private readonly kv: BufferGroup;
  private readonly scratch: BufferGroup;

  /** `streams`: the main model's act.streams[0], which holds its streams after a forward call. */
  constructor(device: GPUDevice, c: V4Config, contextLength: number, maxTokens: number, private readonly streams: GPUBuffer,
    private readonly resources: (ctx: KernelContext) => V4ForwardResources) {
    this.kv = new BufferGroup(device, 'mtp_kv:');
    this.caches = createV4Caches(this.kv, c, c.mtpLayers.slice(0, 1), contextLength, maxTokens);
    this.scratch = new BufferGroup(device, 'mtp_');
    this.logitRows = Math.max(1, Math.min(maxTokens, Math.floor(LOGITS_BYTES / (4 * c.vocabSize))));
    this.logits = this.scratch.f32('logits', this.logitRows * c.vocabSize);
    this.rowBytes = c.hc.mult * c.hiddenSize * 4;
    this.carry = this.scratch.storage('carry', this.rowBytes);
    this.carryPositions = this.scratch.storage('carry_positions', 16);
  }

  get kvCacheBytes(): number {
    return this.kv.bytes;
  }

  get scratchBytes(): number {
    return this.scratch.bytes;
  }

  recordCarried(ctx: KernelContext, logits: boolean): Dispatch[] {
    const r = this.resources(ctx);
    const at = { ...r, act: { ...r.act, positions: this.carryPositions } };
    return this.step(at, this.carry, 0, 1, logits ? 0 : null);
  }

  recordRows(ctx: KernelContext, rows: number, logitsRow: number | null): Dispatch[] {
    const r = this.resources(ctx);
    return this.step(r, r.act.streams[0], 1, rows, logitsRow);
  }

  encodeCarry(encoder: GPUCommandEncoder, tokens: number): void {
    encoder.copyBufferToBuffer(this.streams, (tokens - 1) * this.rowBytes, this.carry, 0, this.rowBytes);
  }

  /**
   * `T` rows from the streams in `hidden` (rows 0 …) and the next tokens ids[idsOffset …], at positions[0] …:
   * the module's input into act.streams[0], its block, and with `logitsRow` its head into logits rows from there.
   */
  private step(r: V4ForwardResources, hidden: GPUBuffer, idsOffset: number, T: number, logitsRow: number | null): Dispatch[] {
    const { ctx, config: c, act: a, weights: w } = r;
    const hc = c.hc.mult, d = c.hiddenSize, eps = c.rmsNormEps;
    const [x, normed] = a.streams;
    const lab = (s: string) => `mtp.${s}`;
    const out: Dispatch[] = [
      rmsnorm(ctx, { x: hidden, weight: w.tensor(`${PREFIX}.hnorm.weight`).buffer, y: normed, rows: T * hc, cols: d, eps }, lab('hnorm')),
      matmul(ctx, { weight: ref(w, `${PREFIX}.h_proj.weight`), x: normed, y: x, tokens: T * hc }, lab('h_proj')),
      gatherRows(ctx, { weight: ref(w, 'embed.weight'), ids: a.ids, idsOffset, y: a.u, tokens: T }, lab('embed')),
      rmsnorm(ctx, { x: a.u, weight: w.tensor(`${PREFIX}.enorm.weight`).buffer, y: a.xn, rows: T, cols: d, eps }, lab('enorm')),
      // The token's projection is added to every stream: batch entry j is stream j, all reading the same row.
      matmul(ctx, {
        weight: ref(w, `${PREFIX}.e_proj.weight`), x: a.xn, y: x, tokens: T, batch: hc,
        xTokenStride: d, xBatchStride: 0, yTokenStride: hc * d, yBatchStride: d, output: 'accumulate',
      }, lab('e_proj')),
      ...recordBlock(r, c.mtpLayers[0], this.caches[0], PREFIX, c.numLayers, 0, T),
    ];
    if (logitsRow !== null) out.push(...recordHead(r, `${PREFIX}.`, x, T, 0, this.logits, logitsRow, lab));
    return out;
  }

  destroy(): void {
    this.kv.destroy();
    this.scratch.destroy();
  }
}
