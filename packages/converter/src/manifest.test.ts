// parseManifest (webmoe/src/model/manifest.ts) on a real converted folder's manifest and broken variants.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MANIFEST_FILE, isWebmoeError, parseManifest, tensorLayout, type Manifest } from 'webmoe/model';
import { CONVERTER_VERSION, convertCheckpoint } from './convert';
import { removeTempDirs, tempDir } from './test-helpers';

const GOLDEN_V3 = fileURLToPath(new URL('../../../fixtures/golden/v3', import.meta.url));

let json: Manifest;

beforeAll(async () => {
  const out = join(await tempDir('manifest'), 'model');
  await convertCheckpoint(GOLDEN_V3, out, { quant: 'q4', shardBytes: 64 * 1024, mtp: true });
  json = JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8'));
});
afterAll(removeTempDirs);

type Mutable = Record<string, any>;

function broken(change: (m: Mutable) => void, ...names: string[]): void {
  const m = structuredClone(json) as Mutable;
  change(m);
  let error: unknown = null;
  try {
    parseManifest(m, 'models/x/manifest.json');
  } catch (e) {
    error = e;
  }
  expect(isWebmoeError(error, 'model-format'), `expected a model-format error, got ${error}`).toBe(true);
  const message = (error as Error).message;
  expect(message).toContain('models/x/manifest.json');
  for (const n of names) expect(message).toContain(n);
}

const index = (name: string) => json.tensors.findIndex((t) => t.name === name);

describe('parseManifest', () => {
  it('accepts the converter\'s manifest and recomputes the model description from the HF config', () => {
    const m = parseManifest(structuredClone(json));
    expect(m.model.config).toEqual(json.model.config);
    expect(m.tensors.length).toBe(135);
    expect(m.tensors.filter((t) => t.mtp).every((t) => t.layer === 3)).toBe(true);
  });

  it('rejects a wrong format or version', () => {
    broken((m) => { m.format = 'gguf'; }, '"format"');
    broken((m) => { m.version = 2; }, '"version"', '2');
  });

  it('keeps the converter version, and reads manifests written before it', () => {
    expect(parseManifest(structuredClone(json)).converterVersion).toBe(CONVERTER_VERSION);
    const old = structuredClone(json) as Mutable;
    delete old.converterVersion;
    expect(parseManifest(old)).not.toHaveProperty('converterVersion');
    broken((m) => { m.converterVersion = 'x'; }, '"converterVersion"');
  });

  it('rejects a tensor whose byte length disagrees with its format and shape', () => {
    const i = index('model.layers.0.self_attn.q_a_proj.weight');
    broken((m) => { m.tensors[i].bytes += 16; }, `tensors[${i}].bytes`, 'q_a_proj');
  });

  it('rejects an unaligned offset, a missing shard and a range past the shards\' end', () => {
    const i = index('model.norm.weight');
    broken((m) => { m.tensors[i].offset += 16; }, `tensors[${i}].offset`, 'aligned');
    broken((m) => { m.tensors[i].shard = 99; }, `tensors[${i}].shard`, 'does not exist');
    const last = json.tensors.length - 1;
    broken((m) => { m.tensors[last].offset = m.shards[m.tensors[last].shard].bytes; }, `tensors[${last}]`);
  });

  it('rejects a missing tensor, an extra one, and a norm that is not f32', () => {
    broken((m) => { m.tensors.splice(index('model.layers.2.mlp.gate.e_score_correction_bias'), 1); }, 'model.layers.2.mlp.gate.e_score_correction_bias');
    broken((m) => { m.tensors.push({ ...m.tensors[0], name: 'model.layers.9.extra.weight' }); }, 'model.layers.9.extra.weight');
    const i = index('model.norm.weight');
    broken((m) => { m.tensors[i].format = 'q4'; m.tensors[i].bytes = 128; }, 'model.norm.weight');
    broken((m) => { m.tensors[i].format = 'bf16'; m.tensors[i].bytes = tensorLayout('bf16', m.tensors[i].shape).bytes; }, 'model.norm.weight', 'must be f32');
    const j = index('model.layers.3.eh_proj.weight');
    broken((m) => { m.tensors[j].mtp = false; }, 'model.layers.3.eh_proj.weight', 'mtp');
  });

  it('accepts a bf16 router (the golden checkpoint\'s routers are BF16) and rejects a quantized one', () => {
    const r = json.tensors.findIndex((t) => t.kind === 'router');
    expect(json.tensors[r].format).toBe('bf16');
    broken((m) => { m.tensors[r].format = 'q8'; m.tensors[r].bytes = tensorLayout('q8', m.tensors[r].shape).bytes; }, json.tensors[r].name, 'f32 or bf16');
  });

  it('rejects an expert range that does not hold its three matrices in order', () => {
    broken((m) => { m.experts[2].offset += 256; }, 'experts[2]');
    broken((m) => { m.experts[2].bytes -= 256; }, 'experts[2]');
    broken((m) => { m.experts.pop(); }, 'experts', 'has no range for expert');
  });

  it('rejects shard entries that are not plain file names or lack a proper SHA-256', () => {
    broken((m) => { m.shards[0].file = '../../etc/passwd'; }, 'shards[0].file');
    broken((m) => { m.shards[0].sha256 = 'abc'; }, 'shards[0].sha256');
  });

  it('reads `mtp`: present tensors must match it; absent (older manifests, which always had MTP) means true', () => {
    expect(parseManifest(structuredClone(json)).mtp).toBe(true);
    const old = structuredClone(json) as Mutable;
    delete old.mtp;
    expect(parseManifest(old).mtp).toBe(true);
    broken((m) => { m.mtp = 'yes'; }, '"mtp"', 'true or false');
    broken((m) => { m.mtp = false; }, 'model.layers.3.', 'is not part of the model description');
    broken((m) => { m.tensors = m.tensors.filter((t: { mtp: boolean }) => !t.mtp); m.experts = m.experts.filter((e: { mtp: boolean }) => !e.mtp); }, 'model.layers.3.');
    const without = structuredClone(json) as Mutable;
    without.mtp = false;
    without.tensors = without.tensors.filter((t: { mtp: boolean }) => !t.mtp);
    without.experts = without.experts.filter((e: { mtp: boolean }) => !e.mtp);
    expect(parseManifest(without).tensors.length).toBe(json.tensors.filter((t) => !t.mtp).length);
  });

  it('rejects a model description with a missing field, naming it', () => {
    broken((m) => { delete m.model.hf.hidden_size; }, 'model.hf', 'hidden_size');
  });
});

describe('parseManifest on a DeepSeek-V4 folder', () => {
  let v4: Manifest;
  beforeAll(async () => {
    const out = join(await tempDir('manifest-v4'), 'model');
    await convertCheckpoint(fileURLToPath(new URL('../../../fixtures/golden/v4fp8', import.meta.url)), out, { quant: 'fp8' });
    v4 = JSON.parse(await readFile(join(out, MANIFEST_FILE), 'utf8'));
  });

  function brokenV4(change: (m: Mutable) => void, ...names: string[]): void {
    const m = structuredClone(v4) as Mutable;
    change(m);
    expect(() => parseManifest(m, 'models/v4/manifest.json')).toThrow(new RegExp(names.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*')));
  }
  const at = (name: string) => v4.tensors.findIndex((t) => t.name === name);

  it('accepts it, with fp4 experts, a u32 table and precise tensors', () => {
    const m = parseManifest(structuredClone(v4));
    expect(m.mtp).toBe(false);
    expect(new Set(m.tensors.map((t) => `${t.kind}:${t.format}`))).toEqual(new Set(['embedding:bf16', 'linear:bf16', 'linear:fp8', 'linear:fp4', 'norm:f32', 'precise:f32', 'precise:bf16', 'router:bf16', 'bias:f32', 'table:u32']));
  });

  it('rejects a table that is not u32, a precise tensor that is quantized, and an fp4 expert range out of order', () => {
    const t = at('layers.0.ffn.gate.tid2eid');
    brokenV4((m) => { m.tensors[t].format = 'f32'; }, 'layers.0.ffn.gate.tid2eid', 'a table tensor must be u32');
    const p = at('layers.1.attn.compressor.wkv.weight');
    brokenV4((m) => { m.tensors[p].format = 'q8'; m.tensors[p].bytes = tensorLayout('q8', m.tensors[p].shape).bytes; }, 'layers.1.attn.compressor.wkv.weight', 'f32 or bf16');
    brokenV4((m) => { m.experts[3].offset += 256; }, 'experts[3]');
  });
});
