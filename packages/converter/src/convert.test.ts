import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  MANIFEST_FILE, TENSOR_ALIGNMENT, WEIGHT_FORMATS, isWebmoeError, parseManifest, rangePieces, requireV3, tensorLayout,
  type Manifest, type ManifestTensor, type WeightFormat,
} from 'webmoe/model';
import { CONVERTER_VERSION, convertCheckpoint } from './convert';
import { generateCheckpoint } from './generate';
import { openWebmoeModel, verifyModelFolder } from './model-folder';
import { SINGLE_FILE, openCheckpoint, openSafetensors } from './safetensors';
import { createSafetensorsWriter } from './safetensors-writer';
import { copyDir, outputsOf, patchBytes, patchTensorBytes, rawTensors, removeTempDirs, rewriteHeader, tempDir } from './test-helpers';
import { convertAndCompare, type RoundTrip } from './round-trip.test-helper';

const roundTrip = (dir: string, quant: WeightFormat, options: { shardBytes?: number; mtp?: boolean } = {}): Promise<RoundTrip> =>
  convertAndCompare(dir, join(work, `out-${quant}-${Math.random().toString(36).slice(2)}`), quant, options);

let work: string;
let bf16: string;
let fp8: string;

beforeAll(async () => {
  work = await tempDir('convert');
  bf16 = join(work, 'bf16');
  fp8 = join(work, 'fp8');
  await generateCheckpoint(bf16, { config: 'v3-tiny', seed: 1 });
  await generateCheckpoint(fp8, { config: 'v3-small', seed: 2, fp8: true, shards: 3 });
  await writeFile(join(bf16, 'tokenizer.json'), '{"model": {"type": "BPE"}}');
});
afterAll(removeTempDirs);

/**
 * The RMS error of converting the v3-tiny BF16 checkpoint (seed 1) to each format, as measured when this
 * test was written; a conversion that loses accuracy fails (10% margin). Printed for docs/model-folder.md.
 */
const MEASURED_RMS: Partial<Record<WeightFormat, number>> = {
  f32: 0, bf16: 0, f16: 3.11e-10, q8: 5.36e-3, q4: 7.82e-2, fp8: 9.40e-3, fp4: 1.16e-1,
};

describe('every format round-trips within its stated bound', () => {
  for (const quant of WEIGHT_FORMATS) {
    it(`BF16 checkpoint → ${quant}`, async () => {
      const { rmsError } = await roundTrip(bf16, quant);
      console.log(`v3-tiny BF16 → ${quant}: RMS relative error of linear and embedding weights ${rmsError.toExponential(2)}`);
      expect(rmsError).toBeLessThanOrEqual(MEASURED_RMS[quant]! * 1.1);
    });
  }

  it('FP8 checkpoint → q4 (through the block-dequantized values)', async () => {
    await roundTrip(fp8, 'q4');
  });

  it('FP8 checkpoint → fp8 keeps the release bytes and scales bit-exact, and the BF16 embedding and output heads bf16', async () => {
    const { manifest, out } = await roundTrip(fp8, 'fp8', { mtp: true });
    const raw = await rawTensors(fp8);
    const model = await openWebmoeModel(out);
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0; // vitest's deep equality is slow on big arrays
    try {
      let exact = 0;
      for (const t of manifest.tensors) {
        const src = raw.get(t.name)!;
        const bytes = await model.read(t.name);
        const layout = tensorLayout(t.format, t.shape);
        if (src.dtype === 'BF16' && t.format === 'bf16') expect(same(bytes.subarray(0, layout.q.bytes), src.bytes), t.name).toBe(true);
        if (src.dtype !== 'F8_E4M3') continue;
        expect(t.format).toBe('fp8');
        expect(same(bytes.subarray(layout.q.offset, layout.q.offset + layout.q.bytes), src.bytes), t.name).toBe(true);
        expect(same(bytes.subarray(layout.scales!.offset, layout.scales!.offset + layout.scales!.bytes), raw.get(`${t.name}_scale_inv`)!.bytes), t.name).toBe(true);
        exact++;
      }
      expect(exact).toBeGreaterThan(50);
      const formatOf = (name: string) => manifest.tensors.find((t) => t.name === name)!.format;
      expect(['model.embed_tokens.weight', 'lm_head.weight', 'model.layers.3.shared_head.head.weight', 'model.layers.3.embed_tokens.weight'].map(formatOf)).toEqual(['bf16', 'bf16', 'bf16', 'bf16']);
      expect(manifest.source.dtype).toBe('BF16+F8_E4M3'); // the output heads stay BF16 in FP8 releases
    } finally {
      await model.close();
    }
  });
});

describe('the router weight', () => {
  const routers = (m: Manifest) => m.tensors.filter((t) => t.kind === 'router');
  const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

  it('from BF16 is stored bf16 with the checkpoint\'s own bytes, under f32 and q4 alike', async () => {
    for (const quant of ['f32', 'q4'] as const) {
      const { manifest, out } = await roundTrip(bf16, quant);
      const ckpt = await openCheckpoint(bf16);
      const model = await openWebmoeModel(out);
      try {
        expect(routers(manifest).length).toBeGreaterThan(1);
        for (const t of routers(manifest)) {
          expect(ckpt.tensors.get(t.name)!.dtype).toBe('BF16');
          expect(t.format).toBe('bf16');
          const layout = tensorLayout('bf16', t.shape);
          expect(same((await model.read(t.name)).subarray(0, layout.q.bytes), await ckpt.read(t.name)), t.name).toBe(true);
        }
      } finally {
        await ckpt.close();
        await model.close();
      }
    }
  });

  it('from F32 stays f32, bit-exact (values that bf16 cannot hold)', async () => {
    // The v3-tiny checkpoint with every router rewritten as F32 values between bf16's.
    const dir = join(work, 'f32-router');
    await mkdir(dir);
    await writeFile(join(dir, 'config.json'), await readFile(join(bf16, 'config.json')));
    const file = await openSafetensors(join(bf16, SINGLE_FILE));
    const isRouter = (name: string) => name.endsWith('.mlp.gate.weight');
    const decls = [...file.tensors.values()].map((t) => ({ name: t.name, dtype: isRouter(t.name) ? 'F32' as const : t.dtype, shape: t.shape }));
    const writer = await createSafetensorsWriter(join(dir, SINGLE_FILE), decls);
    const wanted = new Map<string, Uint8Array>();
    for (const d of decls) {
      const raw = await file.read(d.name);
      if (!isRouter(d.name)) {
        await writer.write(d.name, raw);
        continue;
      }
      const halves = new Uint16Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
      const bits = Uint32Array.from(halves, (h, i) => (h << 16) | (0x1234 + i)); // low halves nonzero
      const bytes = new Uint8Array(bits.buffer);
      wanted.set(d.name, bytes);
      await writer.write(d.name, bytes);
    }
    await writer.close();
    await file.close();
    expect(wanted.size).toBeGreaterThan(1);
    const { manifest, out } = await roundTrip(dir, 'q4');
    const model = await openWebmoeModel(out);
    try {
      for (const t of routers(manifest)) {
        expect(t.format).toBe('f32');
        expect(same((await model.read(t.name)).subarray(0, tensorLayout('f32', t.shape).q.bytes), wanted.get(t.name)!), t.name).toBe(true);
      }
    } finally {
      await model.close();
    }
  });
});

describe('the model folder', () => {
  let manifest: Manifest;
  let out: string;
  const shardBytes = 8192; // small, so that large tensors and expert ranges span shards

  beforeAll(async () => {
    out = join(work, 'layout');
    manifest = await convertCheckpoint(bf16, out, { quant: 'q8', shardBytes, mtp: true });
  });

  it('orders main non-expert tensors, main experts (gate, up, down contiguous), then MTP tensors', () => {
    const c = requireV3(manifest.model.config, 'this test');
    expect(manifest.mtp).toBe(true);
    const phase = (t: ManifestTensor) => (t.mtp ? 2 : 0) + (t.expert !== null ? 1 : 0);
    const phases = manifest.tensors.map(phase);
    expect(phases).toEqual([...phases].sort((a, b) => a - b));
    expect(new Set(phases)).toEqual(new Set([0, 1, 2, 3]));
    for (const t of manifest.tensors) expect(t.mtp).toBe(t.layer !== null && t.layer >= c.numLayers);
    // Byte order follows list order.
    const pos = (t: ManifestTensor) => t.shard * shardBytes + t.offset;
    for (let i = 1; i < manifest.tensors.length; i++) expect(pos(manifest.tensors[i])).toBeGreaterThan(pos(manifest.tensors[i - 1]));
    const byName = new Map(manifest.tensors.map((t) => [t.name, t]));
    expect(manifest.experts.length).toBe(c.moe!.nRoutedExperts * (c.layers.filter((l) => l.ffn === 'moe').length + c.numMtpLayers));
    for (const e of manifest.experts) {
      const [g, u, d] = ['gate', 'up', 'down'].map((p) => byName.get(`model.layers.${e.layer}.mlp.experts.${e.expert}.${p}_proj.weight`)!);
      expect(e.mtp).toBe(e.layer >= c.numLayers);
      expect(pos(g)).toBe(e.shard * shardBytes + e.offset);
      expect(pos(u)).toBe(pos(g) + Math.ceil(g.bytes / 256) * 256);
      expect(pos(d)).toBe(pos(u) + Math.ceil(u.bytes / 256) * 256);
      expect(pos(d) + d.bytes).toBe(pos(g) + e.bytes);
    }
  });

  it('aligns tensors to 256 bytes and never straddles a shard boundary unless a range alone exceeds a shard', () => {
    expect(manifest.shards.every((s) => s.bytes <= shardBytes)).toBe(true);
    const spanning = new Set<string>();
    const expertOf = (t: ManifestTensor) => manifest.experts.find((e) => e.layer === t.layer && e.expert === t.expert);
    for (const r of [...manifest.tensors, ...manifest.experts]) {
      expect(r.offset % TENSOR_ALIGNMENT).toBe(0);
      const pieces = rangePieces(manifest.shards, r);
      if (pieces.length === 1) continue;
      for (const p of pieces.slice(0, -1)) expect(manifest.shards[p.shard].bytes).toBe(shardBytes);
      // A range spans shards only when it alone exceeds one (then from offset 0), or as part of such an expert range.
      const owner = 'name' in r && r.expert !== null ? expertOf(r)! : r;
      expect(owner.bytes).toBeGreaterThan(shardBytes);
      expect(owner.offset).toBe(0);
      spanning.add('name' in r ? r.name : 'expert range');
    }
    expect(spanning.has('model.embed_tokens.weight')).toBe(true); // 32.6 KB in q8
    expect(spanning.has('expert range')).toBe(true); // 9.9 KB in q8
  });

  it('lists shard sizes and SHA-256 that match the files, and copies the tokenizer', async () => {
    const files = (await readdir(out)).sort();
    expect(files).toEqual([MANIFEST_FILE, ...manifest.shards.map((s) => s.file), 'tokenizer.json'].sort());
    for (const s of [...manifest.shards, ...manifest.tokenizer]) {
      const bytes = await readFile(join(out, s.file));
      expect(bytes.byteLength).toBe(s.bytes);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(s.sha256);
    }
    expect(manifest.tokenizer.map((t) => t.file)).toEqual(['tokenizer.json']);
    expect(manifest.source).toEqual({ name: 'bf16', dtype: 'BF16', files: [SINGLE_FILE] });
    expect(manifest.converterVersion).toBe(CONVERTER_VERSION);
    expect(parseManifest(JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8')))).toEqual(manifest);
  });

  it('a corrupted shard is caught by its SHA-256 when loaded', async () => {
    const copy = await copyDir(out, join(work, 'corrupt'));
    const victim = manifest.shards[3].file;
    const bytes = await readFile(join(copy, victim));
    await patchBytes(join(copy, victim), 1000, new Uint8Array([bytes[1000] ^ 0x10]));
    // One load at a time: a second promise created up front could reject before anything awaits it.
    for (const load of [() => verifyModelFolder(copy), () => openWebmoeModel(copy)]) {
      const e = await load().then(() => null, (err: unknown) => err);
      expect(isWebmoeError(e, 'integrity')).toBe(true);
      expect((e as Error).message).toContain(join(copy, victim));
      expect((e as Error).message).toContain('SHA-256');
    }
  });
});

describe('MTP modules', () => {
  it('are left out unless asked for (manifest mtp: false), though the checkpoint has them', async () => {
    const { manifest, out } = await roundTrip(bf16, 'q4');
    expect(manifest.mtp).toBe(false);
    expect(manifest.model.config.numMtpLayers).toBe(1);
    expect(manifest.tensors.some((t) => t.mtp || t.name.startsWith('model.layers.3.'))).toBe(false);
    expect(manifest.experts.some((e) => e.mtp)).toBe(false);
    expect(parseManifest(JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8')))).toEqual(manifest);
  });

  it('are converted with mtp: true, every one marked mtp for the loader to skip', async () => {
    const { manifest, out } = await roundTrip(bf16, 'q4', { mtp: true });
    expect(manifest.mtp).toBe(true);
    const mtp = manifest.tensors.filter((t) => t.mtp);
    expect(mtp.length).toBeGreaterThan(20);
    expect(mtp.every((t) => t.name.startsWith('model.layers.3.'))).toBe(true);
    expect(manifest.experts.filter((e) => e.mtp).length).toBe(8);
    expect(parseManifest(JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8')))).toEqual(manifest);
  });
});

describe('V2-Lite and checkpoints without MTP', () => {
  it('convert, keeping every layer and no MTP tensor', async () => {
    const dir = join(work, 'v2lite');
    await generateCheckpoint(dir, { config: 'v2lite-tiny', seed: 6 });
    const { manifest } = await roundTrip(dir, 'q4');
    expect(manifest.model.config.modelType).toBe('deepseek_v2');
    expect(manifest.tensors.some((t) => t.mtp)).toBe(false);
    const dir2 = join(work, 'v3-nomtp');
    await generateCheckpoint(dir2, { config: 'v3-tiny', seed: 6, mtp: false });
    const m2 = (await roundTrip(dir2, 'fp8')).manifest;
    expect(m2.model.config.numMtpLayers).toBe(0);
    expect(m2.tensors.some((t) => t.mtp || (t.layer ?? 0) >= 3)).toBe(false);
  });
});

describe('bad checkpoints fail with a message naming the file and the tensor or field, leaving nothing behind', () => {
  let n = 0;
  async function expectFailure(change: (dir: string) => Promise<void>, ...names: string[]): Promise<void> {
    const dir = await copyDir(join(work, 'tiny'), join(work, `bad-${n}`));
    await change(dir);
    const parent = join(work, `bad-out-${n++}`);
    await mkdir(parent);
    const out = join(parent, 'model');
    const e = await convertCheckpoint(dir, out, { shardBytes: 4096 }).then(() => null, (err: unknown) => err);
    expect(isWebmoeError(e), `expected a WebmoeError, got ${e}`).toBe(true);
    for (const name of names) expect((e as Error).message).toContain(name.replace('<dir>', dir));
    expect(await outputsOf(out)).toEqual([]);
  }

  beforeAll(async () => {
    await generateCheckpoint(join(work, 'tiny'), { config: 'v3-tiny', seed: 9 });
  });

  it('a tensor whose shape contradicts the config', async () => {
    await expectFailure((d) => rewriteHeader(join(d, SINGLE_FILE), (h) => {
      (h['model.layers.1.self_attn.q_a_proj.weight'] as { shape: number[] }).shape = [96, 48];
    }), '<dir>/model.safetensors', 'model.layers.1.self_attn.q_a_proj.weight', '[96, 48]', '[48, 96]');
  });

  it('a missing tensor', async () => {
    await expectFailure((d) => rewriteHeader(join(d, SINGLE_FILE), (h) => {
      delete h['model.layers.2.mlp.experts.5.up_proj.weight'];
    }), '<dir>/model.safetensors', 'model.layers.2.mlp.experts.5.up_proj.weight', 'missing');
  });

  it('an unexpected tensor', async () => {
    await expectFailure((d) => rewriteHeader(join(d, SINGLE_FILE), (h) => {
      h['model.layers.7.mlp.gate.weight'] = { dtype: 'BF16', shape: [0], data_offsets: [0, 0] };
    }), '<dir>/model.safetensors', 'model.layers.7.mlp.gate.weight');
  });

  it('a missing config field', async () => {
    await expectFailure(async (d) => {
      const c = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'));
      delete c.kv_lora_rank;
      await writeFile(join(d, 'config.json'), JSON.stringify(c));
    }, '<dir>/config.json', 'kv_lora_rank', 'missing');
  });

  it('an unsupported model_type', async () => {
    await expectFailure(async (d) => {
      const c = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'));
      c.model_type = 'llama';
      await writeFile(join(d, 'config.json'), JSON.stringify(c));
    }, '<dir>/config.json', 'model_type', '"llama"');
  });

  it('a non-finite weight found midway through writing', async () => {
    await expectFailure((d) => patchTensorBytes(join(d, SINGLE_FILE), 'lm_head.weight', 2 * 100, new Uint8Array([0xc0, 0x7f])),
      '<dir>/model.safetensors', 'lm_head.weight', 'non-finite');
  });
});

describe('the output folder appears atomically', () => {
  it('an existing folder is an error without force, untouched; with force it is replaced', async () => {
    const dir = join(work, 'atomic-src');
    await generateCheckpoint(dir, { config: 'v3-tiny', seed: 10 });
    const out = join(work, 'atomic-out');
    await mkdir(out);
    await writeFile(join(out, 'keep.txt'), 'mine');
    const e = await convertCheckpoint(dir, out).then(() => null, (err: unknown) => err);
    expect((e as Error).message).toContain('already exists');
    expect(await readdir(out)).toEqual(['keep.txt']);
    await convertCheckpoint(dir, out, { force: true });
    expect((await readdir(out)).includes('keep.txt')).toBe(false);
    await verifyModelFolder(out);
    expect(await outputsOf(out)).toEqual(['atomic-out']);
    await expect(convertCheckpoint(dir, dir, { force: true })).rejects.toThrow(/would overwrite the checkpoint/);
    await expect(convertCheckpoint(dir, work, { force: true })).rejects.toThrow(/would overwrite the checkpoint/);
  });
});
