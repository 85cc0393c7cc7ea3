// A table split by rows over three buffers (docs/model-folder.md#split-tensors): the LM head product and
// the embedding gather launched once per part (productParts, gatherParts) against float64 references of
// the whole table. Each part is encoded from its own rows of the table's values (f16 holds them exactly,
// so the parts hold the whole tensor's bytes), not cut by the engine's split planning.
import {
  createRng, gatherParts, matmul, productParts, quantize, tensorLayout,
  type KernelContext, type KernelShape, type WeightPart,
} from 'webmoe';
import { compare, type Comparison } from '../lib/compare';
import { caseName, type KernelCase } from '../lib/cases';
import { CaseBuffers } from '../lib/gpu';
import { dotTolerance, testTensor } from '../kernels/matmul';

export function splitTableCase(format: 'f16' | 'f32', shape: KernelShape, rows: number, cols: number, T: number): KernelCase {
  const name = caseName({ op: 'split-table', format, shape, rows, cols, T });
  return {
    name,
    async run(ctx: KernelContext): Promise<Record<string, Comparison>> {
      const rng = createRng(rows + 31 * cols + T);
      const whole = testTensor(format, rows, cols, rng);
      const values = Array.from(whole.w);
      const bounds = [0, Math.floor(rows / 3) & ~1, Math.floor((2 * rows) / 3) & ~1, rows];
      const io = new CaseBuffers(ctx, `split:${name}`);
      try {
        const parts: WeightPart[] = bounds.slice(0, 3).map((r0, i) => {
          const n = bounds[i + 1] - r0;
          const bytes = quantize(format, [n, cols], Float32Array.from(values.slice(r0 * cols, (r0 + n) * cols)));
          return { buffer: io.input(`w${i}`, bytes), offset: 0, layout: tensorLayout(format, [n, cols]), rowStart: r0 };
        });
        // Products: y[t, r] = Σ_c W[r, c] x[t, c] over every row of the table.
        const x = rng.uniform(T * cols, -1, 1);
        const ref = new Float64Array(T * rows);
        for (let t = 0; t < T; t++) {
          for (let r = 0; r < rows; r++) {
            let s = 0;
            for (let c = 0; c < cols; c++) s += whole.w[r * cols + c] * x[t * cols + c];
            ref[t * rows + r] = s;
          }
        }
        // Gather: ids in every part, on both sides of each boundary, and past the table (zero rows).
        const ids = Uint32Array.from([0, bounds[1] - 1, bounds[1], bounds[2], rows - 1, rows, rows + 77, 5]);
        const rowsRef = Array.from(ids).flatMap((id) => (id < rows ? values.slice(id * cols, (id + 1) * cols) : new Array<number>(cols).fill(0)));
        const y = io.output('y', T * rows);
        const g = io.output('g', ids.length * cols);
        const xb = io.input('x', x), idb = io.input('ids', ids);
        await io.run(() => [
          ...productParts(parts, { x: xb, y, tokens: T, shape }, (a) => matmul(ctx, a, name), name),
          ...gatherParts(ctx, parts, { ids: idb, y: g, tokens: ids.length }, name),
        ]);
        let maxW = 0;
        for (const v of whole.w) maxW = Math.max(maxW, Math.abs(v));
        return {
          y: compare(await io.read(y, T * rows), ref, dotTolerance(cols, maxW)),
          // The gather copies dequantized values: exact.
          gather: compare(await io.read(g, ids.length * cols), rowsRef, { atol: 0, rtol: 0 }),
        };
      } finally {
        io.destroy();
      }
    },
  };
}
