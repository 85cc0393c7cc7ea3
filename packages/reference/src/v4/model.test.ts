// The V4 reference on the v4long golden checkpoint's weights (4 layers: window + hash routing, CSA + hash
// routing, HCA of 16, CSA; an MTP block): the decode state across chunks and rewinds, a long prompt, the
// routing tables, the MTP module fed incrementally, and malformed checkpoints named in their errors.
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createRng, isWebmoeError } from 'webmoe/model';
import { loadCheckpointWeights, loadReferenceModel } from '../load';
import { SafetensorsFolder } from '../safetensors';
import { writeSafetensors } from '../test-safetensors';
import { relativeError } from '../math';
import type { Tensor64, WeightSource } from '../weights';
import { v4Args } from './args';
import { V4ReferenceModel } from './model';

const dir = fileURLToPath(new URL('../../../../fixtures/golden/v4long', import.meta.url));
const config = JSON.parse(readFileSync(`${dir}/config.json`, 'utf8')) as Record<string, unknown>;
const args = v4Args(config);
const { source } = await loadCheckpointWeights(dir);
const rng = createRng(21);
const sequence = Array.from({ length: 150 }, () => rng.int(args.vocabSize));

/** A source with some tensors replaced or removed. */
function altered(changes: Record<string, Tensor64 | null>): WeightSource {
  return {
    has: (n) => (n in changes ? changes[n] !== null : source.has(n)),
    get: (n, shape) => {
      if (!(n in changes)) return source.get(n, shape);
      const t = changes[n];
      if (!t) throw new Error(`tensor ${n} is missing`);
      return t;
    },
  };
}

function errorOf(f: () => unknown): Error {
  try {
    f();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected an error');
}

describe('V4 reference model (v4long weights)', () => {
  it('gives the same rows fed whole, token by token, in chunks, or after rewinding', () => {
    const model = new V4ReferenceModel(args, source);
    const whole = model.forward(sequence, 0);
    expect(model.position).toBe(sequence.length);
    model.reset();
    const single = sequence.map((t, i) => model.forward([t], i)[0]);
    model.reset();
    const cuts = [0, 7, 8, 61, 62, 150];
    const chunks = cuts.slice(1).flatMap((end, k) => model.forward(sequence.slice(cuts[k], end), cuts[k]));
    for (let i = 0; i < sequence.length; i++) {
      expect(relativeError(single[i], whole[i])).toBe(0);
      expect(relativeError(chunks[i], whole[i])).toBe(0);
    }
    // rewind into the middle of a compressed block and of the window, then replay
    model.forward([1, 2, 3], 93);
    const again = model.forward(sequence.slice(93), 93);
    for (let i = 93; i < sequence.length; i++) expect(relativeError(again[i - 93], whole[i])).toBe(0);
    // a different first token changes the last row: the state is really used, well past the window
    model.reset();
    const other = model.forward([(sequence[0] + 1) % args.vocabSize, ...sequence.slice(1)], 0);
    expect(relativeError(other.at(-1)!, whole.at(-1)!)).toBeGreaterThan(1e-6);
  });

  it('runs a 2048-token prompt with the per-layer state its layer kinds imply', () => {
    const model = new V4ReferenceModel(args, source);
    const n = 2048;
    const prompt = Array.from({ length: n }, () => rng.int(args.vocabSize));
    const t0 = performance.now();
    const rows = model.forward(prompt, 0);
    console.log(`V4 reference: ${n}-token prompt in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    expect(rows.at(-1)!.every(Number.isFinite)).toBe(true);
    const [swa, csa, hca] = model.blocks.map((b) => b.attention);
    expect([swa.kind, csa.kind, hca.kind, model.blocks[3].attention.kind]).toEqual(['window', 'csa', 'hca', 'csa']);
    expect(swa.compressor).toBeNull();
    expect(csa.compressor!.entries.length).toBe(n / 4);
    expect(csa.indexer!.compressor.entries.length).toBe(n / 4);
    expect(csa.indexer!.lastScores.length).toBe(n / 4);
    expect(csa.lastSelected.length).toBe(args.indexTopk);
    expect(new Set(csa.lastSelected).size).toBe(args.indexTopk);
    const best = Math.min(...csa.lastSelected.map((b) => csa.indexer!.lastScores[b]));
    expect(csa.indexer!.lastScores.filter((s) => s > best).length).toBeLessThan(args.indexTopk);
    expect(hca.compressor!.entries.length).toBe(n / 16);
    expect(hca.lastSelected.length).toBe(n / 16);
  });

  it('routes the hash layers by tid2eid and the others by score + bias, weights renormalized and scaled', () => {
    const model = new V4ReferenceModel(args, source);
    const tokens = sequence.slice(0, 20);
    model.forward(tokens, 0);
    for (let l = 0; l < args.nLayers; l++) {
      model.lastRouting[l].forEach((r, i) => {
        expect(r.weights.reduce((a, b) => a + b, 0)).toBeCloseTo(args.routeScale, 12);
        if (l < args.nHashLayers) {
          const table = source.get(`layers.${l}.ffn.gate.tid2eid`).data;
          expect(r.experts).toEqual(Array.from(table.subarray(tokens[i] * 3, tokens[i] * 3 + 3)));
        } else {
          expect(new Set(r.experts).size).toBe(args.nActivatedExperts);
        }
      });
    }
  });

  it('drafts with the MTP module, incrementally as well as in one go', () => {
    const model = new V4ReferenceModel(args, source, { mtp: true });
    const seq = sequence.slice(0, 40);
    model.forward(seq.slice(0, -1), 0);
    const whole = model.mtpForward(seq.slice(1));
    model.reset();
    const stepwise = seq.slice(0, -1).map((t, i) => {
      model.forward([t], i);
      return model.mtpForward([seq[i + 1]])[0];
    });
    stepwise.forEach((row, i) => expect(relativeError(row, whole[i])).toBe(0));
    // rewinding the main model rewinds the MTP module's state with it
    model.forward(seq.slice(20, -1), 20);
    model.mtpForward(seq.slice(21)).forEach((row, i) => expect(relativeError(row, whole[20 + i])).toBe(0));
    expect(() => new V4ReferenceModel(v4Args({ ...config, num_nextn_predict_layers: 0, compress_ratios: [0, 4, 16, 4] }), source, { mtp: true })).toThrow(/no MTP layer/);
    expect(() => new V4ReferenceModel(args, source).mtpForward([1])).toThrow(/options\.mtp/);
  });

  it('rejects tokens outside the vocabulary and a start past the state', () => {
    const model = new V4ReferenceModel(args, source);
    model.forward([3, 4], 0);
    expect(() => model.forward([args.vocabSize], 2)).toThrow(/outside the vocabulary/);
    expect(isWebmoeError(errorOf(() => model.forward([1], 3)), 'invalid-request')).toBe(true);
    expect(model.position).toBe(2);
  });
});

describe('malformed V4 checkpoints', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'webmoe-reference-v4-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('names FP4 expert scales of the wrong size in a release-format checkpoint', async () => {
    const release = fileURLToPath(new URL('../../../../fixtures/golden/v4fp8', import.meta.url));
    const files = new SafetensorsFolder(release);
    const broken = 'layers.2.ffn.experts.5.w2.scale'; // [96, 1]: one E8M0 scale per 32 of a 32-wide row
    writeSafetensors(join(tmp, 'model.safetensors'), [...files.tensors.values()].map((t) => (t.name === broken
      ? { name: t.name, dtype: t.dtype, shape: [96, 2], bytes: new Uint8Array(192).fill(127) }
      : { name: t.name, dtype: t.dtype, shape: t.shape, bytes: files.bytes(t) })));
    copyFileSync(join(release, 'config.json'), join(tmp, 'config.json'));
    const e = await loadReferenceModel(tmp).then(() => new Error('loaded'), (err: Error) => err);
    expect(isWebmoeError(e, 'model-format')).toBe(true);
    expect(e.message).toMatch(/tensor layers\.2\.ffn\.experts\.5\.w2\.scale \(the scales of layers\.2\.ffn\.experts\.5\.w2\.weight, I8 \[96, 16\]\) is F8_E8M0 \[96, 2\], expected \[96, 1\]/);
  });

  it('names a missing tid2eid table', () => {
    const e = errorOf(() => new V4ReferenceModel(args, altered({ 'layers.1.ffn.gate.tid2eid': null })));
    expect(isWebmoeError(e, 'model-format')).toBe(true);
    expect(e.message).toMatch(/tensor layers\.1\.ffn\.gate\.tid2eid is missing \(layers below num_hash_layers = 2 route by this/);
  });

  it('names a tid2eid entry that is not an expert', () => {
    const table = source.get('layers.0.ffn.gate.tid2eid');
    const data = table.data.slice();
    data[7] = args.nRoutedExperts;
    expect(() => new V4ReferenceModel(args, altered({ 'layers.0.ffn.gate.tid2eid': { shape: table.shape, data } })))
      .toThrow(/layers\.0\.ffn\.gate\.tid2eid: entry \[2, 1\] is 8, not an expert id in \[0, 8\)/);
  });

  it('names compressor tensors of the wrong shape', () => {
    // layer 2 is HCA (ratio 16, single width); a CSA-shaped (overlapping, double width) compressor does not fit
    const csaShaped = { shape: [160, 96], data: new Float64Array(160 * 96) };
    expect(() => new V4ReferenceModel(args, altered({ 'layers.2.attn.compressor.wkv.weight': csaShaped })))
      .toThrow(/tensor layers\.2\.attn\.compressor\.wkv\.weight has shape \[160, 96\].*expected \[80, 96\]/);
    const ape = { shape: [4, 160], data: new Float64Array(640) };
    expect(() => new V4ReferenceModel(args, altered({ 'layers.2.attn.compressor.ape': ape })))
      .toThrow(/tensor layers\.2\.attn\.compressor\.ape has shape \[4, 160\].*expected \[16, 80\]/);
    const indexerApe = { shape: [4, 32], data: new Float64Array(128) };
    expect(() => new V4ReferenceModel(args, altered({ 'layers.3.attn.indexer.compressor.ape': indexerApe })))
      .toThrow(/tensor layers\.3\.attn\.indexer\.compressor\.ape has shape \[4, 32\].*expected \[4, 64\]/);
  });

  it('names config fields that do not fit', () => {
    const bad = (patch: Record<string, unknown>) => errorOf(() => v4Args({ ...config, ...patch }));
    const short = bad({ compress_ratios: [0, 4, 16, 4] });
    expect(isWebmoeError(short, 'model-format')).toBe(true);
    expect(short.message).toMatch(/field "compress_ratios" has 4 entries; it needs one per layer: num_hidden_layers \(4\) \+ num_nextn_predict_layers \(1\) = 5/);
    expect(bad({ compress_ratios: [0, 4, 16, 4, 0, 0] }).message).toMatch(/has 6 entries/);
    expect(bad({ compress_ratios: [0, 4, -1, 4, 0] }).message).toMatch(/compress_ratios\[2\]/);
    expect(bad({ index_head_dim: 48 }).message).toMatch(/index_head_dim.*power of two/);
    expect(bad({ o_groups: 3 }).message).toMatch(/o_groups.*must divide num_attention_heads/);
    expect(bad({ kv_fp8_roundtrip: true, head_dim: 72 }).message).toMatch(/head_dim.*multiple of 64/);
    expect(bad({ n_shared_experts: 2 }).message).toMatch(/n_shared_experts/);
    expect(bad({ routed_scaling_factor: undefined }).message).toMatch(/routed_scaling_factor" is missing/);
    expect(bad({ model_type: 'deepseek_v3' }).message).toMatch(/read it with referenceArgs/);
  });
});
