// Greedy continuation read back row by row, for the pages that compare whole models' logits.
import type { GpuModel } from 'webmoe';

export function argmax(r: ArrayLike<number>): number {
  let b = 0;
  for (let i = 1; i < r.length; i++) if (r[i] > r[b]) b = i;
  return b;
}

/** From a fresh cache: logits[0] after the prompt, logits[i] after tokens[i-1]. */
export async function greedyRows(model: GpuModel, prompt: number[], n: number): Promise<{ tokens: number[]; logits: number[][] }> {
  model.reset();
  const logits: number[][] = [];
  const tokens: number[] = [];
  let row = await model.logitsAfter(prompt);
  for (let i = 0; i < n; i++) {
    logits.push(Array.from(row));
    tokens.push(argmax(row));
    if (i < n - 1) row = await model.logitsAfter([tokens[i]]);
  }
  return { tokens, logits };
}
