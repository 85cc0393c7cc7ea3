import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TextTokenizer } from 'webmoe';
import { decodeF64, ggufTokenizer, isWebmoeError, parseGgufHeader, tokenizerToGguf, writeGguf, type Manifest } from 'webmoe/model';
import { convertCheckpoint } from './convert';
import { openGgufCheckpoint } from './gguf-checkpoint';
import { convertGguf } from './gguf-convert';
import { exportGguf } from './gguf-export';
import { openWebmoeModel } from './model-folder';
import { removeTempDirs, tempDir } from './test-helpers';

const fixture = (p: string) => fileURLToPath(new URL(`../../../fixtures/${p}`, import.meta.url));
let work: string;
beforeAll(async () => {
  work = await tempDir('gguf');
});
afterAll(removeTempDirs);

/** Every tensor of a converted folder decoded by the float64 oracle, by name. */
async function folderValues(dir: string): Promise<{ manifest: Manifest; values: Map<string, Float64Array> }> {
  const m = await openWebmoeModel(dir);
  try {
    const values = new Map<string, Float64Array>();
    for (const t of m.manifest.tensors) values.set(t.name, decodeF64(t.format, t.shape, await m.read(t.name)));
    return { manifest: m.manifest, values };
  } finally {
    await m.close();
  }
}

describe('GGUF of a golden model, F32: the same model as its safetensors conversion', () => {
  for (const [name, splitKv] of [['v3', false], ['v3', true], ['v2lite', false]] as const) {
    it(`${name}${splitKv ? ' (kv_b as attn_k_b + attn_v_b)' : ''}: config and every tensor value equal`, async () => {
      const gguf = join(work, `${name}-${splitKv}-f32.gguf`);
      await exportGguf(fixture(`golden/${name}`), gguf, { type: 'F32', splitKv });
      const fromGguf = join(work, `${name}-${splitKv}-gguf`);
      const fromSt = join(work, `${name}-${splitKv}-st`);
      await convertGguf(gguf, fromGguf);
      await convertCheckpoint(fixture(`golden/${name}`), fromSt, { quant: 'f32' });
      const a = await folderValues(fromGguf);
      const b = await folderValues(fromSt);
      expect(a.manifest.quant).toBe('f32');
      expect({ ...a.manifest.model.config, numMtpLayers: 0 }).toEqual({ ...b.manifest.model.config, numMtpLayers: 0 });
      expect([...a.values.keys()].sort()).toEqual([...b.values.keys()].sort());
      for (const [t, v] of a.values) expect(Array.from(v), t).toEqual(Array.from(b.values.get(t)!));
      // Linear matrices are copied as F32 rows; the router, F32 in the GGUF, is f32 (BF16 in the checkpoint: bf16).
      const formats = new Set(a.manifest.tensors.filter((t) => t.kind === 'linear').map((t) => t.format));
      expect([...formats]).toEqual(['f32']);
    });
  }
});

describe('GGUF with quantized blocks', () => {
  it('Q8_0: matrices whose width holds whole blocks keep their blocks bit for bit; the rest fall back to F32', async () => {
    const gguf = join(work, 'v3-q8_0.gguf');
    await exportGguf(fixture('golden/v3'), gguf, { type: 'Q8_0' });
    const out = join(work, 'v3-q8_0');
    const manifest = await convertGguf(gguf, out);
    const header = parseGgufHeader(new Uint8Array(await readFile(gguf)));
    const bytes = new Uint8Array(await readFile(gguf));
    const m = await openWebmoeModel(out);
    try {
      const q = manifest.tensors.find((t) => t.name === 'model.layers.0.self_attn.q_a_proj.weight')!;
      expect(q.format).toBe('q8_0');
      const info = header.tensors.find((t) => t.name === 'blk.0.attn_q_a.weight')!;
      expect((await m.read(q.name)).subarray(0, info.bytes)).toEqual(bytes.subarray(header.dataOffset + info.offset, header.dataOffset + info.offset + info.bytes));
      // kv_lora_rank 24 is not a whole block of 32: F32.
      expect(manifest.tensors.find((t) => t.name === 'model.layers.0.self_attn.kv_b_proj.weight')!.format).toBe('f32');
      // Expert 5 of layer 1: its slice of the stacked ffn_up_exps, decoded the same by the oracle from both files.
      const e = manifest.tensors.find((t) => t.name === 'model.layers.1.mlp.experts.5.up_proj.weight')!;
      expect(e.format).toBe('q8_0');
      const stacked = header.tensors.find((t) => t.name === 'blk.1.ffn_up_exps.weight')!;
      const slice = stacked.bytes / stacked.dims[2];
      const at = header.dataOffset + stacked.offset + 5 * slice;
      const want = decodeF64('q8_0', e.shape, Uint8Array.from({ length: Math.ceil(slice / 16) * 16 }, (_, i) => (i < slice ? bytes[at + i] : 0)));
      expect(Array.from(decodeF64('q8_0', e.shape, await m.read(e.name)))).toEqual(Array.from(want));
    } finally {
      await m.close();
    }
  });

  for (const [type, format] of [['F16', 'f16'], ['BF16', 'bf16'], ['Q4_0', 'q4_0']] as const) {
    it(`${type}: matrices are ${format}, their rows copied as stored; expert slices of the stacked tensor`, async () => {
      const gguf = join(work, `v2lite-${type}.gguf`);
      await exportGguf(fixture('golden/v2lite'), gguf, { type });
      const manifest = await convertGguf(gguf, join(work, `v2lite-${type}`));
      const bytes = new Uint8Array(await readFile(gguf));
      const header = parseGgufHeader(bytes);
      const m = await openWebmoeModel(join(work, `v2lite-${type}`));
      try {
        for (const [hfName, ggufName, part, parts] of [
          ['model.embed_tokens.weight', 'token_embd.weight', 0, 1],
          ['model.layers.1.mlp.experts.3.gate_proj.weight', 'blk.1.ffn_gate_exps.weight', 3, 6],
        ] as const) {
          const t = manifest.tensors.find((x) => x.name === hfName)!;
          expect(t.format, hfName).toBe(format);
          const info = header.tensors.find((x) => x.name === ggufName)!;
          const n = info.bytes / parts;
          const from = header.dataOffset + info.offset + part * n;
          expect((await m.read(hfName)).subarray(0, n), hfName).toEqual(bytes.subarray(from, from + n));
        }
      } finally {
        await m.close();
      }
    });
  }

  it('refuses another architecture and a truncated file, naming them', async () => {
    const gguf = join(work, 'v3-f32-bad.gguf');
    await exportGguf(fixture('golden/v3'), gguf, { type: 'F32', metadata: { 'general.architecture': 'llama' } });
    await expect(convertGguf(gguf, join(work, 'bad'))).rejects.toThrow(/general.architecture is "llama"/);
    const ok = join(work, 'v3-f32-trunc.gguf');
    await exportGguf(fixture('golden/v3'), ok, { type: 'F32' });
    const { truncate } = await import('node:fs/promises');
    const size = (await readFile(ok)).byteLength;
    await truncate(ok, size - 100);
    const err = await openGgufCheckpoint(ok).catch((e: unknown) => e);
    expect(isWebmoeError(err) && err.message).toMatch(/past the end of the file/);
  });
});

describe('tokenizer from GGUF metadata', () => {
  it('the trained model: tokenizer.json from tokens, merges and the pre-tokenizer encodes as the original; chat template and BOS/EOS kept', async () => {
    const hf = fixture('trained/hf');
    const tj = JSON.parse(await readFile(join(hf, 'tokenizer.json'), 'utf8'));
    const tc = JSON.parse(await readFile(join(hf, 'tokenizer_config.json'), 'utf8'));
    const gguf = join(work, 'trained.gguf');
    await exportGguf(hf, gguf, { type: 'F32', metadata: tokenizerToGguf(tj, tc, 'gpt-2') });
    const out = join(work, 'trained');
    const manifest = await convertGguf(gguf, out);
    expect(manifest.tokenizer.map((f) => f.file).sort()).toEqual(['tokenizer.json', 'tokenizer_config.json']);
    const gj = JSON.parse(await readFile(join(out, 'tokenizer.json'), 'utf8'));
    const gc = JSON.parse(await readFile(join(out, 'tokenizer_config.json'), 'utf8'));
    expect(gc.chat_template).toBe(tc.chat_template);
    const a = TextTokenizer.fromJson(tj, tc);
    const b = TextTokenizer.fromJson(gj, gc);
    for (const text of ['In the beginning God created the heaven and the earth.', '  And   thou shalt 42 times, 1234567 days!\n\nAmen? ', 'héllo wörld — “quotes” ']) {
      expect(b.encode(text), text).toEqual(a.encode(text));
    }
    const chat = [{ role: 'user' as const, content: 'Who begat Enos?' }];
    expect(b.encodeChat(chat)).toEqual(a.encodeChat(chat));
  });

  it('DeepSeek\'s pre-tokenizers (deepseek-v3, deepseek-llm) load and round-trip text; V3 never joins more than three digits; unknown ones are refused', async () => {
    const hf = fixture('trained/hf');
    const tj = JSON.parse(await readFile(join(hf, 'tokenizer.json'), 'utf8'));
    const tc = JSON.parse(await readFile(join(hf, 'tokenizer_config.json'), 'utf8'));
    const header = (pre: string) => parseGgufHeader(writeGguf(tokenizerToGguf(tj, tc, pre), []));
    const text = 'Verse 1234567: the LORD said, “Let there be light”;\n\n日本語のテキスト  and   Ελληνικά 42';
    for (const pre of ['deepseek-v3', 'deepseek-llm']) {
      const files = ggufTokenizer(header(pre), 'test.gguf')!;
      const t = TextTokenizer.fromJson(files['tokenizer.json'], files['tokenizer_config.json']);
      const ids = t.encode(text);
      expect(t.decode(ids), pre).toBe(text);
      if (pre === 'deepseek-v3') {
        const pieces = ids.map((id) => t.decode([id]));
        expect(pieces.some((p) => /\d{4}/.test(p)), pieces.join('|')).toBe(false);
      }
    }
    expect(() => ggufTokenizer(header('qwen2'), 'test.gguf')).toThrow(/tokenizer.ggml.pre is "qwen2"/);
  });
});
