// Products at the widths of released checkpoints (hidden 2048 and 7168 in every weight format, the 256-expert
// router's gate, a 102400-row LM head), one or two cases per width rather than a grid: run by the page
// e2e/kernels-real-width.spec.ts drives (main.ts) and by `webmoe kernels` (harness/grid.ts). The cases are the
// matmul family's (e2e/kernels/matmul.ts), whose tolerance grows with the reduction length
// (docs/kernels.md#tolerances).
import { WEIGHT_FORMATS } from 'webmoe';
import type { KernelCase } from '../lib/cases';
import { K_QUANTS, plainCase } from '../kernels/matmul';
import { splitTableCase } from './split-cases';

export const REAL_WIDTH_CASES: KernelCase[] = [
  // V2-Lite's hidden 2048: several tokens (prefill's tiles) in the row shape; V3's 7168: decode's matvec.
  ...WEIGHT_FORMATS.map((format) => plainCase(format, 'row', 'n', { rows: 19, cols: 2048, T: 3 })),
  ...WEIGHT_FORMATS.map((format) => plainCase(format, 'workgroup', 'n', { rows: 19, cols: 7168, T: 1 })),
  ...K_QUANTS.map((format) => plainCase(format, 'workgroup', 'n', { rows: 7, cols: 7168, T: 1 })),
  // V3's router gate: 256 experts over hidden 7168, in f32 as converted.
  plainCase('f32', 'workgroup', 'n', { rows: 256, cols: 7168, T: 2 }),
  // V2's LM head rows (vocab 102400) in the row shape: the workgroup shape's workgroup per row (more than one
  // grid dimension holds, grid1d's y split) costs SwiftShader ~150 s at this height.
  plainCase('f16', 'row', 'n', { rows: 102400, cols: 64, T: 1 }),
  plainCase('q8', 'row', 'n', { rows: 102400, cols: 64, T: 2 }),
  // A table split over three buffers: products and gathers per part against the whole table's reference.
  splitTableCase('f16', 'row', 3001, 37, 2),
  splitTableCase('f16', 'workgroup', 1001, 37, 1),
];
