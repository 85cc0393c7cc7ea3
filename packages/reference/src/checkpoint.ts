// A checkpoint folder (config.json + safetensors) as a WeightSource: tensors read on demand and dequantized
// exactly to float64 (docs/architecture-v4.md#tensors).
// - F8_E4M3 weights carry block scales, named `<name>_scale_inv` (V3 Hugging Face layout) or, for a
//   `<stem>.weight`, `<stem>.scale` (V4 release layout), of shape [⌈rows/b0⌉, ⌈cols/b1⌉] with [b0, b1] the
//   config's quantization_config.weight_block_size (absent: [128, 128]);
//   W[i,j] = e4m3(Q[i,j])·S[⌊i/b0⌋, ⌊j/b1⌋].
// - I8 weights with a `<stem>.scale` are FP4 E2M1 packed two to a byte (V4's routed experts): byte [i, j]
//   holds element (i, 2j) in its low nibble and (i, 2j+1) in its high nibble, and the scales [rows, cols/32]
//   (E8M0) apply per 32 consecutive elements of a row. The tensor is handed out unpacked: [rows, 2·bytes].
// - Everything else is decoded element by element (BF16/F16/F32 exactly, integers as themselves).
import { SafetensorsFolder, type StoredTensor } from './safetensors';
import { WebmoeError } from 'webmoe/model';
import { JsonFields } from './json-fields';
import { e2m1Value } from './number-formats';
import { missingTensor, type Tensor64, type WeightSource } from './weights';

/** FP4 expert weights: one scale per this many consecutive elements of a row. */
export const FP4_BLOCK = 32;

function tensorError(name: string, problem: string, detail: Record<string, unknown> = {}): WebmoeError {
  return new WebmoeError('model-format', `tensor ${name} ${problem}`, { detail: { tensor: name, ...detail } });
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

export class CheckpointSource implements WeightSource {
  readonly files: SafetensorsFolder;
  /** [rows, cols] of an F8_E4M3 weight's scale blocks. */
  readonly fp8Block: [number, number];

  constructor(readonly dir: string, config: unknown) {
    this.files = new SafetensorsFolder(dir);
    const q: JsonFields | null = JsonFields.of(config, 'config.json').object('quantization_config');
    const block = q?.has('weight_block_size') ? q.intList('weight_block_size', 1) : [128, 128];
    if (block.length !== 2) q!.fail('weight_block_size', `must list 2 sizes, got ${block.length}`);
    this.fp8Block = [block[0], block[1]];
  }

  has(name: string): boolean {
    return this.files.tensors.has(name);
  }

  get(name: string): Tensor64 {
    const t = this.files.tensors.get(name);
    if (!t) throw missingTensor(name, ` from ${this.dir}`);
    const stem = name.endsWith('.weight') ? name.slice(0, -'.weight'.length) : null;
    const scaleName = [`${name}_scale_inv`, ...(stem ? [`${stem}.scale`] : [])].find((n) => this.files.tensors.has(n));
    const scale = scaleName ? this.files.tensors.get(scaleName)! : null;
    if (t.dtype === 'F8_E4M3') {
      if (!scale) throw tensorError(name, `is F8_E4M3 but its block scales (${name}_scale_inv${stem ? ` or ${stem}.scale` : ''}) are missing`);
      return this.fp8(t, scale);
    }
    if (t.dtype === 'I8' && scale) return this.fp4(t, scale);
    return { shape: t.shape, data: this.files.values(t) };
  }

  private scaleValues(weight: StoredTensor, scale: StoredTensor, expected: number[]): Float64Array {
    if (weight.shape.length !== 2) throw tensorError(weight.name, `is ${weight.dtype} with scales but has shape [${weight.shape.join(', ')}], not a matrix`);
    if (!sameShape(scale.shape, expected) || !['F32', 'BF16', 'F8_E8M0'].includes(scale.dtype)) {
      throw tensorError(scale.name, `(the scales of ${weight.name}, ${weight.dtype} [${weight.shape.join(', ')}]) is ${scale.dtype} [${scale.shape.join(', ')}], expected [${expected.join(', ')}] in F32, BF16 or F8_E8M0`,
        { shape: scale.shape, expected });
    }
    return this.files.values(scale);
  }

  private fp8(t: StoredTensor, scale: StoredTensor): Tensor64 {
    const [rows, cols] = t.shape;
    const [b0, b1] = this.fp8Block;
    const blockCols = Math.ceil(cols / b1);
    const s = this.scaleValues(t, scale, [Math.ceil(rows / b0), blockCols]);
    const data = this.files.values(t);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) data[i * cols + j] *= s[Math.floor(i / b0) * blockCols + Math.floor(j / b1)];
    }
    return { shape: t.shape, data };
  }

  private fp4(t: StoredTensor, scale: StoredTensor): Tensor64 {
    const [rows, bytesPerRow] = t.shape;
    const cols = 2 * bytesPerRow;
    const groups = Math.ceil(cols / FP4_BLOCK);
    const s = this.scaleValues(t, scale, [rows, groups]);
    const packed = this.files.bytes(t);
    const data = new Float64Array(rows * cols);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const byte = packed[i * bytesPerRow + (j >> 1)];
        data[i * cols + j] = e2m1Value(j & 1 ? byte >> 4 : byte & 15) * s[i * groups + Math.floor(j / FP4_BLOCK)];
      }
    }
    return { shape: [rows, cols], data };
  }
}
