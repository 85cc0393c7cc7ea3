// Reading typed fields out of a parsed JSON object (config.json, manifest.json), failing with a WebmoeError
// that names the file and the field, so that a malformed model folder is reported where it is wrong.
import { WebmoeError } from 'webmoe/model';

export type Json = Record<string, unknown>;

export function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export class JsonFields {
  constructor(readonly json: Json, readonly file: string) {}

  static of(v: unknown, file: string): JsonFields {
    if (!isObject(v)) throw new WebmoeError('model-format', `${file}: expected a JSON object`, { detail: { file } });
    return new JsonFields(v, file);
  }

  fail(field: string, problem: string): never {
    throw new WebmoeError('model-format', `${this.file}: field "${field}" ${problem}`, { detail: { file: this.file, field } });
  }

  /** True when the field is present and not null. */
  has(field: string): boolean {
    return this.json[field] !== undefined && this.json[field] !== null;
  }

  /** An integer ≥ min; `fallback` when absent or null (undefined: the field is required). */
  int(field: string, fallback?: number, min = 1): number {
    const v = this.has(field) ? this.json[field] : fallback;
    if (v === undefined) this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) this.fail(field, `must be an integer, got ${JSON.stringify(v)}`);
    if (v < min) this.fail(field, `must be at least ${min}, got ${v}`);
    return v;
  }

  /** A finite number; `fallback` when absent or null. */
  num(field: string, fallback?: number): number {
    const v = this.has(field) ? this.json[field] : fallback;
    if (v === undefined) this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.has(field) ? this.json[field] : fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], fallback: T): T {
    const v = this.has(field) ? this.json[field] : fallback;
    if (!allowed.includes(v as T)) this.fail(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  /** A list of integers ≥ min (required). */
  intList(field: string, min = 0): number[] {
    const v = this.json[field];
    if (!Array.isArray(v)) this.fail(field, v === undefined ? 'is missing' : `must be a list, got ${JSON.stringify(v)}`);
    return v.map((x, i) => {
      if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < min) this.fail(`${field}[${i}]`, `must be an integer ≥ ${min}, got ${JSON.stringify(x)}`);
      return x;
    });
  }

  /** A nested object as its own JsonFields, or null when absent or null. */
  object(field: string): JsonFields | null {
    const v = this.json[field];
    if (v === undefined || v === null) return null;
    if (!isObject(v)) this.fail(field, 'must be an object or null');
    return new JsonFields(v, `${this.file} ${field}`);
  }

  check(ok: boolean, field: string, problem: string): void {
    if (!ok) this.fail(field, problem);
  }
}
