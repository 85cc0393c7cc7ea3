// A converted webmoe folder (manifest.json + shard files) as a WeightSource, decoded by the reference itself
// from the format's definition (docs/model-folder.md#formats), so that the reference runs exactly the
// quantized model the GPU runs and a slip in the engine's own decoder shows up as a difference. The
// definition, as the converter writes it:
// - manifest.json: {format: "webmoe", version: 1, model: {hf: <config.json>}, shards: [{file, bytes}],
//   tensors: [{name, shape, format, shard, offset, bytes}]}. A tensor's bytes start at `offset` of shard
//   `shard` and, when they run past that shard's end, continue at offset 0 of the next shard(s).
// - A tensor is a matrix [rows, cols] (a 1-D tensor is one row). Its bytes are sections, each starting at a
//   multiple of 16 bytes from the tensor's start, in this order (G = ⌈cols/32⌉, little-endian throughout):
//     f32:  f32 [rows][cols]
//     f16:  binary16 [rows][cols];  bf16: bfloat16 [rows][cols]
//     q8:   int8 [rows][G·32], then f16 scales [rows][G]:                 w = q·scale
//     q4:   4-bit [rows][G·32], element e in byte e/2 (low nibble first),
//           then f16 scales [rows][G], then f16 mins [rows][G]:            w = q·scale + min
//     fp8:  E4M3 [rows][cols], then f32 scales [⌈rows/128⌉][⌈cols/128⌉]:  w = e4m3(q)·scale
//     fp4:  E2M1 [rows][G·32], element e of a row in byte e/2 of it (low nibble first),
//           then E8M0 scale bytes [rows][G]:                              w = e2m1(q)·2^(scale − 127)
//     u32:  u32 [rows][cols], an integer table
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { WebmoeError } from 'webmoe/model';
import { readInto } from './file-bytes';
import { JsonFields } from './json-fields';
import { bf16Value, e2m1Value, e4m3Value, e8m0Value, f16Value } from './number-formats';
import { missingTensor, type Tensor64, type WeightSource } from './weights';

export const MANIFEST_FILE = 'manifest.json';
const GROUP = 32;
const FP8_BLOCK = 128;
const FORMATS = ['f32', 'f16', 'bf16', 'q8', 'q4', 'fp8', 'fp4', 'u32'] as const;
type Format = (typeof FORMATS)[number];

interface Entry {
  shape: number[];
  format: Format;
  shard: number;
  offset: number;
  bytes: number;
}

const align16 = (n: number) => Math.ceil(n / 16) * 16;

export class WebmoeFolderSource implements WeightSource {
  /** config.json of the checkpoint the folder was converted from, verbatim. */
  readonly config: Record<string, unknown>;
  private readonly shards: { file: string; bytes: number }[];
  private readonly entries = new Map<string, Entry>();

  constructor(readonly dir: string) {
    const m: JsonFields = JsonFields.of(JSON.parse(readFileSync(join(dir, MANIFEST_FILE), 'utf8')), MANIFEST_FILE);
    m.check(m.json.format === 'webmoe', 'format', `must be "webmoe", got ${JSON.stringify(m.json.format)}`);
    m.check(m.json.version === 1, 'version', `${JSON.stringify(m.json.version)} is not a version the reference reads (1)`);
    const hf: JsonFields | null | undefined = m.object('model')?.object('hf');
    if (!hf) m.fail('model.hf', 'is missing (the source config.json)');
    this.config = hf.json;
    const list = (field: string) => {
      const v = m.json[field];
      if (!Array.isArray(v)) m.fail(field, 'must be a list');
      return v.map((x, i) => JsonFields.of(x, `${MANIFEST_FILE} ${field}[${i}]`));
    };
    this.shards = list('shards').map((s) => {
      const file = s.json.file;
      s.check(typeof file === 'string' && /^[\w.-]+$/.test(file), 'file', `must be a plain file name, got ${JSON.stringify(file)}`);
      return { file: file as string, bytes: s.int('bytes', undefined, 0) };
    });
    for (const t of list('tensors')) {
      const name = t.json.name;
      t.check(typeof name === 'string', 'name', 'must be a string');
      const e: Entry = {
        shape: t.intList('shape', 1),
        format: t.oneOf('format', FORMATS, 'f32'),
        shard: t.int('shard', undefined, 0),
        offset: t.int('offset', undefined, 0),
        bytes: t.int('bytes'),
      };
      t.check(e.shape.length === 1 || e.shape.length === 2, 'shape', `of ${name} must have 1 or 2 dimensions`);
      t.check(e.shard < this.shards.length, 'shard', `of ${name}: shard ${e.shard} does not exist`);
      this.entries.set(name as string, e);
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  get(name: string): Tensor64 {
    const e = this.entries.get(name);
    if (!e) throw missingTensor(name, ` from ${join(this.dir, MANIFEST_FILE)}`);
    const rows = e.shape.length === 1 ? 1 : e.shape[0];
    const cols = e.shape.at(-1)!;
    const bytes = this.read(name, e);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const G = Math.ceil(cols / GROUP);
    const data = new Float64Array(rows * cols);
    const need = (n: number) => {
      if (n > bytes.byteLength) throw new WebmoeError('model-format', `tensor ${name}: ${e.format} [${e.shape.join(', ')}] needs ${n} bytes, the manifest gives ${e.bytes}`, { detail: { tensor: name } });
    };
    switch (e.format) {
      case 'f32':
        need(4 * rows * cols);
        for (let i = 0; i < rows * cols; i++) data[i] = dv.getFloat32(4 * i, true);
        break;
      case 'u32':
        need(4 * rows * cols);
        for (let i = 0; i < rows * cols; i++) data[i] = dv.getUint32(4 * i, true);
        break;
      case 'f16':
      case 'bf16': {
        need(2 * rows * cols);
        const decode = e.format === 'f16' ? f16Value : bf16Value;
        for (let i = 0; i < rows * cols; i++) data[i] = decode(dv.getUint16(2 * i, true));
        break;
      }
      case 'q8': {
        const scales = align16(rows * G * GROUP);
        need(scales + 2 * rows * G);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const g = r * G + Math.floor(c / GROUP);
            data[r * cols + c] = dv.getInt8(r * G * GROUP + c) * f16Value(dv.getUint16(scales + 2 * g, true));
          }
        }
        break;
      }
      case 'q4': {
        const scales = align16((rows * G * GROUP) / 2);
        const mins = align16(scales + 2 * rows * G);
        need(mins + 2 * rows * G);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const g = r * G + Math.floor(c / GROUP);
            const k = r * G * GROUP + c;
            const q = (dv.getUint8(k >> 1) >> (4 * (k & 1))) & 15;
            data[r * cols + c] = q * f16Value(dv.getUint16(scales + 2 * g, true)) + f16Value(dv.getUint16(mins + 2 * g, true));
          }
        }
        break;
      }
      case 'fp4': {
        const scales = align16((rows * G * GROUP) / 2);
        need(scales + rows * G);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const byte = dv.getUint8((r * G * GROUP + c) >> 1);
            data[r * cols + c] = e2m1Value(c & 1 ? byte >> 4 : byte & 15) * e8m0Value(dv.getUint8(scales + r * G + Math.floor(c / GROUP)));
          }
        }
        break;
      }
      case 'fp8': {
        const scales = align16(rows * cols);
        const blockCols = Math.ceil(cols / FP8_BLOCK);
        need(scales + 4 * Math.ceil(rows / FP8_BLOCK) * blockCols);
        for (let r = 0; r < rows; r++) {
          for (let c = 0; c < cols; c++) {
            const s = dv.getFloat32(scales + 4 * (Math.floor(r / FP8_BLOCK) * blockCols + Math.floor(c / FP8_BLOCK)), true);
            data[r * cols + c] = e4m3Value(dv.getUint8(r * cols + c)) * s;
          }
        }
        break;
      }
    }
    return { shape: e.shape, data };
  }

  /** The tensor's bytes, following them into the next shards when they run past a shard's end. */
  private read(name: string, e: Entry): Uint8Array {
    const out = new Uint8Array(e.bytes);
    let done = 0;
    for (let shard = e.shard, offset = e.offset; done < e.bytes; shard++, offset = 0) {
      const s = this.shards[shard];
      if (!s || offset >= s.bytes) throw new WebmoeError('model-format', `tensor ${name}: its ${e.bytes} bytes run past the last shard`, { detail: { tensor: name } });
      const n = Math.min(e.bytes - done, s.bytes - offset);
      readInto(join(this.dir, s.file), out, done, offset, n);
      done += n;
    }
    return out;
  }
}
