// Checks an exported HF folder against the engine's own model description: config.json must parse
// with parseHfConfig, and model.safetensors must hold exactly expectedTensors' names and shapes, with
// BF16 weights and an F32 e_score_correction_bias.
//   node --import tsx tools/train/check_tensors.mjs fixtures/trained/hf
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHfConfig } from '../../packages/webmoe/src/model/config.ts';
import { expectedTensors } from '../../packages/webmoe/src/model/tensors.ts';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: node --import tsx tools/train/check_tensors.mjs DIR');
  process.exit(2);
}
const config = parseHfConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'));
const file = readFileSync(join(dir, 'model.safetensors'));
const headerLen = Number(file.readBigUInt64LE(0));
const header = JSON.parse(file.subarray(8, 8 + headerLen).toString('utf8'));
delete header.__metadata__;

const problems = [];
const expected = expectedTensors(config);
for (const spec of expected) {
  const t = header[spec.name];
  if (!t) {
    problems.push(`missing ${spec.name}`);
    continue;
  }
  if (JSON.stringify(t.shape) !== JSON.stringify(spec.shape)) problems.push(`${spec.name}: shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(spec.shape)}`);
  const dtype = spec.kind === 'bias' ? 'F32' : 'BF16';
  if (t.dtype !== dtype) problems.push(`${spec.name}: dtype ${t.dtype}, expected ${dtype}`);
}
const names = new Set(expected.map((s) => s.name));
for (const name of Object.keys(header)) if (!names.has(name)) problems.push(`unexpected ${name}`);

const params = expected.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
console.log(`${config.modelType}: ${config.numLayers} layers (${config.layers.map((l) => l.ffn).join(', ')}), ` +
  `${expected.length} tensors, ${params} parameters, ${file.length} bytes`);
for (const p of problems) console.log(p);
console.log(problems.length ? `${problems.length} problem(s)` : 'tensors match expectedTensors');
process.exit(problems.length ? 1 : 0);
