import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE, expectedTensors, parseHfConfig, parseManifest } from 'webmoe/model';
import { generateModelFolder } from './generate-folder';
import { verifyModelFolder, openWebmoeModel } from './model-folder';
import { PRESETS, presetAtSmallSize as small } from './presets';
import { removeTempDirs, tempDir } from './test-helpers';

let work: string;
beforeAll(async () => {
  work = await tempDir('generate-folder');
});
afterAll(removeTempDirs);

describe('generateModelFolder', () => {
  it('the full presets have the published shapes', () => {
    const v2 = parseHfConfig(PRESETS['v2-lite-full'], 'v2-lite-full');
    const ml = parseHfConfig(PRESETS['moonlight-full'], 'moonlight-full');
    for (const c of [v2, ml]) {
      expect(c.family).not.toBe('v4');
      const params = expectedTensors(c).reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
      // DeepSeek-V2-Lite 15.7B, Moonlight 16.0B (model cards).
      expect(params / 1e9).toBeCloseTo(c === v2 ? 15.7 : 16.0, 0);
    }
    expect(PRESETS['v2-lite-full']).toMatchObject({ vocab_size: 102400, scoring_func: 'softmax', topk_method: 'greedy', q_lora_rank: null });
    expect(PRESETS['moonlight-full']).toMatchObject({ vocab_size: 163840, scoring_func: 'sigmoid', topk_method: 'noaux_tc', n_group: 1 });
  });

  for (const preset of ['v2-lite-full', 'moonlight-full']) {
    for (const quant of ['q4', 'q8'] as const) {
      it(`${preset} at small size, ${quant}: a valid folder with the config's tensors`, async () => {
        const dir = join(work, `${preset}-${quant}`);
        const hf = small(preset);
        // Small shards, so that tensors and experts are spread over several.
        await generateModelFolder(dir, { config: hf, seed: 3, quant, shardBytes: 64 * 1024 });
        const manifest = parseManifest(JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')));
        await verifyModelFolder(dir); // sizes and SHA-256 of every shard
        expect(manifest.shards.length).toBeGreaterThan(3);
        expect(manifest.tokenizer).toEqual([]);
        expect(manifest.model.hf).toEqual(hf);
        const expected = expectedTensors(parseHfConfig(hf, 'config'));
        // The manifest lists a layer's routed experts after the other tensors (contiguous experts), so compare as sets.
        const byName = (a: [string, number[]], b: [string, number[]]) => (a[0] < b[0] ? -1 : 1);
        expect(manifest.tensors.map((t): [string, number[]] => [t.name, t.shape]).sort(byName))
          .toEqual(expected.map((s): [string, number[]] => [s.name, s.shape]).sort(byName));
        expect(manifest.experts.length).toBe(2 * 8); // layers 1 and 2 are MoE layers
      });
    }
  }

  it('draws linear weights ~ N(0, 1/fan_in), embeddings ~ N(0, 1), norms near 1', async () => {
    const dir = join(work, 'stats');
    await generateModelFolder(dir, { config: small('v2-lite-full'), seed: 1, quant: 'f32' });
    const model = await openWebmoeModel(dir);
    try {
      const stats = (v: Float32Array) => {
        const mean = v.reduce((a, x) => a + x, 0) / v.length;
        return [mean, Math.sqrt(v.reduce((a, x) => a + (x - mean) ** 2, 0) / v.length)];
      };
      const check = async (name: string, mean: number, std: number) => {
        const v = await model.readF32(name);
        const [m, s] = stats(v);
        // Sampling error of n normal draws: the mean within 5σ/√n, the standard deviation within 5σ/√(2n).
        expect(Math.abs(m - mean)).toBeLessThan((5 * std) / Math.sqrt(v.length));
        expect(Math.abs(s / std - 1)).toBeLessThan(5 / Math.sqrt(2 * v.length));
      };
      await check('model.embed_tokens.weight', 0, 1);
      await check('model.layers.0.mlp.down_proj.weight', 0, 1 / Math.sqrt(112));
      await check('model.layers.1.mlp.experts.3.gate_proj.weight', 0, 1 / Math.sqrt(72));
      await check('model.layers.2.self_attn.kv_a_layernorm.weight', 1, 0.1);
      await check('model.norm.weight', 1, 0.1);
    } finally {
      await model.close();
    }
  });

  it('is deterministic in its seed', async () => {
    const hashes = async (name: string, seed: number) => {
      const dir = join(work, name);
      return (await generateModelFolder(dir, { config: small('moonlight-full'), seed, quant: 'q4' })).shards.map((s) => s.sha256);
    };
    const [a, b, c] = [await hashes('s1', 7), await hashes('s2', 7), await hashes('s3', 8)];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('refuses an existing folder without force, and an unknown preset', async () => {
    const dir = join(work, 'exists');
    await generateModelFolder(dir, { config: small('v2-lite-full'), quant: 'q4' });
    await expect(generateModelFolder(dir, { config: small('v2-lite-full'), quant: 'q4' })).rejects.toThrow(/already exists/);
    await expect(generateModelFolder(join(work, 'none'), { config: 'no-such-preset', quant: 'q4' })).rejects.toThrow(/unknown preset "no-such-preset"/);
  });
});
