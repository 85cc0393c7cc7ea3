// Cross-checks fixtures/trained/greedy.json (PyTorch, float64) with the project's own float64 reference
// (packages/reference, written independently from docs/architecture-v3.md): on the HF folder the 32 tokens must
// be equal and the top-5 logits agree to float64 rounding; on each converted folder given after it, prints
// how many leading tokens a conversion keeps (its weights dequantized, computed in float64).
//   node --import tsx tools/train/check_reference.mjs fixtures/trained/greedy.json fixtures/trained/hf [converted...]
import { readFileSync } from 'node:fs';
import { runReference } from '@webmoe/reference';

const [greedyPath, hfDir, ...converted] = process.argv.slice(2);
if (!hfDir) {
  console.error('usage: node --import tsx tools/train/check_reference.mjs GREEDY_JSON HF_DIR [CONVERTED_DIR...]');
  process.exit(2);
}
const g = JSON.parse(readFileSync(greedyPath, 'utf8'));
const n = g.tokens.length;
const prefix = (tokens) => {
  let i = 0;
  while (i < n && tokens[i] === g.tokens[i]) i++;
  return i;
};

let failed = false;
const ref = await runReference(hfDir, g.prompt, n);
let worst = 0;
g.top5.forEach((row, i) => {
  for (const [id, value] of row) worst = Math.max(worst, Math.abs(ref.logits[i][id] - value) / Math.max(1, Math.abs(value)));
});
const same = prefix(ref.tokens);
console.log(`${hfDir}: ${same}/${n} tokens equal, top-5 logits differ by at most ${worst.toExponential(2)} (relative)`);
if (same !== n || worst > 1e-9) failed = true;

for (const dir of converted) {
  const r = await runReference(dir, g.prompt, n);
  const k = prefix(r.tokens);
  const diverged = k < n ? ` (step ${k}: ${r.tokens[k]} instead of ${g.tokens[k]}, reference margin ${g.margins[k].toFixed(3)})` : '';
  console.log(`${dir}: first ${k}/${n} tokens equal${diverged}`);
}
process.exit(failed ? 1 : 0);
