// The product on an RMS-normalized input (matmulNormed: the norm inside the product's dispatch) against
// float64: the norm by rmsnormRef, the product (or SwiGLU pair) over the weights as e2e/lib/weights-ref.ts
// decodes them, and the published normalized row ('publish').
// The raw row sits at an offset inside a longer buffer, and the tensor at an offset inside a buffer of
// 0xFF bytes (NaN as f32), so that a read outside either shows.
import { createRng, matmulNormed, type KernelContext, type WeightFormat } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';
import { rmsnormRef } from './rmsnorm';
import { testTensor } from './matmul';

const EPS = 1e-6;
const OFFSET = 256;

// The normalized values carry ~2⁻²⁴ relative error each (one sum of squares, a square root, two
// products); the f32 dot product of n terms bounded by `term` errs like √n · 2⁻²⁴ · term at random signs.
const tolerance = (n: number, term: number) => ({ atol: 1e-5 * Math.sqrt(n) * term + 1e-30, rtol: 1e-5 });

const silu = (v: number) => v / (1 + Math.exp(-v));

// mode: 'write' (raw row at 0), 'accumulate' (y += …), 'swiglu' (gate and up), 'publish' (normedOut too);
// every mode but 'write' reads the raw row at offset 5.
const MODES = ['write', 'accumulate', 'swiglu', 'publish'] as const;
type Mode = (typeof MODES)[number];
// 1536 columns (V2-Lite's q_lora_rank) take the norm over a row longer than the workgroup (load_normed's
// strided loop, 384 vec4s of workgroup memory); that code reads x and the norm's weight, never W. The
// weight's format is decoded by product-rows' row units, which the matmul family runs for every format and
// shape at 1031 columns (several units per lane). So at 1536 each format meets one shape, and each shape
// meets 1536 with and without SwiGLU and in every mode, instead of the crossed grid: each (format, shape,
// SwiGLU) at 1536 is a pipeline that SwiftShader compiles in about 2 s (14 before, 4 now).
const WIDE: { format: WeightFormat; shape: 'row' | 'workgroup'; modes: readonly Mode[] }[] = [
  { format: 'f32', shape: 'row', modes: ['write', 'accumulate', 'publish'] },
  { format: 'q8', shape: 'row', modes: ['swiglu'] },
  { format: 'q4', shape: 'workgroup', modes: ['swiglu'] },
  { format: 'bf16', shape: 'workgroup', modes: ['write', 'accumulate'] },
];
const cases = [
  ...grid({
    format: ['f32', 'q4', 'q8', 'bf16'] as WeightFormat[], cols: [7, 33], rows: [1, 70], shape: ['row', 'workgroup'], mode: MODES,
  } as const),
  ...WIDE.flatMap(({ format, shape, modes }) => grid({ format: [format], cols: [1536], rows: [1, 70], shape: [shape], mode: modes } as const)),
].filter((p) => p.mode === 'write' || p.mode === 'accumulate' || p.format !== 'bf16').map((p) => ({
  name: caseName(p),
  async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
    const { format, cols, rows, shape, mode } = p;
    const xOffset = mode === 'write' ? 0 : 5;
    const output = mode === 'accumulate' ? 'accumulate' : 'write';
    const rng = createRng(cols * 7907 + rows * 31 + format.length * 5 + mode.length);
    const t = testTensor(format, rows, cols, rng);
    const u = mode === 'swiglu' ? testTensor(format, rows, cols, rng) : null;
    const x = rng.uniform(xOffset + cols + 3, -3, 3);
    const g = rng.uniform(cols, 0.5, 1.5);
    const y0 = rng.uniform(rows, -1, 1);
    const xn = rmsnormRef(x, g, 1, cols, EPS, cols, xOffset);
    const ref = new Float64Array(rows);
    let term = 0;
    const dot = (w: Float64Array, r: number) => {
      let s = 0;
      for (let c = 0; c < cols; c++) {
        s += w[r * cols + c] * xn[c];
        term = Math.max(term, Math.abs(w[r * cols + c] * xn[c]));
      }
      return s;
    };
    let mag = 0;
    for (let r = 0; r < rows; r++) {
      const gate = dot(t.w, r), up = u ? dot(u.w, r) : 0;
      mag = Math.max(mag, Math.abs(gate), Math.abs(up));
      ref[r] = (output === 'accumulate' ? y0[r] : 0) + (u ? silu(gate) * up : gate);
    }
    const io = new CaseBuffers(ctx, `matmul-normed:${caseName(p)}`);
    try {
      const at = (name: string, tensor: typeof t) => {
        const packed = new Uint8Array(OFFSET + tensor.layout.bytes + OFFSET).fill(0xff);
        packed.set(tensor.bytes, OFFSET);
        return { buffer: io.input(name, packed), offset: OFFSET, layout: tensor.layout };
      };
      const y = io.input('y', output === 'accumulate' ? y0 : new Float32Array(rows).fill(Number.NaN));
      const normedOut = mode === 'publish' ? io.input('xn', new Float32Array(cols + 1).fill(Number.NaN)) : undefined;
      await io.run(() => [matmulNormed(ctx, {
        weight: at('w', t), ...(u ? { up: at('u', u) } : {}), norm: io.input('g', g), eps: EPS, x: io.input('x', x), xOffset, y, output, shape,
        ...(normedOut ? { normedOut } : {}),
      })]);
      // With SwiGLU the gate and up sums each carry the product's error: silu(g)·u errs by about
      // |silu'(g)|·δ·|u| + |silu(g)|·δ, silu's slope at most 1.1 and |silu(g)| ≤ |g|.
      const tol = tolerance(cols, term);
      const swiglu = { atol: 2.2 * tol.atol * (1 + mag), rtol: 3 * tol.rtol };
      const got: Record<string, Comparison> = { y: compare(await io.read(y, rows), ref, u ? swiglu : tol) };
      if (normedOut) got.normed = compare(await io.read(normedOut, cols), xn, { atol: 1e-6, rtol: 1e-6 });
      return got;
    } finally {
      io.destroy();
    }
  },
}));

export const matmulNormedFamily: KernelFamily = { cases: () => cases };
