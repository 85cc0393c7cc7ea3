import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile, rm, truncate, writeFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng, isWebmoeError } from 'webmoe/model';
import { generateCheckpoint } from './generate';
import { INDEX_FILE, SINGLE_FILE, openCheckpoint, openSafetensors } from './safetensors';
import { createSafetensorsWriter } from './safetensors-writer';
import { checkCheckpointTensors } from './validate';
import { copyDir, patchBytes, rawTensors, readHeader, removeTempDirs, rewriteHeader, sourceF64, tempDir } from './test-helpers';

const GOLDEN = fileURLToPath(new URL('../../../fixtures/golden/', import.meta.url));

/** E4M3 decoded from its definition (sign, 4-bit exponent with bias 7, 3-bit mantissa), written apart from formats.ts. */
function e4m3Reference(b: number): number {
  const sign = b >= 128 ? -1 : 1;
  const exp = (b >> 3) & 15;
  const man = b & 7;
  if (exp === 15 && man === 7) return NaN;
  return exp === 0 ? sign * man * Math.pow(2, -9) : sign * (8 + man) * Math.pow(2, exp - 10);
}

/** Elements that differ (vitest's deep equality is slow on large typed arrays). */
function mismatches(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) n++;
  return n;
}

/** Rejects with a model-format WebmoeError whose message names every string in `names`. */
async function expectFormatError(p: Promise<unknown>, ...names: string[]): Promise<string> {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(isWebmoeError(e, 'model-format'), `expected a model-format error, got ${e}`).toBe(true);
  const message = (e as Error).message;
  for (const n of names) expect(message).toContain(n);
  return message;
}

let work: string;
let fp8Dir: string;

beforeAll(async () => {
  work = await tempDir('safetensors');
  fp8Dir = join(work, 'fp8');
  await generateCheckpoint(fp8Dir, { config: 'v3-small', seed: 3, fp8: true });
});
afterAll(removeTempDirs);

describe('safetensors writer and reader', () => {
  it('round-trip tensors of every dtype, streamed in pieces', async () => {
    const rng = createRng(5);
    const decls = [
      { name: 'a', dtype: 'BF16' as const, shape: [3, 5] },
      { name: 'empty', dtype: 'F32' as const, shape: [0] },
      { name: 'b', dtype: 'F32' as const, shape: [7] },
      { name: 'c', dtype: 'F8_E4M3' as const, shape: [2, 3, 4] },
      { name: 'd', dtype: 'F16' as const, shape: [1] },
    ];
    const sizes = [30, 0, 28, 24, 2];
    const payload = sizes.map((n) => Uint8Array.from({ length: n }, () => rng.int(256)));
    const path = join(work, 'roundtrip.safetensors');
    const w = await createSafetensorsWriter(path, decls, { format: 'pt', note: 'x' });
    await w.write('a', payload[0].subarray(0, 11));
    await w.write('a', payload[0].subarray(11));
    for (const i of [2, 3, 4]) await w.write(decls[i].name, payload[i]);
    await w.close();

    const f = await openSafetensors(path);
    try {
      expect(f.metadata).toEqual({ format: 'pt', note: 'x' });
      expect([...f.tensors.keys()]).toEqual(decls.map((d) => d.name));
      for (let i = 0; i < decls.length; i++) {
        expect(f.tensors.get(decls[i].name)!.shape).toEqual(decls[i].shape);
        expect(await f.read(decls[i].name)).toEqual(payload[i]);
      }
      expect(await f.readRange('a', 4, 6)).toEqual(payload[0].subarray(4, 10));
      expect((f.tensors.get('a')!.begin - 8) % 8).toBe(0); // header padded to 8 bytes, as the reference writer does
    } finally {
      await f.close();
    }
    const bad = await createSafetensorsWriter(join(work, 'order.safetensors'), decls);
    await expect(bad.write('b', payload[2])).rejects.toThrow(/out of order/);
    await bad.abort();
  });

  it('reads the golden checkpoints, which hold exactly the tensors their configs imply', async () => {
    for (const model of ['v3', 'v2lite']) {
      const ckpt = await openCheckpoint(join(GOLDEN, model));
      try {
        const specs = checkCheckpointTensors(ckpt);
        expect(specs.length).toBe(ckpt.tensors.size);
        // BF16 decoded independently: the 16 bits are the top half of an f32.
        const name = 'model.layers.0.self_attn.kv_b_proj.weight';
        const raw = await ckpt.read(name);
        const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
        const want = Array.from({ length: raw.byteLength / 2 }, (_, i) => new Float32Array(new Uint32Array([dv.getUint16(2 * i, true) << 16]).buffer)[0]);
        expect(Array.from(await ckpt.readF32(name))).toEqual(want);
        expect(Array.from(await ckpt.readF64(name))).toEqual(want);
        expect(Array.from(await ckpt.readF32(name, { start: 5, count: 7 }))).toEqual(want.slice(5 * 24, 12 * 24));
      } finally {
        await ckpt.close();
      }
    }
  });

  it('dequantizes F8_E4M3 weights with their 128×128 block scales (values computed independently here)', async () => {
    const ckpt = await openCheckpoint(fp8Dir);
    try {
      const name = 'model.layers.0.mlp.gate_proj.weight'; // [400, 264]: 4×3 blocks, partial at both edges
      const t = ckpt.tensors.get(name)!;
      expect(t.dtype).toBe('F8_E4M3');
      const [rows, cols] = t.shape;
      const q = await ckpt.read(name);
      const sRaw = await ckpt.read(`${name}_scale_inv`);
      const sv = new DataView(sRaw.buffer, sRaw.byteOffset, sRaw.byteLength);
      expect(ckpt.tensors.get(`${name}_scale_inv`)!.shape).toEqual([4, 3]);
      const want64 = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++) {
        for (let j = 0; j < cols; j++) want64[i * cols + j] = e4m3Reference(q[i * cols + j]) * sv.getFloat32(4 * ((i >> 7) * 3 + (j >> 7)), true);
      }
      const want32 = Float32Array.from(want64);
      expect(mismatches(await ckpt.readF64(name), want64)).toBe(0);
      expect(mismatches(await ckpt.readF32(name), want32)).toBe(0);
      expect(mismatches(await ckpt.readF32(name, { start: 130, count: 200 }), want32.subarray(130 * cols, 330 * cols))).toBe(0);
      // The generator drew N(0, 1/264) values; dequantized weights keep that scale.
      const rms = Math.sqrt(want64.reduce((a, x) => a + x * x, 0) / want64.length);
      expect(rms).toBeGreaterThan(0.8 / Math.sqrt(cols));
      expect(rms).toBeLessThan(1.2 / Math.sqrt(cols));
    } finally {
      await ckpt.close();
    }
  });
});

describe('DeepSeek-V4 checkpoints', () => {
  it('read every tensor of both V4 goldens exactly as the independent decoding: FP8 and FP4 with E8M0 scales, I64 tables', async () => {
    for (const model of ['v4fp8', 'v4long']) {
      const dir = join(GOLDEN, model);
      const raw = await rawTensors(dir);
      const ckpt = await openCheckpoint(dir);
      try {
        const specs = checkCheckpointTensors(ckpt);
        const scales = [...ckpt.tensors.keys()].filter((k) => k.endsWith('.scale')).length;
        expect(specs.length + scales).toBe(ckpt.tensors.size);
        for (const spec of specs) {
          const want = sourceF64(raw, spec.name, spec.name.replace(/\.weight$/, '.scale'));
          expect(mismatches(await ckpt.readF64(spec.name), want), spec.name).toBe(0);
          expect(mismatches(await ckpt.readF32(spec.name), Float32Array.from(want)), spec.name).toBe(0); // every product is exact in f32
        }
        if (model === 'v4fp8') {
          expect(ckpt.tensors.get('layers.0.ffn.experts.1.w2.weight')!.shape).toEqual([96, 16]);
          expect(ckpt.shapeOf('layers.0.ffn.experts.1.w2.weight')).toEqual([96, 32]);
          expect(ckpt.scaleOf('layers.0.ffn.experts.1.w2.weight')!.name).toBe('layers.0.ffn.experts.1.w2.scale');
          expect(ckpt.scaleOf('layers.0.attn.wo_a.weight')!.dtype).toBe('F8_E8M0');
          const rows = await ckpt.readF32('layers.2.ffn.experts.3.w1.weight', { start: 7, count: 5 });
          expect(mismatches(rows, Float32Array.from(sourceF64(raw, 'layers.2.ffn.experts.3.w1.weight', 'layers.2.ffn.experts.3.w1.scale').subarray(7 * 96, 12 * 96)))).toBe(0);
        }
      } finally {
        await ckpt.close();
      }
    }
  });

  it('decode FP4 nibbles low first and E8M0 scales by hand-written patterns', async () => {
    const path = join(work, 'fp4.safetensors');
    // One row of 64 FP4 values: byte 0 = 0x71 (0.5, 6), byte 1 = 0xa4 (2, −1); scales 2^1 and 2^-2.
    const q = new Uint8Array(32);
    q.set([0x71, 0xa4]);
    q[16] = 0x0f; // column 32: code 15 = −6
    const w = await createSafetensorsWriter(path, [{ name: 'w.weight', dtype: 'I8', shape: [1, 32] }, { name: 'w.scale', dtype: 'F8_E8M0', shape: [1, 2] }]);
    await w.write('w.weight', q);
    await w.write('w.scale', new Uint8Array([128, 125]));
    await w.close();
    const dir = join(work, 'fp4-dir');
    await copyDir(join(GOLDEN, 'v4fp8'), dir);
    await writeFile(join(dir, SINGLE_FILE), await readFile(path));
    const ckpt = await openCheckpoint(dir);
    try {
      const v = await ckpt.readF32('w.weight');
      expect(Array.from(v.subarray(0, 4))).toEqual([1, 12, 4, -2]);
      expect(v[32]).toBe(-1.5);
      expect(v.filter((x) => x !== 0).length).toBe(5);
    } finally {
      await ckpt.close();
    }
  });
});

describe('malformed safetensors files are rejected before their offsets are used', () => {
  const golden = join(GOLDEN, 'v3', SINGLE_FILE);
  let n = 0;
  async function variant(change: (path: string) => Promise<void>): Promise<string> {
    const path = join(work, `bad-${n++}.safetensors`);
    await writeFile(path, await readFile(golden));
    await change(path);
    return path;
  }

  it('a file truncated inside its data', async () => {
    const path = await variant(async (p) => truncate(p, (await stat(p)).size - 1000));
    await expectFormatError(openSafetensors(path), path, 'tensor "', 'past the end', 'truncated');
  });

  it('a file too short to hold the header length', async () => {
    const path = await variant((p) => truncate(p, 5));
    await expectFormatError(openSafetensors(path), path, 'too short');
  });

  it('a header length past the end of the file', async () => {
    const path = await variant(async (p) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, BigInt((await stat(p)).size), true);
      await patchBytes(p, 0, b);
    });
    await expectFormatError(openSafetensors(path), path, 'header length', 'runs past the end');
  });

  it('an absurd header length', async () => {
    const path = await variant(async (p) => patchBytes(p, 0, new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1])));
    await expectFormatError(openSafetensors(path), path, 'exceeds');
  });

  it('a header that is not JSON', async () => {
    const path = await variant(async (p) => patchBytes(p, 8, new TextEncoder().encode('{"model.norm.weight": {"dtype": BF16')));
    await expectFormatError(openSafetensors(path), path, 'not valid JSON');
  });

  it('overlapping data_offsets, naming both tensors', async () => {
    const path = await variant((p) => rewriteHeader(p, (h) => {
      const t = h['model.norm.weight'] as { data_offsets: [number, number] };
      const o = (h['model.layers.0.input_layernorm.weight'] as { data_offsets: [number, number] }).data_offsets;
      t.data_offsets = [o[0] + 2, o[1] + 2];
    }));
    await expectFormatError(openSafetensors(path), path, 'overlap', 'model.norm.weight');
  });

  it('data_offsets past the end of the data', async () => {
    const path = await variant((p) => rewriteHeader(p, (h) => {
      (h['model.norm.weight'] as { data_offsets: [number, number] }).data_offsets = [10_000_000, 10_000_192];
    }));
    await expectFormatError(openSafetensors(path), path, 'tensor "model.norm.weight"', 'past the end');
  });

  it('an unknown dtype', async () => {
    const path = await variant((p) => rewriteHeader(p, (h) => {
      (h['model.norm.weight'] as { dtype: string }).dtype = 'I32';
    }));
    await expectFormatError(openSafetensors(path), path, 'tensor "model.norm.weight"', 'unknown dtype "I32"');
  });

  it('a byte length that contradicts shape × dtype size', async () => {
    const path = await variant((p) => rewriteHeader(p, (h) => {
      (h['model.norm.weight'] as { shape: number[] }).shape = [97];
    }));
    await expectFormatError(openSafetensors(path), path, 'tensor "model.norm.weight"', 'needs 194');
  });

  it('a missing file', async () => {
    await expectFormatError(openSafetensors(join(work, 'nope.safetensors')), 'nope.safetensors', 'cannot open');
  });
});

describe('checkpoint folders', () => {
  it('follow model.safetensors.index.json across shards and reject an index naming a missing shard', async () => {
    const dir = join(work, 'sharded');
    await generateCheckpoint(dir, { config: 'v3-tiny', seed: 4, shards: 3 });
    const ckpt = await openCheckpoint(dir);
    expect(ckpt.files).toEqual(['model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'model-00003-of-00003.safetensors']);
    expect(checkCheckpointTensors(ckpt).length).toBe(ckpt.tensors.size);
    await ckpt.close();

    const broken = await copyDir(dir, join(work, 'sharded-missing'));
    await rm(join(broken, 'model-00002-of-00003.safetensors'));
    await expectFormatError(openCheckpoint(broken), join(broken, INDEX_FILE), 'model-00002-of-00003.safetensors', 'does not exist');
  });

  it('reject an index that lists a tensor in a file which does not hold it, and a tensor stored twice', async () => {
    const dir = join(work, 'sharded-lies');
    await generateCheckpoint(dir, { config: 'v3-tiny', seed: 4, shards: 2 });
    const index = JSON.parse(await readFile(join(dir, INDEX_FILE), 'utf8'));
    index.weight_map['model.norm.weight'] = index.weight_map['model.norm.weight'] === 'model-00001-of-00002.safetensors' ? 'model-00002-of-00002.safetensors' : 'model-00001-of-00002.safetensors';
    await writeFile(join(dir, INDEX_FILE), JSON.stringify(index));
    await expectFormatError(openCheckpoint(dir), INDEX_FILE, 'model.norm.weight');

    const dup = join(work, 'sharded-dup');
    await generateCheckpoint(dup, { config: 'v3-tiny', seed: 4, shards: 2 });
    const { header: firstHeader } = await readHeader(join(dup, 'model-00001-of-00002.safetensors'));
    const taken = Object.keys(firstHeader).find((k) => k !== '__metadata__')!;
    const second = join(dup, 'model-00002-of-00002.safetensors');
    await rewriteHeader(second, (h) => {
      const victim = Object.keys(h).find((k) => k !== '__metadata__')!;
      h[taken] = h[victim];
      delete h[victim];
    });
    await expectFormatError(openCheckpoint(dup), second, `tensor "${taken}"`, 'also stored in model-00001-of-00002.safetensors');
  });

  it('reject FP8 weights whose block scales are missing or mis-shaped', async () => {
    const dir = await copyDir(fp8Dir, join(work, 'fp8-no-scales'));
    const name = 'model.layers.1.self_attn.q_b_proj.weight'; // [192, 200]: 2×2 blocks
    await rewriteHeader(join(dir, SINGLE_FILE), (h) => {
      delete h[`${name}_scale_inv`];
    });
    const ckpt = await openCheckpoint(dir);
    await expectFormatError(ckpt.readF32(name), SINGLE_FILE, `"${name}_scale_inv"`, 'missing');
    expect(() => checkCheckpointTensors(ckpt)).toThrow(name);
    await ckpt.close();

    const dir2 = await copyDir(fp8Dir, join(work, 'fp8-bad-scales'));
    await rewriteHeader(join(dir2, SINGLE_FILE), (h) => {
      (h[`${name}_scale_inv`] as { shape: number[] }).shape = [4, 1];
    });
    const ckpt2 = await openCheckpoint(dir2);
    await expectFormatError(ckpt2.readF32(name), `${name}_scale_inv`, 'expected [2, 2]');
    await ckpt2.close();
  });
});

