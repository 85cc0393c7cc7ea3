import { describe, expect, it } from 'vitest';
import { HostExpertCache } from './expert-host-cache';

const bytes = (n: number, v: number) => new Uint8Array(n).fill(v);

describe('HostExpertCache', () => {
  it('stays within its bytes, dropping the least recently used first', () => {
    const c = new HostExpertCache(100);
    c.set('a', bytes(40, 1));
    c.set('b', bytes(40, 2));
    expect(c.get('a')?.[0]).toBe(1); // a is now more recent than b
    c.set('c', bytes(40, 3));
    expect(c.bytes).toBe(80);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')?.[0]).toBe(1);
    expect(c.get('c')?.[0]).toBe(3);
  });

  it('replaces an entry of the same key, and keeps nothing larger than itself', () => {
    const c = new HostExpertCache(50);
    c.set('a', bytes(30, 1));
    c.set('a', bytes(20, 2));
    expect(c.bytes).toBe(20);
    c.set('big', bytes(51, 3));
    expect(c.get('big')).toBeUndefined();
    expect(c.get('a')?.[0]).toBe(2);
  });
});
