import { quantizeRows } from './packages/webmoe/src/model/quantize';
import { createRng } from './packages/webmoe/src/util/random';
const rows = 1024, cols = 4096;
const v = createRng(1).uniform(rows * cols, -0.05, 0.05);
for (const f of ['q4', 'q8', 'fp8', 'f16'] as const) {
  quantizeRows(f, v, rows, cols);
  const t = performance.now();
  for (let k = 0; k < 3; k++) quantizeRows(f, v, rows, cols);
  console.log(f, ((performance.now() - t) / 3 / (rows * cols) * 1e6).toFixed(1), 'ns/elem');
}
