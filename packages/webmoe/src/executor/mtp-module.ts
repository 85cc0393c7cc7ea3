// What every family's MTP module on the GPU shares (family.ts FamilyMtp): its logits rows, the carried
// hidden state of the last position fed and that row's position, and how the FamilyMtp calls map onto one
// step of the module. A family supplies the step (its module's input, block and head) and its resources.
import { BufferGroup } from '../gpu/buffers';
import type { KernelContext } from '../gpu/kernel-context';
import type { Dispatch } from '../gpu/pipelines';
import type { FamilyMtp } from './family';

/** Bytes of the MTP logits rows read back at once (a 129k vocabulary: 64 rows). */
const LOGITS_BYTES = 32 * 2 ** 20;

/** The module's head on rows `from` … T-1 of a step, into logits rows `at` …. */
export interface MtpHead {
  from: number;
  at: number;
}

export abstract class MtpModule<R extends { act: { positions: GPUBuffer } }> implements FamilyMtp {
  readonly logits: GPUBuffer;
  readonly logitRows: number;
  readonly carryPositions: GPUBuffer;
  /** The main model's hidden state of the last position fed, whose next token is not known yet. */
  private readonly carry: GPUBuffer;
  protected readonly scratch: BufferGroup;

  /** `hidden`: the main activation that holds each row's last hidden state after a forward call, `rowBytes` a row. */
  constructor(device: GPUDevice, vocabSize: number, maxTokens: number, private readonly hidden: GPUBuffer, private readonly rowBytes: number) {
    this.scratch = new BufferGroup(device, 'mtp_');
    this.logitRows = Math.max(1, Math.min(maxTokens, Math.floor(LOGITS_BYTES / (4 * vocabSize))));
    this.logits = this.scratch.f32('logits', this.logitRows * vocabSize);
    this.carry = this.scratch.storage('carry', rowBytes);
    this.carryPositions = this.scratch.storage('carry_positions', 16);
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

  encodeCarry(encoder: GPUCommandEncoder, tokens: number): void {
    encoder.copyBufferToBuffer(this.hidden, (tokens - 1) * this.rowBytes, this.carry, 0, this.rowBytes);
  }

  destroy(): void {
    this.scratch.destroy();
  }
}
