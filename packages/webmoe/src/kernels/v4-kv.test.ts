import { describe, expect, it } from 'vitest';
import { isWebmoeError } from '../errors';
import type { KernelContext } from '../gpu/kernel-context';
import { compressorEmit, compressorStore, kvEntryWords, kvWindowStore } from './v4-kv';

/** A context whose device fails the test if a launcher reaches it: argument checks come first. */
const ctx = { device: new Proxy({}, { get: () => { throw new Error('the launcher used the device'); } }) } as unknown as KernelContext;
const buffer = (bytes: number) => ({ size: bytes }) as GPUBuffer;

function refusal(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (isWebmoeError(e)) return `${e.code}: ${e.message}`;
    throw e;
  }
  throw new Error('accepted');
}

describe('KV entries', () => {
  it('take a quarter word per FP8 value, a byte per 64 of them, and a word per rope dim', () => {
    // The release: 448 codes, 7 exponent bytes (one word of padding), 64 f32.
    expect(kvEntryWords(512, 64, true)).toBe(112 + 2 + 64);
    // The tiny goldens: 64 codes, one exponent byte.
    expect(kvEntryWords(80, 16, true)).toBe(16 + 1 + 16);
    expect(kvEntryWords(512, 64, false)).toBe(512);
    expect(kvEntryWords(80, 16, false)).toBe(80);
  });

  it('refuse a non-rope part that is not whole blocks of 64, and impossible rope widths', () => {
    expect(refusal(() => kvEntryWords(100, 16, true))).toMatch(/^model-format: .*84.*64/);
    expect(kvEntryWords(100, 16, false)).toBe(100);
    expect(refusal(() => kvEntryWords(80, 15, false))).toMatch(/^model-format/);
    expect(refusal(() => kvEntryWords(64, 64, false))).toMatch(/^model-format/);
  });
});

describe('launch checks', () => {
  const window = { kv: buffer(4 * 80 * 5), positions: buffer(16), tokens: 5, dim: 80, rope: 16, fp8: true };
  it('refuse a ring too small for its slots', () => {
    expect(refusal(() => kvWindowStore(ctx, { ...window, ring: buffer(20 * 33 * 4 - 4), slots: 20 }))).toMatch(/^invalid-request: kv_window_store: ring/);
    expect(refusal(() => kvWindowStore(ctx, { ...window, ring: buffer(4 * 33 * 4), slots: 4 }))).toMatch(/slots is 4/);
  });

  const state = { state: buffer(1 << 20), positions: buffer(16), tokens: 7, ratio: 4, slots: 16 };
  it('refuse compressor rings that would wrap a block or lose the previous one', () => {
    const store = { ...state, kv: buffer(1 << 16), gate: buffer(1 << 16), ape: buffer(1 << 16), width: 160 };
    expect(refusal(() => compressorStore(ctx, { ...store, slots: 18 }))).toMatch(/not a multiple of the ratio 4/);
    expect(refusal(() => compressorStore(ctx, { ...store, slots: 12 }))).toMatch(/below tokens \+ 2·ratio = 15/);
  });

  it('refuse an unknown quantization and a Hadamard transform of other than a power of two', () => {
    const emit = { ...state, norm: buffer(1 << 12), table: buffer(1 << 8), out: buffer(1 << 20), rope: 16, overlap: true, eps: 1e-6 };
    expect(refusal(() => compressorEmit(ctx, { ...emit, dim: 96, quant: 'hadamard-fp4' }))).toMatch(/dim is 96: the Hadamard transform/);
    expect(refusal(() => compressorEmit(ctx, { ...emit, dim: 80, quant: 'fp4' as 'none' }))).toMatch(/quant is fp4/);
    expect(refusal(() => compressorEmit(ctx, { ...emit, dim: 80, quant: 'fp8', out: buffer(33 * 4 - 4) }))).toMatch(/maxBlocks is 0/);
  });
});
