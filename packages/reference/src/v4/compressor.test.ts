// The streaming compressor against its definition evaluated directly in the test: per block, the
// softmax-over-tokens pooling of every feature (with the previous block's first halves when overlapping),
// then RMSNorm; fed one token at a time, an entry appears exactly when a block's last token arrives.
import { describe, expect, it } from 'vitest';
import { createRng } from 'webmoe/model';
import { Rope } from '../rope';
import { MapWeightSource, type Tensor64 } from '../weights';
import type { V4Args } from './args';
import { Compressor } from './compressor';

const d = 5, Dc = 6, r = 2, eps = 1e-6;
const args = { dim: d, ropeDim: r, normEps: eps } as V4Args;

function setup(ratio: number, seed: number) {
  const rng = createRng(seed);
  const rows = (ratio === 4 ? 2 : 1) * Dc;
  const rand = (shape: number[]): Tensor64 => ({ shape, data: Float64Array.from({ length: shape[0] * (shape[1] ?? 1) }, () => rng.normal()) });
  const t = new Map<string, Tensor64>([
    ['c.wkv.weight', rand([rows, d])],
    ['c.wgate.weight', rand([rows, d])],
    ['c.ape', rand([ratio, rows])],
    ['c.norm.weight', rand([Dc])],
  ]);
  const xs = Array.from({ length: 3 * ratio + 2 }, () => Float64Array.from({ length: d }, () => rng.normal()));
  // the definition's per-token values and logits, computed here
  const lin = (w: Float64Array, x: Float64Array) => Array.from({ length: rows }, (_, i) => x.reduce((s, v, j) => s + w[i * d + j] * v, 0));
  const c = xs.map((x) => lin(t.get('c.wkv.weight')!.data, x));
  const z = xs.map((x, pos) => lin(t.get('c.wgate.weight')!.data, x).map((v, i) => v + t.get('c.ape')!.data[(pos % ratio) * rows + i]));
  return { source: new MapWeightSource(t), xs, c, z, norm: t.get('c.norm.weight')!.data };
}

function expectedEntry(ratio: number, b: number, c: number[][], z: number[][], norm: Float64Array): number[] {
  const pooled = Array.from({ length: Dc }, (_, f) => {
    const slots: [number, number][] = [];
    for (let t = b * ratio; t < (b + 1) * ratio; t++) slots.push(ratio === 4 ? [c[t][Dc + f], z[t][Dc + f]] : [c[t][f], z[t][f]]);
    if (ratio === 4 && b > 0) for (let t = (b - 1) * ratio; t < b * ratio; t++) slots.push([c[t][f], z[t][f]]);
    const w = slots.map(([, l]) => Math.exp(l));
    const sum = w.reduce((a, v) => a + v, 0);
    return slots.reduce((a, [v], i) => a + (w[i] / sum) * v, 0);
  });
  const rms = Math.sqrt(pooled.reduce((a, v) => a + v * v, 0) / Dc + eps);
  return pooled.map((v, i) => (v / rms) * norm[i]);
}

describe.each([4, 3])('compressor with ratio %i', (ratio) => {
  it('emits one entry per completed block, equal to the pooled definition', () => {
    const { source, xs, c, z, norm } = setup(ratio, ratio);
    const finished: number[] = [];
    const identity = new Rope(new Float64Array(r / 2));
    const comp = new Compressor(args, source, 'c', ratio, Dc, identity, (e) => finished.push(e.length));
    xs.forEach((x, pos) => {
      const out = comp.step(x, pos);
      expect(out !== null).toBe((pos + 1) % ratio === 0);
    });
    expect(comp.entries.length).toBe(3);
    expect(finished).toEqual([Dc, Dc, Dc]);
    expect(comp.length).toBe(xs.length);
    comp.entries.forEach((e, b) => expectedEntry(ratio, b, c, z, norm).forEach((v, i) => expect(e[i]).toBeCloseTo(v, 12)));
    expect(() => comp.step(xs[0], 0)).toThrow(/token at position 0/);
  });

  it('rotates an entry at its block\'s first position', () => {
    const { source, xs } = setup(ratio, 10 + ratio);
    const plain = new Compressor(args, source, 'c', ratio, Dc, new Rope(new Float64Array(r / 2)), () => {});
    const rope = new Rope(Float64Array.from([0.3]));
    const rotated = new Compressor(args, source, 'c', ratio, Dc, rope, () => {});
    xs.forEach((x, pos) => { plain.step(x, pos); rotated.step(x, pos); });
    rotated.entries.forEach((e, b) => {
      const angle = 0.3 * b * ratio;
      const [u, v] = [plain.entries[b][Dc - 2], plain.entries[b][Dc - 1]];
      expect(e[Dc - 2]).toBeCloseTo(u * Math.cos(angle) - v * Math.sin(angle), 12);
      expect(e[Dc - 1]).toBeCloseTo(u * Math.sin(angle) + v * Math.cos(angle), 12);
      for (let i = 0; i < Dc - 2; i++) expect(e[i]).toBe(plain.entries[b][i]);
    });
  });
});
