// Which expert each GPU slot of one MoE layer holds (docs/paging.md): a call's chosen experts get slots,
// those already resident are hits, the others go into free slots or, when none is free, the least
// recently used slot that this call does not need. Pure bookkeeping; expert-pager.ts moves the bytes.
import { WebmoeError } from '../errors';

export interface SlotAssignment {
  /** The slot of each chosen id, in the ids' order: what the expert kernels read instead of the ids. */
  slots: Uint32Array;
  /** Experts to copy into their new slots before the call's expert kernels run. */
  loads: { expert: number; slot: number }[];
  /** Distinct experts the call chose, and how many of them were resident already. */
  lookups: number;
  hits: number;
}

export class ExpertSlotTable {
  private readonly slotOf: Int32Array;
  private readonly expertIn: Int32Array;
  /** Recency: the tick of each slot's last use (0: never), and the call that last took it. */
  private readonly lastUse: Float64Array;
  private readonly takenBy: Float64Array;
  private tick = 0;
  private calls = 0;

  constructor(readonly experts: number, readonly slots: number) {
    if (!(Number.isInteger(slots) && slots >= 1)) throw new WebmoeError('internal', `expert slots: ${slots} is not a positive integer`);
    this.slotOf = new Int32Array(experts).fill(-1);
    this.expertIn = new Int32Array(slots).fill(-1);
    this.lastUse = new Float64Array(slots);
    this.takenBy = new Float64Array(slots);
  }

  /** The slot holding `expert`, or -1. */
  slotOfExpert(expert: number): number {
    return this.slotOf[expert];
  }

  assign(ids: ArrayLike<number>): SlotAssignment {
    const call = ++this.calls;
    const distinct = [...new Set(Array.from(ids))];
    for (const e of distinct) {
      if (!(Number.isInteger(e) && e >= 0 && e < this.experts)) throw new WebmoeError('internal', `expert paging: the router chose expert ${e} of ${this.experts}`);
    }
    if (distinct.length > this.slots) {
      throw new WebmoeError('internal', `expert paging: a call chose ${distinct.length} distinct experts of a layer; its pool has ${this.slots} slots`);
    }
    // The resident ones are taken first, so that no miss evicts an expert this call needs.
    for (const e of distinct) if (this.slotOf[e] >= 0) this.takenBy[this.slotOf[e]] = call;
    let hits = 0;
    const loads: { expert: number; slot: number }[] = [];
    // Recency follows the call's order of first choice, hits and misses alike.
    for (const e of distinct) {
      let s = this.slotOf[e];
      if (s >= 0) {
        hits++;
      } else {
        s = this.victim(call);
        const old = this.expertIn[s];
        if (old >= 0) this.slotOf[old] = -1;
        this.expertIn[s] = e;
        this.slotOf[e] = s;
        this.takenBy[s] = call;
        loads.push({ expert: e, slot: s });
      }
      this.lastUse[s] = ++this.tick;
    }
    const slots = Uint32Array.from(ids, (e) => this.slotOf[e]);
    return { slots, loads, lookups: distinct.length, hits };
  }

  /** The least recently used slot this call has not taken (never-used slots first: their lastUse is 0). */
  private victim(call: number): number {
    let best = -1;
    for (let s = 0; s < this.slots; s++) {
      if (this.takenBy[s] === call) continue;
      if (best < 0 || this.lastUse[s] < this.lastUse[best]) best = s;
    }
    if (best < 0) throw new WebmoeError('internal', 'expert paging: no slot left to evict');
    return best;
  }
}
