// `webmoe convert model.gguf <out>`: a deepseek2 GGUF file into a webmoe model folder. The tensors go
// through the converter's own writer (convert.ts writeModelFolder) from a checkpoint view of the file
// (gguf-checkpoint.ts); the tokenizer files are made from the GGUF metadata (gguf-tokenizer.ts).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Manifest } from 'webmoe/model';
import { checkOutputFolder, writeModelFolder, type ConvertOptions } from './convert';
import { openGgufCheckpoint } from './gguf-checkpoint';
import { ggufTokenizer } from 'webmoe/model';

export function isGgufPath(path: string): boolean {
  return path.toLowerCase().endsWith('.gguf');
}

/**
 * Converts a GGUF file into the model folder `outDir`. Matrices keep the file's own format (its blocks
 * copied as they are); `quant` only names the folder's main format and defaults to it. The MTP modules
 * are not read (`mtp` must not be set).
 */
export async function convertGguf(file: string, outDir: string, options: Omit<ConvertOptions, 'mtp'> = {}): Promise<Manifest> {
  const step = options.onStep ?? (() => {});
  await checkOutputFolder(outDir, options.force);
  const ckpt = await openGgufCheckpoint(file);
  let tokDir: string | null = null;
  try {
    const types = new Set(ckpt.header.tensors.map((t) => t.type));
    step(`GGUF ${file}: v${ckpt.header.version}, ${ckpt.header.tensors.length} tensors (${[...types].join(', ')}), ${ckpt.config.numLayers} layers`);
    const tok = ggufTokenizer(ckpt.header, file);
    if (tok) {
      tokDir = await mkdtemp(join(tmpdir(), 'webmoe-gguf-tokenizer-'));
      for (const [name, json] of Object.entries(tok)) await writeFile(join(tokDir, name), `${JSON.stringify(json, null, 1)}\n`);
    }
    return await writeModelFolder(ckpt, outDir, { ...options, quant: options.quant ?? ckpt.mainFormat, mtp: false }, {
      expected: ckpt.expected, mtp: false, tokenizerDir: tokDir,
      source: { name: basename(file), dtype: [...types].sort().join('+'), files: [basename(file)] },
    });
  } finally {
    await ckpt.close();
    if (tokDir) await rm(tokDir, { recursive: true, force: true });
  }
}
