import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expectedTensors, parseHfConfig } from 'webmoe/model';
import { generateCheckpoint } from './generate';
import { PRESETS } from './presets';
import { SINGLE_FILE, openCheckpoint } from './safetensors';
import { checkCheckpointTensors } from './validate';
import { removeTempDirs, tempDir } from './test-helpers';

const GOLDEN = fileURLToPath(new URL('../../../fixtures/golden/', import.meta.url));

let work: string;
beforeAll(async () => {
  work = await tempDir('generate');
});
afterAll(removeTempDirs);

describe('generateCheckpoint', () => {
  it('the tiny presets are the golden fixtures\' configs', async () => {
    expect(PRESETS['v3-tiny']).toEqual(JSON.parse(await readFile(join(GOLDEN, 'v3/config.json'), 'utf8')));
    expect(PRESETS['v2lite-tiny']).toEqual(JSON.parse(await readFile(join(GOLDEN, 'v2lite/config.json'), 'utf8')));
    // v4-tiny: the FP8 golden's config without its release-format keys, which the generator adds with fp8.
    const { expert_dtype: _e, quantization_config: _q, ...v4 } = JSON.parse(await readFile(join(GOLDEN, 'v4fp8/config.json'), 'utf8'));
    expect(PRESETS['v4-tiny']).toEqual(v4);
    const { kv_fp8_roundtrip: _k, ...long } = JSON.parse(await readFile(join(GOLDEN, 'v4long/config.json'), 'utf8'));
    expect(PRESETS['v4-tiny']).toEqual(long);
  });

  it('is deterministic in its seed', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((n) => join(work, n));
    await generateCheckpoint(a, { config: 'v3-tiny', seed: 5 });
    await generateCheckpoint(b, { config: 'v3-tiny', seed: 5 });
    await generateCheckpoint(c, { config: 'v3-tiny', seed: 6 });
    const bytes = (d: string) => readFile(join(d, SINGLE_FILE));
    expect(Buffer.compare(await bytes(a), await bytes(b))).toBe(0);
    expect(Buffer.compare(await bytes(a), await bytes(c))).not.toBe(0);
  });

  it('writes FP8 checkpoints as DeepSeek releases them, with scales as they would be', async () => {
    const dir = join(work, 'fp8');
    const hf = await generateCheckpoint(dir, { config: 'v3-small', seed: 1, fp8: true });
    expect(hf.quantization_config).toMatchObject({ quant_method: 'fp8', fmt: 'e4m3', weight_block_size: [128, 128] });
    const ckpt = await openCheckpoint(dir);
    try {
      checkCheckpointTensors(ckpt);
      for (const spec of expectedTensors(ckpt.config)) {
        const t = ckpt.tensors.get(spec.name)!;
        const head = spec.name === 'lm_head.weight' || spec.name.endsWith('shared_head.head.weight');
        const want = spec.kind === 'linear' && !head ? 'F8_E4M3' : spec.kind === 'bias' ? 'F32' : 'BF16';
        expect(t.dtype, spec.name).toBe(want);
        if (want === 'F8_E4M3') {
          const s = ckpt.tensors.get(`${spec.name}_scale_inv`)!;
          expect(s.dtype).toBe('F32');
          expect(s.shape).toEqual([Math.ceil(spec.shape[0] / 128), Math.ceil(spec.shape[1] / 128)]);
        }
      }
      // Several blocks, the largest |e4m3| of each block reaching 448 (scale = amax/448).
      const name = 'model.layers.0.mlp.down_proj.weight'; // [264, 400]: 3×4 blocks
      const q = await ckpt.read(name);
      const blockMax = new Array(12).fill(0);
      for (let i = 0; i < 264; i++) {
        for (let j = 0; j < 400; j++) {
          const b = q[i * 400 + j] & 0x7f;
          blockMax[(i >> 7) * 4 + (j >> 7)] = Math.max(blockMax[(i >> 7) * 4 + (j >> 7)], b);
        }
      }
      expect(blockMax).toEqual(new Array(12).fill(0x7e));
    } finally {
      await ckpt.close();
    }
  });

  it('keeps activations O(1): weights ~ N(0, 1/fan_in), norms near 1, MTP heads equal to the main ones', async () => {
    const dir = join(work, 'scale');
    await generateCheckpoint(dir, { config: 'v3-small', seed: 2 });
    const ckpt = await openCheckpoint(dir);
    try {
      const rms = (v: Float32Array) => Math.sqrt(v.reduce((a, x) => a + x * x, 0) / v.length);
      const w = await ckpt.readF32('model.layers.1.self_attn.o_proj.weight'); // fan_in 128
      expect(rms(w) * Math.sqrt(128)).toBeCloseTo(1, 1);
      const n = await ckpt.readF32('model.layers.1.input_layernorm.weight');
      expect(n.every((x) => x > 0.5 && x < 1.5)).toBe(true);
      expect(rms(await ckpt.readF32('model.embed_tokens.weight'))).toBeCloseTo(1, 1);
      expect(Buffer.compare(await ckpt.read('lm_head.weight'), await ckpt.read('model.layers.3.shared_head.head.weight'))).toBe(0);
      expect(Buffer.compare(await ckpt.read('model.embed_tokens.weight'), await ckpt.read('model.layers.3.embed_tokens.weight'))).toBe(0);
    } finally {
      await ckpt.close();
    }
  });

  it('drops MTP layers on request', async () => {
    const dir = join(work, 'nomtp');
    const hf = await generateCheckpoint(dir, { config: 'v3-tiny', seed: 1, mtp: false });
    expect(parseHfConfig(hf).numMtpLayers).toBe(0);
    const ckpt = await openCheckpoint(dir);
    expect([...ckpt.tensors.keys()].some((n) => n.startsWith('model.layers.3.'))).toBe(false);
    await ckpt.close();
  });
});
