// RMSNorm and residual-add + RMSNorm against a float64 CPU reference.
import { addRmsnorm, createRng, rmsnorm } from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, grid, type KernelFamily } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';

// Sums of up to ~1000 f32 squares: relative rounding ~ n·2⁻²⁴ at worst, far below this.
const TOL = { atol: 1e-5, rtol: 1e-5 };
const EPS = 1e-6;

/** y[r, c] = x[r, c] / sqrt(mean_c(x[r]²) + eps) * w[c], in float64. */
export function rmsnormRef(x: ArrayLike<number>, w: ArrayLike<number>, rows: number, cols: number, eps: number,
  xStride = cols, xOffset = 0): Float64Array {
  const y = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) s += x[r * xStride + xOffset + c] ** 2;
    const inv = 1 / Math.sqrt(s / cols + eps);
    for (let c = 0; c < cols; c++) y[r * cols + c] = x[r * xStride + xOffset + c] * inv * w[c];
  }
  return y;
}

export const rmsnormFamily: KernelFamily = {
  cases: () =>
    grid({ mode: ['plain', 'strided', 'add'], rows: [1, 7, 33], cols: [5, 96, 1023], shape: ['row', 'workgroup'] } as const).map((p) => ({
      name: caseName(p),
      async run(ctx): Promise<Record<string, Comparison>> {
        const { rows, cols, mode, shape } = p;
        const rng = createRng(rows * 7919 + cols * 31 + mode.length);
        const io = new CaseBuffers(ctx, `rmsnorm:${caseName(p)}`);
        try {
          const w = rng.uniform(cols, 0.5, 1.5);
          if (mode === 'add') {
            const h0 = rng.uniform(rows * cols, -2, 2);
            const delta = rng.uniform(rows * cols, -2, 2);
            const h1 = Float64Array.from(h0, (v, i) => v + delta[i]);
            const bufs = { delta: io.input('delta', delta), weight: io.input('w', w), h: io.input('h', h0), y: io.output('y', rows * cols) };
            await io.run(() => [addRmsnorm(ctx, { ...bufs, rows, cols, eps: EPS, shape })]);
            return {
              h: compare(await io.read(bufs.h, rows * cols), h1, TOL),
              y: compare(await io.read(bufs.y, rows * cols), rmsnormRef(h1, w, rows, cols, EPS), TOL),
            };
          }
          // 'strided' reads a slice from the middle of wider rows, as kv_a_layernorm does.
          const xStride = mode === 'strided' ? cols + 11 : cols;
          const xOffset = mode === 'strided' ? 3 : 0;
          const x = rng.uniform(rows * xStride, -3, 3);
          const bufs = { x: io.input('x', x), weight: io.input('w', w), y: io.output('y', rows * cols) };
          await io.run(() => [rmsnorm(ctx, { ...bufs, rows, cols, eps: EPS, xStride, xOffset, shape })]);
          return { y: compare(await io.read(bufs.y, rows * cols), rmsnormRef(x, w, rows, cols, EPS, xStride, xOffset), TOL) };
        } finally {
          io.destroy();
        }
      },
    })),
};
