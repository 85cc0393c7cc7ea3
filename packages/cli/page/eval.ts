// The browser half of `webmoe eval` (docs/quality.md): loads one converted folder per format, tokenizes
// the text with the first folder's tokenizer, and feeds every window through all the models in lockstep,
// one token per call (GpuModel.logitsAfter, the logits a page reads back), so that each position's rows
// of every format are compared as they come and nothing of vocabulary size is kept per position.
import { adapterName, TextTokenizer, WebmoeError, acquireGpu, loadGpuModelFromUrl, type GpuModel } from 'webmoe';
import { FormatAccumulator, logSoftmax, textWindows, type FormatFigures } from '../src/eval-stats';

export interface EvalRequest {
  /** One converted folder per format; `reference` names the one the others are compared with (f32). */
  models: { quant: string; url: string }[];
  reference: string | null;
  text: string;
  /** Tokens per window, BOS included. */
  window: number;
  /** Evaluate only the first this many tokens of the text. */
  maxTokens?: number;
}

export interface EvalResult {
  /** Text tokens (after maxTokens), windows, and the tokens scored per format. */
  tokens: number;
  windows: number;
  window: number;
  formats: (FormatFigures & { quant: string; weightBytes: number })[];
  adapter: string;
  timings: { load_ms: number; eval_ms: number; tokens_per_s: number };
}

export interface EvalError {
  error: { code: string; message: string };
}

async function loadTokenizer(source: Awaited<ReturnType<typeof loadGpuModelFromUrl>>['source'], manifest: Awaited<ReturnType<typeof loadGpuModelFromUrl>>['manifest']): Promise<TextTokenizer> {
  const listed = (f: string) => manifest.tokenizer.find((t) => t.file === f);
  const json = listed('tokenizer.json');
  if (!json) throw new WebmoeError('invalid-request', 'eval needs the model\'s tokenizer.json, which the converted folder does not have');
  const cfg = listed('tokenizer_config.json');
  return TextTokenizer.fromJson(await source.json(json.file, json.sha256), cfg ? await source.json(cfg.file, cfg.sha256) : {}, { family: manifest.model.config.family });
}

async function evaluate(req: EvalRequest): Promise<EvalResult> {
  if (!req.models.length) throw new WebmoeError('invalid-request', 'eval: no model to evaluate');
  const t0 = performance.now();
  const gpu = await acquireGpu();
  const loaded = [];
  for (const m of req.models) loaded.push(await loadGpuModelFromUrl(gpu, m.url, { contextLength: req.window }));
  const models: GpuModel[] = loaded.map((l) => l.model);
  try {
    const { manifest, source } = loaded[0];
    const tokenizer = await loadTokenizer(source, manifest);
    let ids = tokenizer.encode(req.text);
    if (req.maxTokens !== undefined) ids = ids.slice(0, req.maxTokens);
    const windows = textWindows(ids, req.window, manifest.model.config.bosTokenId);
    if (!windows.length) throw new WebmoeError('invalid-request', 'eval: the text has no token to score');
    const ref = req.reference === null ? -1 : req.models.findIndex((m) => m.quant === req.reference);
    const acc = models.map(() => new FormatAccumulator());
    const t1 = performance.now();
    for (const w of windows) {
      for (const m of models) m.reset();
      // Every model's call is queued before any readback is awaited, so the formats' GPU work overlaps.
      let rows = await Promise.all(models.map((m) => m.logitsAfter([w[0]])));
      for (let k = 1; k < w.length; k++) {
        const lp = rows.map(logSoftmax);
        lp.forEach((row, j) => acc[j].add(row, w[k], ref >= 0 && j !== ref ? lp[ref] : null));
        if (k < w.length - 1) rows = await Promise.all(models.map((m) => m.logitsAfter([w[k]])));
      }
    }
    const evalMs = performance.now() - t1;
    const scored = acc[0].figures().tokens;
    return {
      tokens: ids.length,
      windows: windows.length,
      window: req.window,
      formats: acc.map((a, j) => ({ quant: req.models[j].quant, weightBytes: models[j].memory.weights, ...a.figures() })),
      adapter: adapterName(gpu.summary),
      timings: { load_ms: t1 - t0, eval_ms: evalMs, tokens_per_s: scored / (evalMs / 1000) },
    };
  } finally {
    for (const m of models) m.dispose();
    gpu.destroy();
  }
}

(window as unknown as { webmoeEval: { run(r: EvalRequest): Promise<EvalResult | EvalError> } }).webmoeEval = {
  async run(r) {
    try {
      return await evaluate(r);
    } catch (e) {
      const err = e instanceof WebmoeError ? { code: e.code, message: e.message } : { code: 'internal', message: e instanceof Error ? e.message : String(e) };
      return { error: err };
    }
  },
};
