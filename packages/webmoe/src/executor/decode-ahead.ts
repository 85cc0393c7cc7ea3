// Decoding ahead (docs/decode-loop.md): plain decode steps queued several at a time, each feeding the id the
// one before it drew without the CPU in between, their ids read back through a ring of small staging
// buffers while newer steps run. This file holds the ring's bookkeeping; the GPU side of a step is
// gpu-model.ts's (AheadStepper), so that the logic here runs under unit tests with a fake stepper.
import { WebmoeError } from '../errors';
import type { SamplingParams } from './generator';

/** Most decode steps kept in flight (GpuModelOptions.decodeAhead). */
export const MAX_DECODE_AHEAD = 16;

/** The GPU side of one queued step. */
export interface AheadStepper {
  /**
   * Queues the decode step at cache position `position`, drawing with sampling step `step`. It feeds
   * `token`, or with null the id the step queued before it drew (left on the GPU where the next step reads
   * it), and copies its own draw into staging slot `slot`.
   */
  submit(slot: number, position: number, step: number, token: number | null): void;
  /** The id in staging slot `slot` once the step that wrote it has finished (mapped, read, unmapped). */
  read(slot: number): Promise<number>;
}

/** What a decode call continues from: its token, the position that token goes to, and its sampling step. */
export interface AheadCall {
  readonly token: number;
  readonly position: number;
  readonly step: number;
  /** The call's sampling settings other than the step (aheadKey): a run continues only under the same ones. */
  readonly key: string;
}

interface Flight {
  readonly slot: number;
  readonly id: Promise<number>;
  /** The id once read (set before any later await on `id` resumes); null until then. */
  ready: number | null;
}

/**
 * GpuModelOptions.decodeAhead when none is given (docs/decode-loop.md#the-default): 4 steps in flight on a
 * hardware adapter, where a step's wall time is its GPU time plus a round trip that decoding ahead takes off
 * the critical path (on the H200: 1.52 ms a step against 0.85 ms of GPU time); 1 (off) on a software
 * adapter, whose "GPU" is the same CPU cores the submitting thread needs.
 */
export function defaultDecodeAhead(software: boolean): number {
  return software ? 1 : 4;
}

/** Checks GpuModelOptions.decodeAhead: steps in flight, 1 (off) … MAX_DECODE_AHEAD. */
export function checkDecodeAhead(n: number): number {
  if (!Number.isInteger(n) || n < 1 || n > MAX_DECODE_AHEAD) {
    throw new WebmoeError('invalid-request', `decodeAhead must be an integer from 1 to ${MAX_DECODE_AHEAD} (got ${String(n)})`);
  }
  return n;
}

/** The sampling settings a queued step was recorded with, step aside: equal keys draw alike. */
export function aheadKey(s: SamplingParams): string {
  const { step: _step, allowed: _allowed, logprobs: _logprobs, ...rest } = s;
  return JSON.stringify(rest);
}

/**
 * Keeps up to `depth` decode steps in flight. A call that continues the run (the token the last call
 * returned, at the position and step after it, same settings) waits only for the oldest step's id; any
 * other call first lets the steps in flight finish and starts a new run from its token. Steps never go
 * past `contextLength`.
 */
export class DecodeAhead {
  private flights: Flight[] = [];
  private readonly free: number[];
  private expected: AheadCall | null = null;
  /** Position and sampling step of the next step to queue. */
  private nextPosition = 0;
  private nextStep = 0;
  /** One past the last cache position a queued step wrote since forget(): how far the cache may run ahead. */
  private farthest = 0;

  constructor(private readonly stepper: AheadStepper, readonly depth: number, private readonly contextLength: number) {
    this.free = Array.from({ length: depth }, (_, i) => depth - 1 - i);
  }

  /** Steps queued and not yet read back. */
  get inFlight(): number {
    return this.flights.length;
  }

  /** One past the last position written by a queued step since forget() (0: none). */
  get reach(): number {
    return this.farthest;
  }

  /**
   * The ids drawn after `call.token`, one per step, oldest first: at least one, and every further one
   * already read back. All but the last are in the cache after the call (the last is being fed by a step
   * in flight, or by the next call).
   */
  async decode(call: AheadCall): Promise<number[]> {
    const e = this.expected;
    this.expected = null;
    if (!e || this.flights.length === 0 || e.token !== call.token || e.position !== call.position || e.step !== call.step || e.key !== call.key) {
      await this.drain();
      this.nextPosition = call.position;
      this.nextStep = call.step;
      this.fill(call.token);
    }
    const first = this.flights[0];
    if (!first) throw new WebmoeError('internal', `decode ahead: no step fits after position ${call.position} of the ${this.contextLength}-token context`);
    const out = [await first.id];
    this.release();
    while (this.flights.length > 0 && this.flights[0].ready !== null) {
      out.push(this.flights[0].ready);
      this.release();
    }
    this.fill(null);
    this.expected = { token: out[out.length - 1], position: call.position + out.length, step: call.step + out.length, key: call.key };
    return out;
  }

  /** The run ends: the next call starts anew (the steps in flight finish first). */
  abandon(): void {
    this.expected = null;
  }

  /** abandon(), and the cache no longer reaches past what its owner knows (a prefill rewrote it). */
  forget(): void {
    this.expected = null;
    this.farthest = 0;
  }

  /** Waits for every step in flight (a failed read included) and frees their slots. */
  async drain(): Promise<void> {
    const flights = this.flights;
    this.flights = [];
    await Promise.allSettled(flights.map((f) => f.id));
    for (const f of flights) this.free.push(f.slot);
  }

  /** Queues steps until `depth` are in flight or the context is full; the first feeds `token` when given. */
  private fill(token: number | null): void {
    while (this.flights.length < this.depth && this.nextPosition < this.contextLength) {
      const slot = this.free.pop()!;
      this.stepper.submit(slot, this.nextPosition, this.nextStep, token);
      token = null;
      const id = this.stepper.read(slot);
      const flight: Flight = { slot, id, ready: null };
      // The handler also marks a failed read as seen: drain() and decode() report it, or it is dropped.
      id.then((v) => (flight.ready = v), () => {});
      this.flights.push(flight);
      this.nextPosition++;
      this.nextStep++;
      this.farthest = Math.max(this.farthest, this.nextPosition);
    }
  }

  private release(): void {
    this.free.push(this.flights.shift()!.slot);
  }
}
