import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../util/random';
import { Sha256 } from './sha256';

function randomBytes(n: number, seed: number): Uint8Array {
  const rng = createRng(seed);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.int(256);
  return out;
}

const nodeHex = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('Sha256', () => {
  it('matches node:crypto on lengths around every padding case', () => {
    for (let n = 0; n <= 200; n++) {
      const data = randomBytes(n, n + 1);
      expect(new Sha256().update(data).hex(), `length ${n}`).toBe(nodeHex(data));
    }
  });

  it('gives the same digest for any split into pieces, through saved and restored states', () => {
    const rng = createRng(7);
    for (let trial = 0; trial < 40; trial++) {
      const n = 1 + rng.int(5000);
      const data = randomBytes(n, 100 + trial);
      let h = new Sha256();
      for (let at = 0; at < n; ) {
        const step = Math.min(n - at, rng.int(trial % 2 ? 7 : 300));
        h.update(data.subarray(at, at + step));
        at += step;
        // Half the time, continue from a structured clone of the state, as the cache does after a reload.
        if (rng.int(2)) h = new Sha256(structuredClone(h.state()));
      }
      expect(h.bytes).toBe(n);
      expect(h.hex(), `trial ${trial}, ${n} bytes`).toBe(nodeHex(data));
    }
  });

  it('leaves the hasher usable after hex()', () => {
    const data = randomBytes(1000, 3);
    const h = new Sha256().update(data.subarray(0, 333));
    expect(h.hex()).toBe(nodeHex(data.subarray(0, 333)));
    h.update(data.subarray(333));
    expect(h.hex()).toBe(nodeHex(data));
  });

  it('refuses a malformed state', () => {
    expect(() => new Sha256({ h: [1, 2, 3], bytes: 0, tail: new Uint8Array() })).toThrow(/malformed/);
    expect(() => new Sha256({ h: Array(8).fill(0), bytes: 65, tail: new Uint8Array(2) })).toThrow(/malformed/);
  });
});
