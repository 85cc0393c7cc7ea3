// The checkpoint reader on hand-made safetensors files: FP8 with V3's `_scale_inv` and V4's `.scale`,
// packed FP4 experts, integer tables, sharded folders, and malformed files named in the error.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CheckpointSource } from './checkpoint';
import { isWebmoeError } from 'webmoe/model';
import { f32Bytes, i64Bytes, writeSafetensors, type RawTensor } from './test-safetensors';

const tmp = mkdtempSync(join(tmpdir(), 'webmoe-reference-ckpt-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let folders = 0;
function folder(tensors: RawTensor[], config: Record<string, unknown> = {}): string {
  const dir = join(tmp, String(folders++));
  mkdirSync(dir);
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  return dir;
}

const open = (dir: string, config: Record<string, unknown> = {}) => new CheckpointSource(dir, config);

describe('checkpoint reader', () => {
  it('FP8 E4M3 times V4 E8M0 `.scale` blocks of 128×128 (partial blocks at the edges)', () => {
    // [130, 2]: rows 0–127 in scale block 0 (×2^-3), rows 128–129 in block 1 (×4); 0x38 = 1.0, 0x3c = 1.5
    const q = new Uint8Array(260).fill(0x38);
    q[1] = 0x3c;
    q[257] = 0xbc; // row 128, col 1: −1.5
    const dir = folder([
      { name: 'a.weight', dtype: 'F8_E4M3', shape: [130, 2], bytes: q },
      { name: 'a.scale', dtype: 'F8_E8M0', shape: [2, 1], bytes: Uint8Array.from([124, 129]) },
    ]);
    const t = open(dir).get('a.weight');
    expect(t.shape).toEqual([130, 2]);
    expect([t.data[0], t.data[1], t.data[255], t.data[256], t.data[257]]).toEqual([0.125, 0.1875, 0.125, 4, -6]);
  });

  it('FP8 times V3 F32 `weight_scale_inv`, with the block size from quantization_config', () => {
    const dir = folder([
      { name: 'w.weight', dtype: 'F8_E4M3', shape: [3, 3], bytes: new Uint8Array(9).fill(0x38) },
      { name: 'w.weight_scale_inv', dtype: 'F32', shape: [2, 2], bytes: f32Bytes([1, 2, 3, 4]) },
    ]);
    const t = open(dir, { quantization_config: { weight_block_size: [2, 2] } }).get('w.weight');
    expect(Array.from(t.data)).toEqual([1, 1, 2, 1, 1, 2, 3, 3, 4]);
    // with the default 128×128 blocks the same scales have the wrong shape, named in the error
    expect(() => open(dir).get('w.weight')).toThrow(/w\.weight_scale_inv \(the scales of w\.weight.*\[2, 2\], expected \[1, 1\]/);
  });

  it('unpacks FP4 experts: low nibble first, one E8M0 scale per 32 of a row', () => {
    const packed = new Uint8Array(2 * 32); // [2, 32] bytes → [2, 64] values
    packed[0] = 0x21; // (0, 0) = 0.5, (0, 1) = 1
    packed[16] = 0xf7; // (0, 32) = 6, (0, 33) = −6, in the second scale group (×0.5)
    packed[32] = 0x9a; // (1, 0): 0xa = 1.01.0 → −1; (1, 1): 0x9 = 1.00.1 → −0.5
    const dir = folder([
      { name: 'e.w1.weight', dtype: 'I8', shape: [2, 32], bytes: packed },
      { name: 'e.w1.scale', dtype: 'F8_E8M0', shape: [2, 2], bytes: Uint8Array.from([128, 126, 127, 127]) },
    ]);
    const t = open(dir).get('e.w1.weight');
    expect(t.shape).toEqual([2, 64]);
    expect([t.data[0], t.data[1], t.data[2], t.data[32], t.data[33], t.data[64], t.data[65]]).toEqual([1, 2, 0, 3, -3, -1, -0.5]);
  });

  it('names FP4 scales of the wrong size', () => {
    const dir = folder([
      { name: 'e.w2.weight', dtype: 'I8', shape: [4, 16], bytes: new Uint8Array(64) },
      { name: 'e.w2.scale', dtype: 'F8_E8M0', shape: [4, 2], bytes: new Uint8Array(8) },
    ]);
    const err = (() => { try { open(dir).get('e.w2.weight'); } catch (e) { return e; } })();
    expect(isWebmoeError(err, 'model-format')).toBe(true);
    expect((err as Error).message).toMatch(/tensor e\.w2\.scale \(the scales of e\.w2\.weight, I8 \[4, 16\]\) is F8_E8M0 \[4, 2\], expected \[4, 1\]/);
  });

  it('reads integer tables (I64 tid2eid) exactly, and plain float dtypes', () => {
    const dir = folder([
      { name: 'g.tid2eid', dtype: 'I64', shape: [2, 3], bytes: i64Bytes([0, 7, 3, 2, 5, 1]) },
      { name: 'n.weight', dtype: 'BF16', shape: [2], bytes: Uint8Array.from([0x80, 0x3f, 0x40, 0xc0]) },
      { name: 'b', dtype: 'F32', shape: [1], bytes: f32Bytes([0.1]) },
    ]);
    const s = open(dir);
    expect(Array.from(s.get('g.tid2eid').data)).toEqual([0, 7, 3, 2, 5, 1]);
    expect(Array.from(s.get('n.weight').data)).toEqual([1, -3]);
    expect(s.get('b').data[0]).toBe(Math.fround(0.1));
    expect(s.has('b')).toBe(true);
    expect(s.has('c')).toBe(false);
    expect(() => s.get('c')).toThrow(/tensor c is missing/);
  });

  it('names malformed files and tensors', () => {
    const noScale = folder([{ name: 'x.weight', dtype: 'F8_E4M3', shape: [1, 1], bytes: new Uint8Array(1) }]);
    expect(() => open(noScale).get('x.weight')).toThrow(/x\.weight is F8_E4M3 but its block scales \(x\.weight_scale_inv or x\.scale\) are missing/);
    const short = folder([{ name: 'y', dtype: 'F32', shape: [3], bytes: new Uint8Array(8) }]);
    expect(() => open(short)).toThrow(/tensor y spans 8 bytes, but F32 \[3\] takes 12/);
    const past = folder([{ name: 'z', dtype: 'F32', shape: [2], bytes: new Uint8Array(8), offsets: [4, 12] }]);
    expect(() => open(past)).toThrow(/tensor z runs past the end/);
    const dtype = folder([{ name: 'u', dtype: 'F8_E5M2', shape: [1], bytes: new Uint8Array(1) }]);
    expect(() => open(dtype)).toThrow(/tensor u has dtype "F8_E5M2"/);
    const empty = join(tmp, 'empty');
    mkdirSync(empty);
    expect(() => open(empty)).toThrow(/neither model\.safetensors nor model\.safetensors\.index\.json/);
  });

  it('reads a sharded folder through its index, and names a tensor the index misplaces', () => {
    const dir = join(tmp, 'sharded');
    mkdirSync(dir);
    writeSafetensors(join(dir, 'a.safetensors'), [{ name: 'p', dtype: 'F32', shape: [1], bytes: f32Bytes([2]) }]);
    writeSafetensors(join(dir, 'b.safetensors'), [{ name: 'q', dtype: 'F32', shape: [1], bytes: f32Bytes([3]) }]);
    const index = (map: Record<string, string>) => writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: map }));
    index({ p: 'a.safetensors', q: 'b.safetensors' });
    const s = open(dir);
    expect([s.get('p').data[0], s.get('q').data[0]]).toEqual([2, 3]);
    index({ p: 'a.safetensors', q: 'a.safetensors', r: 'b.safetensors' });
    expect(() => open(dir)).toThrow(/tensor q is placed in a\.safetensors/);
  });
});
