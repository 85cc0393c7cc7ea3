// Checks a checkpoint's tensors against what its config.json implies: every expected tensor present with
// the implied shape and a dtype its kind allows, quantized weights with well-formed scales, and nothing else.
import { join } from 'node:path';
import { expectedTensors, type TensorSpec } from 'webmoe/model';
import type { Dtype } from './dtypes';
import { formatError, INDEX_FILE, SINGLE_FILE, scaleNameOf, type Checkpoint } from './safetensors';

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** The dtypes each kind of tensor may be stored in (quantized dtypes only for weights of a product). */
const FLOAT: readonly Dtype[] = ['BF16', 'F16', 'F32'];
const KIND_DTYPES: Record<TensorSpec['kind'], readonly Dtype[]> = {
  linear: [...FLOAT, 'F8_E4M3', 'I8'],
  embedding: [...FLOAT, 'F8_E4M3'],
  norm: FLOAT,
  bias: FLOAT,
  router: FLOAT,
  precise: FLOAT,
  table: ['I64'],
};

/**
 * Returns the tensors to convert (the main model, then the MTP modules when `includeMtp`) once the
 * checkpoint is known to hold every tensor its config implies, MTP modules included when it has them.
 */
export function checkCheckpointTensors(ckpt: Checkpoint, includeMtp = true): TensorSpec[] {
  const expected = expectedTensors(ckpt.config, true);
  const weightsFile = join(ckpt.dir, ckpt.files.length === 1 && ckpt.files[0] === SINGLE_FILE ? SINGLE_FILE : INDEX_FILE);
  const configFile = join(ckpt.dir, 'config.json');
  const names = new Set<string>();
  const scales = new Set<string>();
  for (const spec of expected) {
    names.add(spec.name);
    const t = ckpt.tensors.get(spec.name);
    if (!t) {
      throw formatError(weightsFile, `tensor "${spec.name}" is missing (${configFile} implies it, shape [${spec.shape.join(', ')}])`, { tensor: spec.name });
    }
    const allowed = KIND_DTYPES[spec.kind];
    if (!allowed.includes(t.dtype)) {
      throw formatError(join(ckpt.dir, t.file), `tensor "${spec.name}" is ${t.dtype}; a ${spec.kind} tensor must be ${allowed.join(', ')}`, { tensor: spec.name });
    }
    const shape = ckpt.shapeOf(spec.name);
    if (!sameShape(shape, spec.shape)) {
      const packed = t.dtype === 'I8' ? ` (stored [${t.shape.join(', ')}] as FP4 packed two per byte)` : '';
      throw formatError(join(ckpt.dir, t.file), `tensor "${spec.name}" has shape [${shape.join(', ')}]${packed}, but ${configFile} implies [${spec.shape.join(', ')}]`, { tensor: spec.name });
    }
    if (ckpt.scaleOf(spec.name)) scales.add(scaleNameOf(ckpt.config, spec.name)); // throws when the scales are missing or malformed
  }
  for (const t of ckpt.tensors.values()) {
    if (names.has(t.name) || scales.has(t.name)) continue;
    const scaled = expected.find((s) => scaleNameOf(ckpt.config, s.name) === t.name);
    const why = scaled ? `scales "${scaled.name}", which is ${ckpt.tensors.get(scaled.name)!.dtype}, not a quantized weight` : `is not part of the model ${configFile} describes`;
    throw formatError(join(ckpt.dir, t.file), `unexpected tensor "${t.name}": ${why}`, { tensor: t.name });
  }
  return includeMtp ? expected : expected.filter((s) => !s.mtp);
}
