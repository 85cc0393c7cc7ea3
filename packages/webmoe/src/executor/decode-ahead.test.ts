import { describe, expect, it } from 'vitest';
import { aheadKey, checkDecodeAhead, DecodeAhead, defaultDecodeAhead, type AheadStepper } from './decode-ahead';

/** A toy model's draw: depends on the token fed, its position and the sampling step. */
const draw = (token: number, position: number, step: number) => (token * 31 + position * 7 + step * 13 + 5) % 97;

/**
 * A fake GPU: a queued step feeds its token (or the previous step's draw, as the ids buffer would) and
 * stages its draw in a slot; a read resolves a few macrotasks later, and a slot must not be written again
 * before its read finished.
 */
function fakeGpu(opts: { failAt?: number; delay?: (n: number) => number } = {}) {
  let fed = -1;
  const staged = new Map<number, number>();
  const busy = new Set<number>();
  const steps: { position: number; step: number; token: number }[] = [];
  let reads = 0;
  const stepper: AheadStepper = {
    submit(slot, position, step, token) {
      if (busy.has(slot)) throw new Error(`slot ${slot} written while its read is pending`);
      busy.add(slot);
      const t = token ?? fed;
      fed = draw(t, position, step);
      staged.set(slot, fed);
      steps.push({ position, step, token: t });
    },
    read(slot) {
      const n = reads++;
      return new Promise((resolve, reject) => setTimeout(() => {
        busy.delete(slot);
        if (n === opts.failAt) reject(new Error('mapping failed'));
        else resolve(staged.get(slot)!);
      }, opts.delay?.(n) ?? 0));
    },
  };
  return { stepper, steps, busy };
}

/** The reference: one step at a time, each waiting for the last. */
function sequential(token: number, position: number, step: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    token = draw(token, position + i, step + i);
    out.push(token);
  }
  return out;
}

/** Drives decode calls as the runtime does until `n` ids came back (or the context is full). */
async function reply(run: DecodeAhead, token: number, position: number, step: number, n: number, context: number): Promise<number[]> {
  const out: number[] = [];
  while (out.length < n && position < context) {
    const ids = await run.decode({ token, position, step, key: 'k' });
    expect(ids.length).toBeGreaterThan(0);
    out.push(...ids);
    position += ids.length;
    step += ids.length;
    token = ids[ids.length - 1];
  }
  return out;
}

describe('defaultDecodeAhead', () => {
  it('runs steps ahead on a hardware adapter, not on a software one', () => {
    expect(defaultDecodeAhead(false)).toBe(4);
    expect(defaultDecodeAhead(true)).toBe(1);
    expect(checkDecodeAhead(defaultDecodeAhead(false))).toBe(4);
  });
});

describe('DecodeAhead', () => {
  it('gives the ids one step at a time gives, for depths 1 … 5 and odd lengths, never past the context', async () => {
    for (const depth of [1, 2, 3, 5]) {
      const context = 40 + depth;
      const gpu = fakeGpu({ delay: (n) => (n * 7) % 3 });
      const run = new DecodeAhead(gpu.stepper, depth, context);
      const got = await reply(run, 11, 3, 2, 100, context);
      expect(got).toEqual(sequential(11, 3, 2, context - 3));
      expect(Math.max(...gpu.steps.map((s) => s.position))).toBe(context - 1);
      expect(run.reach).toBe(context);
      await run.drain();
      expect(gpu.busy.size).toBe(0);
    }
  });

  it('keeps depth steps in flight, and returns every id already read with the oldest', async () => {
    const gpu = fakeGpu();
    const run = new DecodeAhead(gpu.stepper, 4, 100);
    const first = await run.decode({ token: 5, position: 0, step: 0, key: 'k' });
    expect(run.inFlight).toBe(4);
    // Let every read in flight finish: the next call takes all of them.
    await new Promise((r) => setTimeout(r, 5));
    const next = await run.decode({ token: first[first.length - 1], position: first.length, step: first.length, key: 'k' });
    expect(next.length).toBeGreaterThan(1);
    expect([...first, ...next]).toEqual(sequential(5, 0, 0, first.length + next.length));
  });

  it('starts anew from a call that does not continue the run: another token, position, step or setting', async () => {
    const gpu = fakeGpu();
    const run = new DecodeAhead(gpu.stepper, 3, 100);
    const a = await reply(run, 9, 10, 0, 5, 100);
    // A stop after two ids: the next call feeds another token at the position after them.
    const b = await run.decode({ token: 42, position: 12, step: 0, key: 'k' });
    expect(b[0]).toBe(sequential(42, 12, 0, 1)[0]);
    expect(a.slice(0, 2)).toEqual(sequential(9, 10, 0, 2));
    const c = await run.decode({ token: b[b.length - 1], position: 12 + b.length, step: b.length, key: 'other' });
    expect(c[0]).toBe(draw(b[b.length - 1], 12 + b.length, b.length));
    expect(gpu.busy.size).toBeLessThanOrEqual(3);
  });

  it('reports a failed read, then starts anew', async () => {
    const gpu = fakeGpu({ failAt: 0 });
    const run = new DecodeAhead(gpu.stepper, 3, 100);
    await expect(run.decode({ token: 1, position: 0, step: 0, key: 'k' })).rejects.toThrow('mapping failed');
    expect(await reply(run, 1, 0, 0, 6, 100)).toEqual(sequential(1, 0, 0, 6));
  });

  it('forget() drops the reach; abandon() keeps it', async () => {
    const run = new DecodeAhead(fakeGpu().stepper, 4, 100);
    // The ids taken are refilled: 4 steps stay in flight after them.
    const ids = await run.decode({ token: 1, position: 20, step: 0, key: 'k' });
    expect(run.reach).toBe(20 + ids.length + 4);
    run.abandon();
    expect(run.reach).toBe(20 + ids.length + 4);
    run.forget();
    expect(run.reach).toBe(0);
  });

  it('checks the option and keys settings without the step', () => {
    expect(checkDecodeAhead(4)).toBe(4);
    for (const bad of [0, 17, 2.5, Number.NaN]) expect(() => checkDecodeAhead(bad)).toThrow(/decodeAhead/);
    const s = { temperature: 0.8, topP: 1, topK: 0, seed: 3, step: 0 };
    expect(aheadKey({ ...s, step: 9 })).toBe(aheadKey(s));
    expect(aheadKey({ ...s, seed: 4 })).not.toBe(aheadKey(s));
  });
});
