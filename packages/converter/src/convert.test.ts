import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readFile, readdir, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  FP8_BLOCK, GROUP, MANIFEST_FILE, TENSOR_ALIGNMENT, WEIGHT_FORMATS, f16ToF32, isWebmoeError, parseManifest, rangePieces, tensorLayout,
  type Manifest, type ManifestTensor, type TensorLayout, type WeightFormat,
} from './engine';
import { CONVERTER_VERSION, convertCheckpoint } from './convert';
import { generateCheckpoint } from './generate';
import { openWebmoeModel, verifyModelFolder } from './model-folder';
import { SINGLE_FILE, openCheckpoint, openSafetensors } from './safetensors';
import { createSafetensorsWriter } from './safetensors-writer';
import { copyDir, outputsOf, patchBytes, readHeader, removeTempDirs, rewriteHeader, tempDir } from './test-helpers';

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

function sectionValues(bytes: Uint8Array, s: { offset: number; bytes: number }, kind: 'f16' | 'f32'): Float64Array {
  const dv = new DataView(bytes.buffer, bytes.byteOffset + s.offset, s.bytes);
  return kind === 'f16' ? Float64Array.from({ length: s.bytes / 2 }, (_, i) => f16ToF32(dv.getUint16(2 * i, true)))
    : Float64Array.from({ length: s.bytes / 4 }, (_, i) => dv.getFloat32(4 * i, true));
}

/** Each format's stated bound for element i (quantize.ts), from the scales stored in the tensor's bytes. */
function boundOf(layout: TensorLayout, bytes: Uint8Array, src: Float32Array): (i: number) => number {
  const { cols, format } = layout;
  const G = Math.ceil(cols / GROUP);
  const group = (i: number) => Math.floor(i / cols) * G + Math.floor((i % cols) / GROUP);
  const slack = (i: number) => 1e-7 * Math.abs(src[i]); // the final f32 rounding of the dequantized value
  switch (format) {
    case 'f32': return () => 0;
    case 'f16': return (i) => Math.max(Math.abs(src[i]) * 2 ** -11, 2 ** -25);
    case 'bf16': return () => 0; // every bf16 tensor here comes from a BF16 source, which bf16 holds exactly
    case 'q8':
    case 'q4': {
      const s = sectionValues(bytes, layout.scales!, 'f16');
      return (i) => s[group(i)] / 2 * (1 + 1e-6) + slack(i);
    }
    case 'fp8': {
      const s = sectionValues(bytes, layout.scales!, 'f32');
      const bc = Math.ceil(cols / FP8_BLOCK);
      return (i) => Math.max(Math.abs(src[i]) * 2 ** -4, s[Math.floor(Math.floor(i / cols) / FP8_BLOCK) * bc + Math.floor((i % cols) / FP8_BLOCK)] * 2 ** -10) * (1 + 1e-6);
    }
  }
}

/** Converts `dir`, then compares every tensor of the folder with the checkpoint's own f32 values. */
async function roundTrip(dir: string, quant: WeightFormat, shardBytes?: number): Promise<{ manifest: Manifest; out: string }> {
  const out = join(work, `out-${quant}-${Math.random().toString(36).slice(2)}`);
  const manifest = await convertCheckpoint(dir, out, { quant, shardBytes });
  const ckpt = await openCheckpoint(dir);
  const model = await openWebmoeModel(out);
  try {
    for (const t of manifest.tensors) {
      const bf16Router = t.kind === 'router' && ckpt.tensors.get(t.name)!.dtype === 'BF16';
      expect(t.format, t.name).toBe(t.kind === 'linear' || t.kind === 'embedding' ? quant : bf16Router ? 'bf16' : 'f32');
      const src = await ckpt.readF32(t.name);
      const got = await model.readF32(t.name);
      const layout = tensorLayout(t.format, t.shape);
      const bound = boundOf(layout, await model.read(t.name), src);
      let bad = -1;
      for (let i = 0; i < src.length && bad < 0; i++) if (!(Math.abs(got[i] - src[i]) <= bound(i))) bad = i;
      expect(bad, `${t.name} (${t.format}) element ${bad}: ${got[bad]} vs ${src[bad]}, bound ${bound(bad)}`).toBe(-1);
    }
  } finally {
    await ckpt.close();
    await model.close();
  }
  return { manifest, out };
}

describe('every format round-trips within its stated bound', () => {
  for (const quant of WEIGHT_FORMATS) {
    it(`BF16 checkpoint → ${quant}`, async () => {
      await roundTrip(bf16, quant);
    });
  }

  it('FP8 checkpoint → q4 (through the block-dequantized values)', async () => {
    await roundTrip(fp8, 'q4');
  });

  it('FP8 checkpoint → fp8 keeps the release bytes and scales bit-exact; BF16 embeddings become fp8', async () => {
    const { manifest, out } = await roundTrip(fp8, 'fp8');
    const ckpt = await openCheckpoint(fp8);
    const model = await openWebmoeModel(out);
    try {
      let exact = 0;
      for (const t of manifest.tensors) {
        const src = ckpt.tensors.get(t.name)!;
        if (src.dtype !== 'F8_E4M3') continue;
        const layout = tensorLayout('fp8', t.shape);
        const bytes = await model.read(t.name);
        const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0; // vitest's deep equality is slow on big arrays
        expect(same(bytes.subarray(layout.q.offset, layout.q.offset + layout.q.bytes), await ckpt.read(t.name)), t.name).toBe(true);
        expect(same(bytes.subarray(layout.scales!.offset, layout.scales!.offset + layout.scales!.bytes), await ckpt.read(`${t.name}_scale_inv`)), t.name).toBe(true);
        exact++;
      }
      expect(exact).toBeGreaterThan(50);
      expect(ckpt.tensors.get('lm_head.weight')!.dtype).toBe('BF16');
      expect(manifest.tensors.find((t) => t.name === 'lm_head.weight')!.format).toBe('fp8');
      expect(manifest.source.dtype).toBe('BF16+F8_E4M3'); // the output heads stay BF16 in FP8 releases
    } finally {
      await ckpt.close();
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
    manifest = await convertCheckpoint(bf16, out, { quant: 'q8', shardBytes });
  });

  it('orders main non-expert tensors, main experts (gate, up, down contiguous), then MTP tensors', () => {
    const c = manifest.model.config;
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
    await expectFailure(async (d) => {
      const { header } = await readHeader(join(d, SINGLE_FILE));
      const t = header['model.layers.3.shared_head.head.weight'] as { data_offsets: number[] };
      const headerBytes = 8 + Number(new DataView((await readFile(join(d, SINGLE_FILE))).buffer).getBigUint64(0, true));
      await patchBytes(join(d, SINGLE_FILE), headerBytes + t.data_offsets[0] + 2 * 100, new Uint8Array([0xc0, 0x7f]));
    }, '<dir>/model.safetensors', 'model.layers.3.shared_head.head.weight', 'non-finite');
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
