// The reference reads both kinds of model folder: Hugging Face checkpoints (BF16 or FP8, single or sharded)
// and converted webmoe folders, and gives the same numbers from both where the conversion is exact.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { convertCheckpoint, generateCheckpoint } from '@webmoe/converter';
import { referenceArgs } from './args';
import { loadReferenceModel, loadWeights, runReference } from './load';
import { ReferenceModel } from './model';
import { relativeError } from './math';

const goldenV3 = fileURLToPath(new URL('../../../fixtures/golden/v3', import.meta.url));
const goldenV4 = fileURLToPath(new URL('../../../fixtures/golden/v4fp8', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'webmoe-reference-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const prompt = [0, 17, 291, 92, 130, 224, 319];

describe('model folders', () => {
  it('a converted f32 webmoe folder gives exactly the checkpoint\'s logits (BF16 is exact in f32)', async () => {
    const out = join(tmp, 'v3-f32');
    await convertCheckpoint(goldenV3, out, { quant: 'f32', mtp: true });
    const loaded = await loadWeights(out);
    expect(loaded.folder).toBe('webmoe');
    const fromFolder = await runReference(out, prompt, 4);
    const fromCheckpoint = await runReference(goldenV3, prompt, 4);
    expect(fromFolder.tokens).toEqual(fromCheckpoint.tokens);
    fromFolder.logits.forEach((row, i) => expect(relativeError(row, fromCheckpoint.logits[i])).toBe(0));
    // the MTP module travels through the conversion too
    const model = new ReferenceModel(referenceArgs(loaded.config), loaded.source, { mtp: true });
    model.forward(prompt, 0);
    expect(model.mtpForward([...prompt.slice(1), 5]).length).toBe(prompt.length);
  });

  it('runs a sharded FP8 checkpoint, and its f32 and q8 conversions', async () => {
    const hf = join(tmp, 'v3-fp8');
    await generateCheckpoint(hf, { config: 'v3-tiny', fp8: true, shards: 2, seed: 3 });
    const ref = await runReference(hf, prompt, 4);
    expect(ref.logits.every((r) => r.every(Number.isFinite))).toBe(true);
    const f32 = join(tmp, 'v3-fp8-f32');
    await convertCheckpoint(hf, f32, { quant: 'f32' });
    const viaF32 = await runReference(f32, prompt, 4);
    // e4m3 × f32 scale rounded once to f32 by the conversion, exact in the checkpoint reader
    const errF32 = Math.max(...viaF32.logits.map((r, i) => relativeError(r, ref.logits[i])));
    expect(errF32).toBeLessThan(1e-6);
    const q8 = join(tmp, 'v3-fp8-q8');
    await convertCheckpoint(hf, q8, { quant: 'q8' });
    const viaQ8 = await runReference(q8, prompt, 4);
    const errQ8 = relativeError(viaQ8.logits[0], ref.logits[0]);
    console.log(`FP8 checkpoint → f32 folder: max row error ${errF32.toExponential(2)}; → q8 folder: first row ${errQ8.toExponential(2)}`);
    expect(errQ8).toBeGreaterThan(0);
    expect(errQ8).toBeLessThan(0.05);
  });

  it('a converted V4 folder (FP8 and FP4 weights kept as released, tid2eid as u32) runs exactly the release checkpoint', async () => {
    const out = join(tmp, 'v4-fp8');
    await convertCheckpoint(goldenV4, out, { quant: 'fp8', mtp: true });
    const loaded = await loadWeights(out);
    expect(loaded.folder).toBe('webmoe');
    expect(loaded.family).toBe('deepseek_v4');
    const fromFolder = await loadReferenceModel(out, { mtp: true });
    const fromCheckpoint = await loadReferenceModel(goldenV4, { mtp: true });
    const seq = [0, 17, 291, 92, 130, 224, 319, 5, 5, 64];
    const a = fromFolder.forward(seq, 0), b = fromCheckpoint.forward(seq, 0);
    a.forEach((row, i) => expect(relativeError(row, b[i])).toBe(0));
    const ma = fromFolder.mtpForward([...seq.slice(1), 3]), mb = fromCheckpoint.mtpForward([...seq.slice(1), 3]);
    ma.forEach((row, i) => expect(relativeError(row, mb[i])).toBe(0));
  });
});
