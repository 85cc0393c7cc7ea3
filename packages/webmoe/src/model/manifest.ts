// The webmoe model folder: `manifest.json` plus shard files `shard-00000.bin`, … written by the converter
// (packages/converter) and read by the engine, in a browser or in Node.
//
// Byte placement rules, which a reader may rely on:
// - Every tensor starts on a 256-byte boundary (`alignment`) of its shard; its bytes are laid out by
//   formats.ts `tensorLayout(format, shape)` and number exactly `layout.bytes`.
// - Order: the main model's non-expert tensors, then the routed experts layer by layer (expert by expert,
//   each expert's gate, up and down projections in that order: V2/V3 gate_proj, up_proj, down_proj; V4 w1,
//   w3, w2), then the MTP layers' tensors (mtp: true), again non-expert tensors first, then their experts.
//   MTP tensors are present only when `mtp` is true (the converter's --mtp); nothing in the main forward
//   pass reads them, so a loader skips every tensor and expert range marked mtp unless it drafts with MTP.
// - Each routed expert's three matrices lie in one contiguous range (`experts[i]`: from gate's first byte to
//   down's last, alignment padding between them), so that an expert can be fetched and paged as one piece.
// - A tensor or expert range never straddles a shard boundary, except one that alone is larger than a shard
//   (`shardBytes`): that one starts at offset 0 of a fresh shard, fills it to exactly `shardBytes` bytes
//   and continues at offset 0 of the following shard(s); the tensors inside such an expert range follow it
//   across the boundary. `rangePieces` splits any range accordingly.
// - Each shard's SHA-256 covers its whole file; norms and biases are f32, router and `precise` tensors f32 or
//   (from BF16 checkpoints, losslessly) bf16, tables u32.
import { WebmoeError } from '../errors';
import { parseHfConfig, type AnyModelConfig } from './config';
import { PRODUCT_FORMATS, TENSOR_FORMATS, tensorLayout, type WeightFormat } from './formats';
import { TENSOR_KINDS, expectedTensors, expertGroups, type TensorKind, type TensorSpec } from './tensors';

export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'webmoe';
export const MANIFEST_VERSION = 1;
export const TENSOR_ALIGNMENT = 256;
export const DEFAULT_SHARD_BYTES = 64 * 1024 * 1024;

export const shardFileName = (i: number) => `shard-${String(i).padStart(5, '0')}.bin`;

export interface ByteRange {
  shard: number;
  /** Byte offset in that shard. */
  offset: number;
  bytes: number;
}

export interface ManifestTensor extends ByteRange {
  name: string;
  kind: TensorKind;
  /** HF shape ([out, in] for matrices). */
  shape: number[];
  format: WeightFormat;
  layer: number | null;
  expert: number | null;
  mtp: boolean;
}

/** The contiguous range holding one routed expert's gate, up and down projections (in that order). */
export interface ManifestExpert extends ByteRange {
  layer: number;
  expert: number;
  mtp: boolean;
}

export interface ManifestFile {
  /** A plain file name in the model folder. */
  file: string;
  bytes: number;
  /** Lowercase hex SHA-256 of the whole file. */
  sha256: string;
}

export interface ManifestSource {
  /** The checkpoint folder's name. */
  name: string;
  /** dtype of the checkpoint's linear weights (BF16, F8_E4M3, …). */
  dtype: string;
  /** Its safetensors files. */
  files: string[];
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  /** The converter's CONVERTER_VERSION (packages/converter/src/convert.ts); absent from older manifests, ignored by the engine. */
  converterVersion?: number;
  model: {
    /** The normalized description. parseManifest recomputes it from `hf`, so a newer engine's normalization wins. */
    config: AnyModelConfig;
    /** config.json of the source checkpoint, verbatim. */
    hf: Record<string, unknown>;
  };
  /** The format asked for linear and embedding weights; each tensor's `format` says what it got (see formatFor in the converter). */
  quant: WeightFormat;
  /**
   * Whether the MTP modules' tensors (mtp: true) are in the folder. Absent in manifests written before the
   * field, whose converters always included them: read as true.
   */
  mtp: boolean;
  alignment: number;
  /** The most bytes a shard holds. */
  shardBytes: number;
  tensors: ManifestTensor[];
  experts: ManifestExpert[];
  shards: ManifestFile[];
  /** Tokenizer files copied from the checkpoint (tokenizer.json, tokenizer_config.json when present). */
  tokenizer: ManifestFile[];
  source: ManifestSource;
}

/** The per-shard pieces of a byte range, following a range that continues into the next shards. */
export function rangePieces(shards: readonly { bytes: number }[], range: ByteRange): ByteRange[] {
  const out: ByteRange[] = [];
  let { shard, offset, bytes: left } = range;
  while (left > 0) {
    const s = shards[shard];
    if (!s || offset >= s.bytes) throw new RangeError(`range at shard ${range.shard} offset ${range.offset} (${range.bytes} bytes) runs past shard ${shard}`);
    const n = Math.min(left, s.bytes - offset);
    out.push({ shard, offset, bytes: n });
    left -= n;
    shard++;
    offset = 0;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;
const FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const SHA256 = /^[0-9a-f]{64}$/;

/** The formats each kind of tensor may be stored in. */
const KIND_FORMATS: Record<TensorKind, readonly WeightFormat[]> = {
  linear: PRODUCT_FORMATS,
  embedding: PRODUCT_FORMATS,
  norm: ['f32'],
  bias: ['f32'],
  router: ['f32', 'bf16'],
  precise: ['f32', 'bf16'],
  table: ['u32'],
};

class Checker {
  constructor(readonly source: string) {}

  fail(field: string, why: string, detail: Json = {}): never {
    throw new WebmoeError('model-format', `${this.source}: field "${field}" ${why}`, { detail: { file: this.source, field, ...detail } });
  }

  obj(v: unknown, field: string): Json {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'must be an object');
    return v as Json;
  }

  arr(v: unknown, field: string): unknown[] {
    if (!Array.isArray(v)) this.fail(field, 'must be a list');
    return v;
  }

  int(v: unknown, field: string, min = 0): number {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) this.fail(field, `must be an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v;
  }

  intOrNull(v: unknown, field: string): number | null {
    return v === null ? null : this.int(v, field);
  }

  str(v: unknown, field: string): string {
    if (typeof v !== 'string') this.fail(field, `must be a string, got ${JSON.stringify(v)}`);
    return v;
  }

  oneOf<T>(v: unknown, field: string, allowed: readonly T[]): T {
    if (!allowed.includes(v as T)) this.fail(field, `must be one of ${allowed.join(', ')}, got ${JSON.stringify(v)}`);
    return v as T;
  }

  file(v: unknown, field: string): ManifestFile {
    const o = this.obj(v, field);
    const file = this.str(o.file, `${field}.file`);
    if (!FILE_NAME.test(file)) this.fail(`${field}.file`, `${JSON.stringify(file)} is not a plain file name`);
    const sha256 = this.str(o.sha256, `${field}.sha256`);
    if (!SHA256.test(sha256)) this.fail(`${field}.sha256`, 'must be 64 lowercase hex digits');
    return { file, bytes: this.int(o.bytes, `${field}.bytes`), sha256 };
  }
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Validates a parsed manifest.json: structure, byte ranges inside the shards, every tensor the model
 * description implies present with its shape and a format its kind allows, expert ranges holding their
 * three matrices. Throws WebmoeError('model-format') naming `source` and the field or tensor.
 */
export function parseManifest(json: unknown, source = MANIFEST_FILE): Manifest {
  const c: Checker = new Checker(source); // annotated so that c.fail() (never) narrows types
  const m = c.obj(json, '(root)');
  if (m.format !== MANIFEST_FORMAT) c.fail('format', `must be "${MANIFEST_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (m.version !== MANIFEST_VERSION) c.fail('version', `${JSON.stringify(m.version)} is not supported (this engine reads version ${MANIFEST_VERSION})`);
  const model = c.obj(m.model, 'model');
  c.obj(model.config, 'model.config');
  const hf = c.obj(model.hf, 'model.hf');
  const config = parseHfConfig(hf, `${source} model.hf`);
  const quant = c.oneOf(m.quant, 'quant', PRODUCT_FORMATS);
  if (m.mtp !== undefined && typeof m.mtp !== 'boolean') c.fail('mtp', `must be true or false, got ${JSON.stringify(m.mtp)}`);
  const mtp = m.mtp !== false;
  const alignment = c.int(m.alignment, 'alignment', 1);
  if (alignment !== TENSOR_ALIGNMENT) c.fail('alignment', `must be ${TENSOR_ALIGNMENT}, got ${alignment}`);
  const shardBytes = c.int(m.shardBytes, 'shardBytes', alignment);
  if (shardBytes % alignment !== 0) c.fail('shardBytes', `must be a multiple of ${alignment}`);

  const shards = c.arr(m.shards, 'shards').map((s, i) => c.file(s, `shards[${i}]`));
  shards.forEach((s, i) => {
    if (s.bytes > shardBytes) c.fail(`shards[${i}].bytes`, `(${s.bytes}) exceeds shardBytes (${shardBytes})`);
  });
  const tokenizer = c.arr(m.tokenizer, 'tokenizer').map((s, i) => c.file(s, `tokenizer[${i}]`));
  const names = new Set<string>();
  for (const f of [...shards, ...tokenizer]) {
    if (f.file === MANIFEST_FILE || names.has(f.file)) c.fail('shards', `names the file "${f.file}" twice or names the manifest`);
    names.add(f.file);
  }
  const src = c.obj(m.source, 'source');
  const sourceInfo: ManifestSource = {
    name: c.str(src.name, 'source.name'),
    dtype: c.str(src.dtype, 'source.dtype'),
    files: c.arr(src.files, 'source.files').map((f, i) => c.str(f, `source.files[${i}]`)),
  };

  const checkRange = (r: ByteRange, field: string, what: string) => {
    if (r.shard >= shards.length) c.fail(`${field}.shard`, `${what}: shard ${r.shard} does not exist (${shards.length} shards)`);
    if (r.offset % alignment !== 0) c.fail(`${field}.offset`, `${what}: offset ${r.offset} is not ${alignment}-byte aligned`);
    try {
      rangePieces(shards, r);
    } catch {
      c.fail(`${field}.bytes`, `${what}: bytes [${r.offset}, ${r.offset + r.bytes}) of shard ${r.shard} run past the shards' ends`);
    }
  };

  const tensors = c.arr(m.tensors, 'tensors').map((v, i): ManifestTensor => {
    const f = `tensors[${i}]`;
    const o = c.obj(v, f);
    const t: ManifestTensor = {
      name: c.str(o.name, `${f}.name`),
      kind: c.oneOf(o.kind, `${f}.kind`, TENSOR_KINDS),
      shape: c.arr(o.shape, `${f}.shape`).map((d, k) => c.int(d, `${f}.shape[${k}]`, 1)),
      format: c.oneOf(o.format, `${f}.format`, TENSOR_FORMATS),
      layer: c.intOrNull(o.layer, `${f}.layer`),
      expert: c.intOrNull(o.expert, `${f}.expert`),
      mtp: o.mtp === true,
      shard: c.int(o.shard, `${f}.shard`),
      offset: c.int(o.offset, `${f}.offset`),
      bytes: c.int(o.bytes, `${f}.bytes`, 1),
    };
    if (typeof o.mtp !== 'boolean') c.fail(`${f}.mtp`, 'must be true or false');
    if (t.shape.length < 1 || t.shape.length > 2) c.fail(`${f}.shape`, `tensor "${t.name}": must have 1 or 2 dimensions`);
    const want = tensorLayout(t.format, t.shape).bytes;
    if (t.bytes !== want) c.fail(`${f}.bytes`, `tensor "${t.name}": ${t.bytes} bytes, but [${t.shape.join(', ')}] in ${t.format} takes ${want}`);
    const allowed = KIND_FORMATS[t.kind];
    if (!allowed.includes(t.format)) c.fail(`${f}.format`, `tensor "${t.name}": a ${t.kind} tensor must be ${allowed.join(' or ')}, got ${t.format}`);
    checkRange(t, f, `tensor "${t.name}"`);
    return t;
  });

  const byName = new Map<string, ManifestTensor>();
  tensors.forEach((t, i) => {
    if (byName.has(t.name)) c.fail(`tensors[${i}].name`, `tensor "${t.name}" is listed twice`);
    byName.set(t.name, t);
  });
  const expected = expectedTensors(config, mtp);
  const expectedNames = new Set(expected.map((s) => s.name));
  for (const s of expected) {
    const t = byName.get(s.name);
    if (!t) c.fail('tensors', `has no tensor "${s.name}", which the model description implies`, { tensor: s.name });
    const agrees = (k: keyof TensorSpec) => t[k] === s[k];
    if (!sameShape(t.shape, s.shape) || !agrees('kind') || !agrees('layer') || !agrees('expert') || !agrees('mtp')) {
      c.fail('tensors', `tensor "${s.name}" is listed as ${t.kind} [${t.shape.join(', ')}] layer ${t.layer} expert ${t.expert} mtp ${t.mtp}; the model description implies ${s.kind} [${s.shape.join(', ')}] layer ${s.layer} expert ${s.expert} mtp ${s.mtp}`, { tensor: s.name });
    }
  }
  for (const t of tensors) {
    if (!expectedNames.has(t.name)) c.fail('tensors', `tensor "${t.name}" is not part of the model description`, { tensor: t.name });
  }

  // Each routed expert's matrices, in the order its range holds them (gate, up, down).
  const expertSpecs = new Map(expertGroups(expected).map((g) => [`${g[0].layer}/${g[0].expert}`, g]));
  const experts = c.arr(m.experts, 'experts').map((v, i): ManifestExpert => {
    const f = `experts[${i}]`;
    const o = c.obj(v, f);
    const e: ManifestExpert = {
      layer: c.int(o.layer, `${f}.layer`),
      expert: c.int(o.expert, `${f}.expert`),
      mtp: o.mtp === true,
      shard: c.int(o.shard, `${f}.shard`),
      offset: c.int(o.offset, `${f}.offset`),
      bytes: c.int(o.bytes, `${f}.bytes`, 1),
    };
    checkRange(e, f, `expert ${e.expert} of layer ${e.layer}`);
    if (e.mtp !== e.layer >= config.numLayers) c.fail(`${f}.mtp`, `expert ${e.expert} of layer ${e.layer}: mtp must be ${e.layer >= config.numLayers}`);
    const specs = expertSpecs.get(`${e.layer}/${e.expert}`);
    if (!specs) c.fail(f, `names expert ${e.expert} of layer ${e.layer}, which the model description does not have`);
    let end = e.offset;
    specs.forEach((s, k) => {
      const t = byName.get(s.name)!;
      // Linear offsets within the range: shard·shardBytes + offset orders bytes across spanned shards too.
      const at = (r: ByteRange) => r.shard * shardBytes + r.offset;
      if (at(t) < at(e) + (end - e.offset) || at(t) + t.bytes > at(e) + e.bytes || (k === 0 && at(t) !== at(e))) {
        c.fail(f, `expert ${e.expert} of layer ${e.layer}: ${s.name} does not lie in order inside the expert's range`, { tensor: t.name });
      }
      end = e.offset + (at(t) - at(e)) + t.bytes;
    });
    if (end !== e.offset + e.bytes) c.fail(`${f}.bytes`, `expert ${e.expert} of layer ${e.layer}: range does not end with ${specs[specs.length - 1].name}`);
    return e;
  });
  const expertKeys = new Set(experts.map((e) => `${e.layer}/${e.expert}`));
  for (const s of expected) {
    if (s.expert !== null && !expertKeys.has(`${s.layer}/${s.expert}`)) c.fail('experts', `has no range for expert ${s.expert} of layer ${s.layer}`);
  }
  if (expertKeys.size !== experts.length) c.fail('experts', 'lists an expert twice');

  return { format: MANIFEST_FORMAT, version: MANIFEST_VERSION, ...(m.converterVersion === undefined ? {} : { converterVersion: c.int(m.converterVersion, 'converterVersion') }), model: { config, hf }, quant, mtp, alignment, shardBytes, tensors, experts, shards, tokenizer, source: sourceInfo };
}
