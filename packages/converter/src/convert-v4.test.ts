// DeepSeek-V4 checkpoints as released (the goldens in fixtures/golden/v4fp8 and v4long, and generated ones):
// conversion to every format, bit-exact FP8/FP4 passthrough, the manifest, and malformed checkpoints.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_FILE, isWebmoeError, parseManifest, tensorLayout, type V4Config, type WeightFormat } from 'webmoe/model';
import { convertCheckpoint } from './convert';
import { generateCheckpoint } from './generate';
import { PRESETS } from './presets';
import { openWebmoeModel } from './model-folder';
import { SINGLE_FILE } from './safetensors';
import { copyDir, outputsOf, patchTensorBytes, rawTensors, removeTempDirs, rewriteHeader, tempDir } from './test-helpers';
import { convertAndCompare } from './round-trip.test-helper';

const GOLDEN = fileURLToPath(new URL('../../../fixtures/golden/', import.meta.url));
const V4FP8 = join(GOLDEN, 'v4fp8');
const V4LONG = join(GOLDEN, 'v4long');

let work: string;
beforeAll(async () => {
  work = await tempDir('convert-v4');
});
afterAll(removeTempDirs);

let n = 0;
const convert = (dir: string, quant: WeightFormat, options: { mtp?: boolean } = {}) => convertAndCompare(dir, join(work, `out-${n++}`), quant, options);
const same = (a: Uint8Array, b: Uint8Array) => Buffer.compare(a, b) === 0;

describe('the FP8/FP4 release golden (v4fp8)', () => {
  it('→ fp8 keeps every FP8 linear and FP4 expert bit for bit, and everything else at its own precision', async () => {
    const { manifest, out } = await convert(V4FP8, 'fp8', { mtp: true });
    const raw = await rawTensors(V4FP8);
    const model = await openWebmoeModel(out);
    const counts: Record<string, number> = {};
    try {
      for (const t of manifest.tensors) {
        const src = raw.get(t.name)!;
        const bytes = await model.read(t.name);
        const layout = tensorLayout(t.format, t.shape);
        const q = bytes.subarray(0, layout.q.bytes);
        const scales = layout.scales && bytes.subarray(layout.scales.offset, layout.scales.offset + layout.scales.bytes);
        const key = `${src.dtype}→${t.format}`;
        counts[key] = (counts[key] ?? 0) + 1;
        const scale = raw.get(t.name.replace(/\.weight$/, '.scale'));
        switch (key) {
          case 'F8_E4M3→fp8':
            expect(same(q, src.bytes), t.name).toBe(true);
            // E8M0 byte b becomes the f32 2^(b − 127): the f32 bit pattern b << 23 (b ≥ 1).
            expect(Array.from(new Uint32Array(scales!.slice().buffer)), t.name).toEqual(Array.from(scale!.bytes, (b) => b << 23));
            break;
          case 'I8→fp4': // the goldens' rows are whole groups of 32: the layouts coincide
            expect(same(q, src.bytes), t.name).toBe(true);
            expect(same(scales!, scale!.bytes), t.name).toBe(true);
            break;
          case 'BF16→bf16':
          case 'F32→f32':
            expect(same(q, src.bytes), t.name).toBe(true);
            break;
          case 'I64→u32':
            expect(Array.from(new Uint32Array(q.slice().buffer))).toEqual(Array.from(new BigInt64Array(src.bytes.slice().buffer), Number));
            break;
          case 'BF16→f32': // norms: exact (convertAndCompare checks every value)
            expect(t.kind).toBe('norm');
            break;
          default:
            throw new Error(`unexpected ${key} for ${t.name}`);
        }
      }
    } finally {
      await model.close();
    }
    // The golden: 4 layers + MTP, 8 experts each (3 matrices), 2 hash layers.
    expect(counts['I8→fp4']).toBe(5 * 8 * 3);
    expect(counts['I64→u32']).toBe(2);
    expect(counts['F8_E4M3→fp8']).toBeGreaterThan(30);
    const format = (name: string) => manifest.tensors.find((t) => t.name === name)!.format;
    expect(['embed.weight', 'head.weight', 'layers.1.attn.compressor.wkv.weight', 'layers.1.attn.indexer.weights_proj.weight', 'layers.2.ffn.gate.weight'].map(format)).toEqual(['bf16', 'bf16', 'bf16', 'bf16', 'bf16']);
    expect(['hc_head_fn', 'layers.0.attn.attn_sink', 'layers.1.attn.compressor.ape', 'layers.2.ffn.gate.bias', 'norm.weight'].map(format)).toEqual(['f32', 'f32', 'f32', 'f32', 'f32']);
    expect(manifest.source.dtype).toBe('BF16+F8_E4M3+I8');
  });

  it('→ f32 gives exactly the release\'s values (FP8 and FP4 times power-of-two scales are exact in f32)', async () => {
    const { rmsError, manifest } = await convert(V4FP8, 'f32');
    expect(rmsError).toBe(0);
    expect(manifest.tensors.filter((t) => t.kind === 'linear').every((t) => t.format === 'f32')).toBe(true);
  });

  // RMS errors measured when this test was written (10% margin): f16 and bf16 hold FP8 and FP4 values
  // times power-of-two scales exactly; fp4 keeps the experts and requantizes the FP8 linears.
  const MEASURED_RMS = { q8: 5.39e-3, q4: 8.06e-2, f16: 0, bf16: 0, fp4: 1.03e-1 };
  it.each(['q8', 'q4', 'f16', 'bf16', 'fp4'] as const)('→ %s requantizes the dequantized values within the format\'s bound', async (quant) => {
    const { rmsError } = await convert(V4FP8, quant);
    console.log(`v4fp8 → ${quant}: RMS relative error of linear and embedding weights ${rmsError.toExponential(2)}`);
    expect(rmsError).toBeLessThanOrEqual(MEASURED_RMS[quant] * 1.1);
  });

  it('keeps the manifest through a round trip, with the V4 description recomputed from its config', async () => {
    const { manifest, out } = await convert(V4FP8, 'fp8', { mtp: true });
    const text = await readFile(join(out, MANIFEST_FILE), 'utf8');
    const parsed = parseManifest(JSON.parse(text));
    expect(parsed).toEqual(manifest);
    const c = parsed.model.config as V4Config;
    expect(c.family).toBe('v4');
    expect(c.layers.map((l) => l.attention)).toEqual(['swa', 'csa', 'hca', 'csa']);
    expect(parsed.mtp).toBe(true);
    expect(parsed.experts.filter((e) => e.mtp).length).toBe(8);
    // Experts are contiguous w1, w3, w2 ranges.
    const e = parsed.experts.find((x) => x.layer === 2 && x.expert === 6)!;
    const t = (p: string) => parsed.tensors.find((x) => x.name === `layers.2.ffn.experts.6.${p}.weight`)!;
    expect(t('w1').offset).toBe(e.offset);
    expect(t('w3').offset).toBeGreaterThan(t('w1').offset);
    expect(t('w2').offset + t('w2').bytes).toBe(e.offset + e.bytes);
  });
});

describe('the BF16 long-context golden (v4long)', () => {
  it.each(['fp8', 'f32', 'q4'] as const)('→ %s', async (quant) => {
    const { manifest, rmsError } = await convert(V4LONG, quant);
    if (quant === 'f32') expect(rmsError).toBe(0);
    expect(manifest.mtp).toBe(false);
    expect(manifest.tensors.some((t) => t.name.startsWith('mtp.'))).toBe(false);
    expect((manifest.model.config as V4Config).kvFp8Roundtrip).toBe(false);
    if (quant === 'fp8') {
      const format = (name: string) => manifest.tensors.find((t) => t.name === name)!.format;
      expect([format('embed.weight'), format('head.weight'), format('layers.0.ffn.experts.3.w2.weight'), format('layers.3.attn.wq_b.weight')]).toEqual(['bf16', 'bf16', 'fp8', 'fp8']);
    }
  });
});

describe('generated V4 checkpoints (v4-tiny)', () => {
  it('FP8 like the release: same tensors, dtypes and shapes as the v4fp8 golden, converting bit for bit', async () => {
    const dir = join(work, 'gen-fp8');
    const hf = await generateCheckpoint(dir, { config: 'v4-tiny', seed: 3, fp8: true, shards: 2 });
    expect(hf).toEqual(JSON.parse(await readFile(join(V4FP8, 'config.json'), 'utf8')));
    const layout = (m: Map<string, { dtype: string; shape: number[] }>) => Object.fromEntries([...m].map(([k, v]) => [k, `${v.dtype} [${v.shape}]`]));
    expect(layout(await rawTensors(dir))).toEqual(layout(await rawTensors(V4FP8)));
    const { manifest } = await convert(dir, 'fp8', { mtp: true });
    expect(manifest.tensors.some((t) => t.format === 'fp4')).toBe(true);
  });

  it('FP4 experts whose rows are not whole groups of 32 (hidden 80, width 48) are re-padded into fp4\'s rows, exactly', async () => {
    const dir = join(work, 'gen-odd');
    await generateCheckpoint(dir, { config: { ...PRESETS['v4-tiny'], hidden_size: 80, moe_intermediate_size: 48 }, seed: 5, fp8: true });
    const raw = await rawTensors(dir);
    expect(raw.get('layers.0.ffn.experts.0.w1.weight')!.shape).toEqual([48, 40]);
    expect(raw.get('layers.0.ffn.experts.0.w1.scale')!.shape).toEqual([48, 3]);
    const { manifest } = await convert(dir, 'fp8');
    expect(manifest.tensors.find((t) => t.name === 'layers.0.ffn.experts.0.w2.weight')!.format).toBe('fp4');
    expect((await convert(dir, 'f32')).rmsError).toBe(0);
  });

  it('BF16 like v4long, without MTP on request', async () => {
    const dir = join(work, 'gen-bf16');
    const hf = await generateCheckpoint(dir, { config: 'v4-tiny', seed: 4, mtp: false });
    expect(hf.compress_ratios).toEqual([0, 4, 16, 4]);
    const golden = await rawTensors(V4LONG);
    const want = Object.fromEntries([...golden].filter(([k]) => !k.startsWith('mtp.')).map(([k, v]) => [k, `${v.dtype} [${v.shape}]`]));
    const got = await rawTensors(dir);
    expect(Object.fromEntries([...got].map(([k, v]) => [k, `${v.dtype} [${v.shape}]`]))).toEqual(want);
    // Token → expert tables hold k distinct experts per token.
    const table = new BigInt64Array(got.get('layers.1.ffn.gate.tid2eid')!.bytes.slice().buffer);
    for (let t = 0; t < 320; t++) expect(new Set(Array.from(table.subarray(3 * t, 3 * t + 3))).size).toBe(3);
    expect(Array.from(table).every((x) => x >= 0n && x < 8n)).toBe(true);
    await convert(dir, 'q8');
  });
});

describe('malformed V4 checkpoints fail at conversion, naming the tensor or field, leaving nothing behind', () => {
  async function expectFailure(change: (dir: string) => Promise<void>, ...names: string[]): Promise<void> {
    const dir = await copyDir(V4FP8, join(work, `bad-${n}`));
    await change(dir);
    const parent = join(work, `bad-out-${n++}`);
    await mkdir(parent);
    const out = join(parent, 'model');
    const e = await convertCheckpoint(dir, out, { quant: 'fp8', mtp: true }).then(() => null, (err: unknown) => err);
    expect(isWebmoeError(e, 'model-format'), `expected a model-format WebmoeError, got ${e}`).toBe(true);
    for (const name of names) expect((e as Error).message).toContain(name.replace('<dir>', dir));
    expect(await outputsOf(out)).toEqual([]);
  }
  const header = (change: (h: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>) => void) =>
    (d: string) => rewriteHeader(join(d, SINGLE_FILE), (h) => change(h as never));
  const config = (change: (c: Record<string, unknown>) => void) => async (d: string) => {
    const c = JSON.parse(await readFile(join(d, 'config.json'), 'utf8'));
    change(c);
    await writeFile(join(d, 'config.json'), JSON.stringify(c));
  };

  it('a missing tid2eid', async () => {
    await expectFailure(header((h) => { delete h['layers.1.ffn.gate.tid2eid']; }), '<dir>/model.safetensors', 'layers.1.ffn.gate.tid2eid', 'missing');
  });

  it('a tid2eid of another dtype', async () => {
    await expectFailure(header((h) => {
      const t = h['layers.0.ffn.gate.tid2eid'];
      t.dtype = 'F32';
      t.shape = [320, 6];
    }), 'layers.0.ffn.gate.tid2eid', 'is F32', 'must be I64');
  });

  it('a tid2eid naming an expert that does not exist', async () => {
    await expectFailure((d) => patchTensorBytes(join(d, SINGLE_FILE), 'layers.0.ffn.gate.tid2eid', 8 * 7, new Uint8Array(new BigInt64Array([8n]).buffer)), 'layers.0.ffn.gate.tid2eid', 'row 2, column 1', 'not an expert id');
  });

  it('a compressor of the wrong shape', async () => {
    // CSA layers pool two overlapping halves: wkv is [2·head_dim, hidden]; an HCA-sized one is wrong here.
    await expectFailure(header((h) => {
      const t = h['layers.1.attn.compressor.wkv.weight'];
      t.shape = [80, 192];
    }), 'layers.1.attn.compressor.wkv.weight', '[80, 192]', '[160, 96]');
  });

  it('FP4 scales of the wrong size', async () => {
    await expectFailure(header((h) => {
      const s = h['layers.2.ffn.experts.4.w2.scale'];
      s.shape = [48, 2];
    }), 'layers.2.ffn.experts.4.w2.scale', '[48, 2]', 'expected [96, 1] F8_E8M0 scales per 32 columns');
  });

  it('missing FP8 block scales', async () => {
    await expectFailure(header((h) => { delete h['layers.3.attn.wo_b.scale']; }), 'layers.3.attn.wo_b.weight', '"layers.3.attn.wo_b.scale" are missing');
  });

  it('a NaN (E8M0 255) scale', async () => {
    await expectFailure((d) => patchTensorBytes(join(d, SINGLE_FILE), 'layers.1.ffn.experts.2.w1.scale', 5, new Uint8Array([255])), 'layers.1.ffn.experts.2.w1.scale', 'scale 5 is NaN');
  });

  it('a NaN E4M3 weight kept as released', async () => {
    await expectFailure((d) => patchTensorBytes(join(d, SINGLE_FILE), 'layers.0.attn.wq_a.weight', 96 + 3, new Uint8Array([0xff])), 'layers.0.attn.wq_a.weight', 'NaN (e4m3 0xff) at row 1, column 3');
  });

  it('a compress_ratios list of the wrong length', async () => {
    await expectFailure(config((c) => { c.compress_ratios = [0, 4, 16, 4]; }), '<dir>/config.json', 'compress_ratios', 'has 4 entries');
  });

  it('a layer kind that contradicts the tensors (HCA declared where the file holds a CSA indexer)', async () => {
    await expectFailure(config((c) => { c.compress_ratios = [0, 16, 16, 4, 0]; }), 'layers.1.attn.compressor.wkv.weight', '[160, 96]', '[80, 96]');
  });
});
