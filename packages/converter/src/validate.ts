// Checks a checkpoint's tensors against what its config.json implies: every expected tensor present with
// the implied shape, FP8 weights with well-formed block scales, and nothing else.
import { join } from 'node:path';
import { expectedTensors, type TensorSpec } from './engine';
import { formatError, INDEX_FILE, SCALE_INV_SUFFIX, SINGLE_FILE, type Checkpoint } from './safetensors';

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Returns the expected tensors (main model, then MTP layers) once the checkpoint is known to hold them. */
export function checkCheckpointTensors(ckpt: Checkpoint): TensorSpec[] {
  const expected = expectedTensors(ckpt.config, true);
  const weightsFile = join(ckpt.dir, ckpt.files.length === 1 && ckpt.files[0] === SINGLE_FILE ? SINGLE_FILE : INDEX_FILE);
  const configFile = join(ckpt.dir, 'config.json');
  const names = new Set<string>();
  for (const spec of expected) {
    names.add(spec.name);
    const t = ckpt.tensors.get(spec.name);
    if (!t) {
      throw formatError(weightsFile, `tensor "${spec.name}" is missing (${configFile} implies it, shape [${spec.shape.join(', ')}])`, { tensor: spec.name });
    }
    if (!sameShape(t.shape, spec.shape)) {
      throw formatError(join(ckpt.dir, t.file), `tensor "${spec.name}" has shape [${t.shape.join(', ')}], but ${configFile} implies [${spec.shape.join(', ')}]`, { tensor: spec.name });
    }
    ckpt.scaleInvOf(spec.name); // throws when an F8_E4M3 weight lacks proper block scales
  }
  for (const t of ckpt.tensors.values()) {
    if (names.has(t.name)) continue;
    const base = t.name.endsWith(SCALE_INV_SUFFIX) ? t.name.slice(0, -SCALE_INV_SUFFIX.length) : null;
    if (base !== null && names.has(base) && ckpt.tensors.get(base)!.dtype === 'F8_E4M3') continue;
    const why = base !== null ? `scales "${base}", which is not an F8_E4M3 tensor of this model` : `is not part of the model ${configFile} describes`;
    throw formatError(join(ckpt.dir, t.file), `unexpected tensor "${t.name}": ${why}`, { tensor: t.name });
  }
  return expected;
}
