import { describe, expect, it } from 'vitest';
import { RateMeter } from './rate';

describe('RateMeter', () => {
  it('measures over the last window only', () => {
    let t = 0;
    const m = new RateMeter(1000, () => t);
    expect(m.sample(0, 1000).secondsLeft).toBeUndefined();
    // 100 bytes/s for 3 s, then 1000 bytes/s: after 2 s at the new speed the window sees only it.
    let bytes = 0;
    for (let i = 0; i < 30; i++) {
      t += 100;
      bytes += 10;
      m.sample(bytes, 0);
    }
    expect(m.sample(bytes, 0).bytesPerSecond).toBeCloseTo(100, 6);
    for (let i = 0; i < 20; i++) {
      t += 100;
      bytes += 100;
      m.sample(bytes, 0);
    }
    const r = m.sample(bytes, 5000);
    expect(r.bytesPerSecond).toBeCloseTo(1000, 6);
    expect(r.secondsLeft).toBeCloseTo(5, 6);
  });
});
