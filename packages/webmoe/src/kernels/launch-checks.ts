// Argument checks for launchers: a bad size or a short buffer fails before any device call, naming the
// kernel's label and the field, instead of surfacing later as a WebGPU validation error that names neither.
import { WebmoeError } from '../errors';

export function checkArg(ok: boolean, label: string, field: string, problem: string): void {
  if (!ok) throw new WebmoeError('invalid-request', `${label}: ${field} ${problem}`, { detail: { kernel: label, field } });
}

/** An integer in [min, max]. */
export function checkInt(value: number, label: string, field: string, min: number, max = 0x7fffffff): void {
  checkArg(Number.isInteger(value) && value >= min && value <= max, label, field, `is ${value}, not an integer in [${min}, ${max}]`);
}

/** A buffer holding at least `elements` 4-byte values. */
export function checkBuffer(buffer: GPUBuffer, elements: number, label: string, field: string): void {
  checkArg(buffer.size >= elements * 4, label, field, `holds ${buffer.size} bytes, ${elements} values need ${elements * 4}`);
}
