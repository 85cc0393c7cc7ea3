// The page e2e/gguf.spec.ts drives: a model folder or a .gguf URL loaded into the GPU model, and its greedy
// logits rows.
import { acquireGpu, argmax, loadGpuModelFromUrl, type GpuContext } from 'webmoe';

export interface GgufHarness {
  /** logits[0] after the prompt, logits[i] after feeding the greedy token i-1; `steps` rows. */
  logits(url: string, prompt: number[], steps: number): Promise<{ tokens: number[]; logits: number[][] }>;
}

let gpu: GpuContext | null = null;

const harness: GgufHarness = {
  async logits(url, prompt, steps) {
    gpu ??= await acquireGpu();
    // One kernel shape chosen without timing, so that two loads run the very same arithmetic.
    const { model } = await loadGpuModelFromUrl(gpu, url, { contextLength: 64, autotune: false });
    try {
      const logits: number[][] = [];
      const tokens: number[] = [];
      let row = await model.logitsAfter(prompt);
      for (let i = 0; i < steps; i++) {
        logits.push(Array.from(row));
        tokens.push(argmax(row));
        if (i + 1 < steps) row = await model.logitsAfter([tokens[i]]);
      }
      return { tokens, logits };
    } finally {
      model.dispose();
    }
  },
};

(window as unknown as { ggufHarness: GgufHarness }).ggufHarness = harness;
