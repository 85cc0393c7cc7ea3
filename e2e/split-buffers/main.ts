// The page e2e/split-buffers.spec.ts drives: a model loaded with a lowered weight binding limit
// (GpuModelOptions.maxBindingBytes), its greedy tokens and logits, and how its tensors were split.
import { WebmoeError, acquireGpu, loadGpuModelFromUrl, type GpuContext, type GpuModel, type GpuModelOptions } from 'webmoe';
import { greedyRows } from '../lib/greedy';

export interface SplitHarness {
  /** Loads the folder at `url`; returns null, or the load's error code and message. */
  load(url: string, opts: GpuModelOptions): Promise<{ code: string; message: string } | null>;
  /** Buffers each named tensor is held in (1 unless split). */
  parts(names: string[]): number[];
  /** Per MoE layer, the [base, count] of each buffer holding its experts (one unless the group is split). */
  expertParts(layers: number[]): [number, number][][];
  /** Greedy continuation from a fresh cache: logits[0] after the prompt, logits[i] after tokens[i-1]. */
  greedy(prompt: number[], n: number): Promise<{ tokens: number[]; logits: number[][] }>;
}

let gpu: GpuContext | null = null;
let model: GpuModel | null = null;

const harness: SplitHarness = {
  async load(url, opts) {
    model?.dispose();
    model = null;
    gpu ??= await acquireGpu();
    try {
      model = (await loadGpuModelFromUrl(gpu, url, opts)).model;
      return null;
    } catch (e) {
      return e instanceof WebmoeError ? { code: e.code, message: e.message } : { code: 'not-a-webmoe-error', message: String(e) };
    }
  },
  parts(names) {
    return names.map((n) => model!.weights.tensor(n).parts?.length ?? 1);
  },
  expertParts(layers) {
    return layers.map((l) => model!.weights.experts(l).parts.map((p) => [p.base, p.count] as [number, number]));
  },
  greedy: (prompt, n) => greedyRows(model!, prompt, n),
};

(window as unknown as { splitHarness: SplitHarness }).splitHarness = harness;
