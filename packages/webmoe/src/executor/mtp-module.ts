// What every family's MTP module on the GPU shares (family.ts FamilyMtp): its logits rows, the carried
// hidden state of the last position fed and that row's position, and how the FamilyMtp calls map onto one
// step of the module. A family supplies the step (its module's input, block and head) and its resources.
// A step leaves the module's output (its block's, before the head) in the `hidden` activation's rows, the
// layout of the main model's last hidden state that it reads: a chained draft row feeds it back.
import { BufferGroup } from '../gpu/buffers';
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import { gatherRows } from '../kernels/gather-rows';
import { tensorLayout } from '../model/formats';
import type { FamilyMtp } from './family';

/** Bytes of the MTP logits rows read back at once (a 129k vocabulary: 64 rows). */
const LOGITS_BYTES = 32 * 2 ** 20;

/** The module's head on rows `from` … T-1 of a step, into logits rows `at` …. */
export interface MtpHead {
  from: number;
  at: number;
}

export abstract class MtpModule<R extends { act: { positions: GPUBuffer; ids: GPUBuffer } }> implements FamilyMtp {
  readonly logits: GPUBuffer;
  readonly logitRows: number;
  readonly carryPositions: GPUBuffer;
  /** The main model's hidden state of the last position fed, whose next token is not known yet. */
  private readonly carry: GPUBuffer;
  /** A chained row's input: the module output row the draft kernel named (recordChain). */
  private readonly chainRow: GPUBuffer;
  protected readonly scratch: BufferGroup;

  /** `hidden`: the main activation that holds each row's last hidden state after a forward call, `rowBytes` a row. */
  constructor(device: GPUDevice, vocabSize: number, maxTokens: number, private readonly hidden: GPUBuffer, private readonly rowBytes: number) {
    this.scratch = new BufferGroup(device, 'mtp_');
    this.logitRows = Math.max(1, Math.min(maxTokens, Math.floor(LOGITS_BYTES / (4 * vocabSize))));
    this.logits = this.scratch.f32('logits', this.logitRows * vocabSize);
    this.carry = this.scratch.storage('carry', rowBytes);
    this.carryPositions = this.scratch.storage('carry_positions', 16);
    this.chainRow = this.scratch.storage('chain_row', rowBytes);
  }

  abstract get kvCacheBytes(): number;

  get scratchBytes(): number {
    return this.scratch.bytes;
  }

  /** The resources the step records with. */
  protected abstract resources(ctx: KernelContext): R;

  /**
   * `T` rows from the hidden states in `hidden` (rows 0 …) and the next tokens ids[idsOffset …], at
   * act.positions[0] …: the module's input, its block, and with `head` its head into the logits rows.
   */
  protected abstract step(r: R, hidden: GPUBuffer, idsOffset: number, T: number, head: MtpHead | null): Dispatch[];

  recordCarried(ctx: KernelContext, logits: boolean): Dispatch[] {
    const r = this.resources(ctx);
    const at: R = { ...r, act: { ...r.act, positions: this.carryPositions } };
    return this.step(at, this.carry, 0, 1, logits ? { from: 0, at: 0 } : null);
  }

  recordRows(ctx: KernelContext, rows: number, logitsRow: number | null): Dispatch[] {
    return this.step(this.resources(ctx), this.hidden, 1, rows, logitsRow === null ? null : { from: 0, at: logitsRow });
  }

  recordDraft(ctx: KernelContext, rows: number, logitsRows: number): Dispatch[] {
    return this.step(this.resources(ctx), this.hidden, 1, rows, { from: rows - logitsRows, at: 0 });
  }

  recordChain(ctx: KernelContext, chain: GPUBuffer, logitsRow: number): Dispatch[] {
    const r = this.resources(ctx);
    // The hidden activation read as an f32 table of its rows (one past the last may hold a partial row).
    const rows = Math.floor(this.hidden.size / this.rowBytes) - 1;
    const table = { buffer: this.hidden, layout: tensorLayout('f32', [rows, this.rowBytes / 4]) };
    const at: R = { ...r, act: { ...r.act, positions: chain, ids: chain } };
    return [
      gatherRows(ctx, { weight: table, ids: chain, idsOffset: 1, y: this.chainRow, tokens: 1 }, 'mtp.chain_row'),
      ...this.step(at, this.chainRow, 2, 1, { from: 0, at: logitsRow }),
    ];
  }

  encodeCarry(encoder: GPUCommandEncoder, tokens: number): void {
    encoder.copyBufferToBuffer(this.hidden, (tokens - 1) * this.rowBytes, this.carry, 0, this.rowBytes);
  }

  destroy(): void {
    this.scratch.destroy();
  }
}
