// Reading config.json fields with errors that name the file and the field, and the parts that every
// DeepSeek family's config shares (YaRN block, token ids). Used by config.ts (V2/V3) and config-v4.ts.
import { WebmoeError } from '../errors';
import type { YarnConfig } from './rope-config';

export type Json = Record<string, unknown>;

export class Fields {
  constructor(readonly json: Json, readonly source: string) {}

  fail(field: string, why: string): never {
    throw new WebmoeError('model-format', `${this.source}: field "${field}" ${why}`, { detail: { file: this.source, field } });
  }

  has(field: string): boolean {
    return this.json[field] !== undefined;
  }

  int(field: string, fallback?: number, min = 1): number {
    const v = this.json[field] ?? fallback;
    if (v === undefined) this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isInteger(v)) this.fail(field, `must be an integer, got ${JSON.stringify(v)}`);
    if (v < min) this.fail(field, `must be at least ${min}, got ${v}`);
    return v;
  }

  intOrNull(field: string): number | null {
    if (!(field in this.json)) this.fail(field, 'is missing (null is allowed)');
    return this.json[field] === null ? null : this.int(field);
  }

  num(field: string, fallback?: number): number {
    const v = this.json[field] ?? fallback;
    if (v === undefined) this.fail(field, 'is missing');
    if (typeof v !== 'number' || !Number.isFinite(v)) this.fail(field, `must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.json[field] ?? fallback;
    if (typeof v !== 'boolean') this.fail(field, `must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], fallback: T): T {
    const v = this.json[field] ?? fallback;
    if (!allowed.includes(v as T)) this.fail(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  /** A required list of integers ≥ `min`. */
  ints(field: string, min = 0): number[] {
    const v = this.json[field];
    if (v === undefined) this.fail(field, 'is missing');
    if (!Array.isArray(v)) this.fail(field, `must be a list of integers, got ${JSON.stringify(v)}`);
    v.forEach((x, i) => {
      if (typeof x !== 'number' || !Number.isInteger(x) || x < min) this.fail(field, `entry ${i} must be an integer ≥ ${min}, got ${JSON.stringify(x)}`);
    });
    return v as number[];
  }

  check(ok: boolean, field: string, why: string): void {
    if (!ok) this.fail(field, why);
  }
}

/** The top-level JSON object of a config file. */
export function configObject(json: unknown, source: string): Json {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new WebmoeError('model-format', `${source}: expected a JSON object`, { detail: { file: source } });
  }
  return json as Json;
}

/** `rope_scaling`: null when absent or null; only YaRN is supported. */
export function parseYarn(f: Fields): YarnConfig | null {
  const rs = f.json.rope_scaling;
  if (rs === undefined || rs === null) return null;
  if (typeof rs !== 'object' || Array.isArray(rs)) f.fail('rope_scaling', 'must be an object or null');
  const r = new Fields(rs as Json, `${f.source} rope_scaling`);
  const type = (rs as Json).type ?? (rs as Json).rope_type;
  if (type !== 'yarn') f.fail('rope_scaling', `type ${JSON.stringify(type)} is not supported (only yarn)`);
  return {
    factor: r.num('factor'),
    originalMaxPositions: r.int('original_max_position_embeddings', 4096),
    betaFast: r.num('beta_fast', 32),
    betaSlow: r.num('beta_slow', 1),
    mscale: r.num('mscale', 1),
    mscaleAllDim: r.num('mscale_all_dim', 0),
  };
}

/** vocab_size, bos/eos ids, and the untied output head every DeepSeek model has. */
export function parseVocab(f: Fields): { vocabSize: number; bosTokenId: number | null; eosTokenIds: number[] } {
  const eos = f.json.eos_token_id;
  const eosTokenIds = eos === undefined || eos === null ? [] : Array.isArray(eos) ? eos.map(Number) : [Number(eos)];
  const vocabSize = f.int('vocab_size');
  for (const id of eosTokenIds) f.check(Number.isInteger(id) && id >= 0 && id < vocabSize, 'eos_token_id', `(${id}) is outside the vocabulary`);
  if (f.has('tie_word_embeddings')) f.check(f.bool('tie_word_embeddings', false) === false, 'tie_word_embeddings', 'must be false: DeepSeek models keep a separate lm_head');
  const bos = f.json.bos_token_id;
  return { vocabSize, bosTokenId: bos === undefined || bos === null ? null : f.int('bos_token_id', undefined, 0), eosTokenIds };
}
