// Test models for the whole-model specs: seeded random checkpoints in the Hugging Face layout, converted
// into webmoe folders, written under e2e/generated/ (git-ignored) and served by the test server. Made
// once and reused while the generator's inputs and the converter's version are unchanged.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CONVERTER_VERSION, convertCheckpoint, generateCheckpoint } from '@webmoe/converter';
import type { WeightFormat } from 'webmoe/model';

export const GENERATED = join(dirname(fileURLToPath(import.meta.url)), '..', 'generated');

export interface TestModel {
  /** Hugging Face checkpoint folder. */
  hf: string;
  /** URL path of the converted folder for a quant, under the test server. */
  url(quant: WeightFormat): string;
}

/** Generates `name` from a preset (once) and converts it to each of `quants` (once each). */
export async function testModel(name: string, preset: string, opts: { fp8?: boolean; mtp?: boolean; seed?: number }, quants: WeightFormat[]): Promise<TestModel> {
  const hf = join(GENERATED, name, 'hf');
  const stamp = join(GENERATED, name, 'options.json');
  const want = JSON.stringify({ preset, ...opts });
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== want) {
    mkdirSync(dirname(stamp), { recursive: true });
    await generateCheckpoint(hf, { config: preset, seed: opts.seed ?? 1, fp8: opts.fp8 ?? false, mtp: opts.mtp ?? true, force: true });
    for (const q of ['f32', 'f16', 'q8', 'q4', 'fp8', 'bf16']) {
      const out = join(GENERATED, name, q);
      if (existsSync(out)) await convertCheckpoint(hf, out, { quant: q as WeightFormat, force: true });
    }
    writeFileSync(stamp, want);
  }
  for (const q of quants) {
    const out = join(GENERATED, name, q);
    // Reconverted when missing or made by another converter version (manifest.json `converterVersion`).
    const manifest = join(out, 'manifest.json');
    const current = existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { converterVersion?: number }).converterVersion === CONVERTER_VERSION;
    if (!current) await convertCheckpoint(hf, out, { quant: q, force: true });
  }
  return { hf, url: (q) => `/e2e/generated/${name}/${q}/` };
}

/** ‖a − b‖ / ‖b‖. */
export { relativeError as relError } from '@webmoe/reference';
