// `webmoe bench`: generates the benchmark's models once (BF16 checkpoints with DeepSeek-V3's proportions,
// converted to q4 and f32, cached under ~/.cache/webmoe/bench), measures them in headless Chromium on
// WebGPU through packages/cli/page/bench.ts (or with --runtime node the same code in Node on Dawn,
// node-runtime.ts), and prints a table, or with --json one JSON object on the last line of standard output.
// What each figure means: packages/cli/BENCH.md.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs, splitList, UsageError } from './args';
import { openBrowserSession, startPageServer } from './browser';
import { runtimeOption } from './node-runtime';
import { BENCH_MODELS, BENCH_SETTINGS, SCALING_EXPERTS, scalingModel, speculationModel, v3Config, type BenchModel } from './bench-models';
import { formatDetails, formatTable, summarize, type BenchModelResult, type ScalingRow } from './bench-report';
import { formatSpeculation, type SpeculationRow } from './bench-speculation';
import { formatPaging, pagingRequest, type PagingRow } from './bench-paging';
import { formatFullSize, fullSizeBudgets, fullSizeRequest, fullSizeRow, type FullSizeRow } from './bench-full-size';
import { parseByteSize } from './byte-size';
import { runFolderInChromium } from './run';
import { folderShardBytes } from './run-storage';
import { DEMO_MODEL_DIR, demoSpeculationModel, generatedSpeculationModel } from './bench-speculation-models';
import type { BenchError, BenchPageApi, BenchRequest } from '../page/bench';
import type { MatmulPrefill, MlaPrefillKernel } from 'webmoe';

const USAGE = `usage: webmoe bench [--quick] [--json] [--verbose] [--cache <dir>] [--serve [--port N]] [--runtime chromium|node]
                    [--models 10M,100M,500M] [--quants q4,f32] [--prompts 16,128,1024] [--no-scaling] [--no-speculation] [--no-paging]
                    [--prepare-only] [--matmul-prefill tile|gemm|gemm-f16] [--gemm-min-tokens N] [--mla-prefill tile|heads|latent-gemm]
  Measures generated DeepSeek-V3-proportioned models (about 10M, 100M and 500M parameters; --quick: 10M and
  100M with shorter prompts and fewer tokens) in q4 and f32, the two probes, a timestamp profile and MoE
  scaling over 8, 32 and 128 experts. --json: one JSON object on the last line of standard output.
  --cache: where the generated models live (default ~/.cache/webmoe/bench). --serve: prepare the models,
  then serve the bench page and print its address, to run the same benchmark in a browser on a real GPU.
  --models/--quants/--prompts narrow a run to what one change touches; --no-scaling skips MoE scaling.
  Speculation: the demo model and the 10M/100M models with an MTP module (q4), decoded with and without
  speculative decoding, and the demo module's acceptance on held-out text; --no-speculation skips it.
  Expert paging: the demo model and the first q4 model fully resident and with a quarter of their experts in GPU
  slots (docs/paging.md): hit rate, bytes uploaded per token, tokens/s; --no-paging skips it.
  --runtime node measures in Node on Dawn (npm webgpu) instead of headless Chromium. --prepare-only generates
  and converts the models the other options name, and measures nothing (a GPU machine's lease runs the kernel
  grids meanwhile: scripts/gpu-bench.sh all). --matmul-prefill makes every model's prefill products take rows_tile,
  product_gemm or product_gemm in f16 arithmetic (needs shader-f16) instead of the engine's choice; --gemm-min-tokens
  lets prefill launches of at least N (5 to 64) tokens per weight take product_gemm (default 64); --mla-prefill
  makes prefill attention take mla_attend_tile, mla_attend_heads or the latent GEMM.
       webmoe bench --full-size <dir>[,<dir>] [--gpu-memory SIZE] [--resident] [--json] [--verbose]
  Only the full-size section: converted full-size folders (webmoe generate <dir> --preset v2-lite-full --quant q4)
  run through webmoe run's page path (streamed from the page server when over 1 GiB), paged within --gpu-memory
  (default 2GiB); --resident adds a run without a budget, and alone (no --gpu-memory) runs only that one:
  load time, GPU memory by kind, ms per token, hit rate, bytes uploaded per token.`;

const SPEC = {
  quick: { type: 'flag' }, json: { type: 'flag' }, verbose: { type: 'flag' }, cache: { type: 'string' },
  serve: { type: 'flag' }, port: { type: 'number' }, help: { type: 'flag' },
  models: { type: 'string' }, quants: { type: 'string' }, prompts: { type: 'string' }, 'no-scaling': { type: 'flag' },
  'no-speculation': { type: 'flag' }, 'no-paging': { type: 'flag' }, 'prepare-only': { type: 'flag' }, 'matmul-prefill': { type: 'string' }, 'gemm-min-tokens': { type: 'string' },
  'mla-prefill': { type: 'string' },
  runtime: { type: 'string' }, 'full-size': { type: 'string' }, 'gpu-memory': { type: 'string' }, resident: { type: 'flag' },
} as const;

const QUANTS = ['q4', 'f32'] as const;

/**
 * The checkpoint and its conversion, made once; the checkpoint remade when the model's config changed, the
 * conversion also when an older converter made it (manifest.json `converterVersion`, CONVERTER_VERSION).
 */
async function prepare(root: string, m: BenchModel, quant: 'q4' | 'f32', log: (s: string) => void): Promise<string> {
  const config = JSON.stringify(v3Config(m.shape, m.mtp));
  const src = join(root, m.name);
  const out = join(root, `${m.name}-${quant}`);
  const read = (file: string): Record<string, unknown> | null => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      return null;
    }
  };
  const { CONVERTER_VERSION, convertCheckpoint, generateCheckpoint } = await import('@webmoe/converter');
  const manifest = read(join(out, 'manifest.json'));
  const sameModel = JSON.stringify((manifest?.model as { hf?: unknown } | undefined)?.hf) === config;
  if (sameModel && manifest?.converterVersion === CONVERTER_VERSION) return out;
  if (JSON.stringify(read(join(src, 'config.json'))) !== config) {
    log(`generating ${m.name} (BF16) in ${src}`);
    await generateCheckpoint(src, { config: v3Config(m.shape, m.mtp), seed: 1, force: true });
  }
  const why = sameModel ? ` (converter version ${String(manifest?.converterVersion ?? 'none')} → ${CONVERTER_VERSION})` : '';
  log(`converting ${m.name} to ${quant}${why}`);
  await convertCheckpoint(src, out, { quant, force: true, mtp: m.mtp === true });
  return out;
}

export async function benchCommand(argv: string[]): Promise<void> {
  const { options: o, positionals } = parseArgs(argv, SPEC);
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}\n${USAGE}`);
  if (typeof o['full-size'] === 'string') {
    await fullSizeBench(listOption(o['full-size'], 'full-size'), o, { json: Boolean(o.json), verbose: Boolean(o.verbose) });
    return;
  }
  if (o['gpu-memory'] !== undefined || o.resident) throw new UsageError('--gpu-memory and --resident go with --full-size');
  const quick = Boolean(o.quick);
  const s = { ...(quick ? BENCH_SETTINGS.quick : BENCH_SETTINGS.full) };
  if (typeof o.prompts === 'string') s.prompts = listOption(o.prompts, 'prompts').map(Number);
  if (s.prompts.some((n) => !Number.isInteger(n) || n < 1)) throw new UsageError(`--prompts needs positive integers, got ${String(o.prompts)}`);
  const log = (line: string) => {
    if (o.verbose || !o.json) process.stderr.write(`${line}\n`);
  };
  const root = resolve(typeof o.cache === 'string' ? o.cache : join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'webmoe', 'bench'));
  let models = quick ? BENCH_MODELS.slice(0, 2) : BENCH_MODELS;
  if (typeof o.models === 'string') {
    const want = listOption(o.models, 'models');
    const unknown = want.filter((n) => !BENCH_MODELS.some((m) => m.label === n));
    if (unknown.length) throw new UsageError(`unknown model ${unknown[0]}; the models are ${BENCH_MODELS.map((m) => m.label).join(', ')}`);
    models = BENCH_MODELS.filter((m) => want.includes(m.label));
  }
  const quants = typeof o.quants === 'string' ? listOption(o.quants, 'quants') : [...QUANTS];
  const badQuant = quants.find((q) => !(QUANTS as readonly string[]).includes(q));
  if (badQuant) throw new UsageError(`unknown quant ${badQuant}; the bench converts to ${QUANTS.join(', ')}`);
  const scaling = o['no-scaling'] ? [] : SCALING_EXPERTS.map(scalingModel);
  const prefillChoice = o['matmul-prefill'];
  if (prefillChoice !== undefined && !['tile', 'gemm', 'gemm-f16'].includes(String(prefillChoice))) {
    throw new UsageError(`--matmul-prefill takes tile, gemm or gemm-f16, got ${String(prefillChoice)}`);
  }
  const gemmMin = o['gemm-min-tokens'] === undefined ? undefined : Number(o['gemm-min-tokens']);
  if (gemmMin !== undefined && !(Number.isInteger(gemmMin) && gemmMin >= 5 && gemmMin <= 64)) {
    throw new UsageError(`--gemm-min-tokens takes an integer from 5 to 64, got ${String(o['gemm-min-tokens'])}`);
  }
  const mlaPrefill = o['mla-prefill'];
  if (mlaPrefill !== undefined && !['tile', 'heads', 'latent-gemm'].includes(String(mlaPrefill))) {
    throw new UsageError(`--mla-prefill takes tile, heads or latent-gemm, got ${String(mlaPrefill)}`);
  }
  const runtime = runtimeOption(o.runtime);
  if (runtime === 'node' && o.serve) throw new UsageError('--serve serves the bench page to a browser; it takes no --runtime');
  if (runtime === 'node') await (await import('./node-runtime')).ensureVulkanLoader(log);

  const t0 = performance.now();
  const work: { m: BenchModel; quant: (typeof QUANTS)[number] }[] = [];
  for (const m of models) {
    for (const quant of QUANTS.filter((q) => quants.includes(q))) {
      await prepare(root, m, quant, log);
      work.push({ m, quant });
    }
  }
  for (const m of scaling) await prepare(root, m, s.scalingQuant, log);
  // The 10M and 100M models whatever --models says (--quick: 10M): speculation's cost at two widths.
  const speculating = o['no-speculation'] ? [] : BENCH_MODELS.slice(0, quick ? 1 : 2).map(speculationModel);
  for (const m of speculating) await prepare(root, m, 'q4', log);
  /** A model's folder under the cache folder's URL (`root`, ending in /). */
  const url = (root: string, m: BenchModel, quant: string) => `${root}${m.name}-${quant}/`;
  if (o['prepare-only']) {
    log(`prepared ${work.length + scaling.length + speculating.length} model folder(s) in ${root} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return;
  }

  if (o.serve) {
    const { baseUrl } = await startPageServer({ '/__bench/': root }, typeof o.port === 'number' ? o.port : 0);
    const list = work.map((w) => url('/__bench/', w.m, w.quant)).join(',');
    process.stdout.write(`open ${baseUrl}/packages/cli/page/bench.html?models=${list}${quick ? '&quick' : ''}\n(Ctrl-C to stop)\n`);
    await new Promise(() => undefined);
  }

  const backend = runtime === 'node' ? await nodeBench(root, log) : await chromiumBench(root, Boolean(o.verbose));
  const results: BenchModelResult[] = [];
  let scaled: ScalingRow[] = [];
  let speculation: SpeculationRow[] = [];
  let paging: PagingRow[] = [];
  const fail = (what: string, e: BenchError) => new Error(`${what}: ${e.error.code}: ${e.error.message}`);
  try {
    const { api } = backend;
    for (const w of work) {
      const t = performance.now();
      const request: BenchRequest = {
        modelUrl: url(backend.rootUrl, w.m, w.quant), model: w.m.label, prompts: s.prompts,
        decodePrompt: s.decodePrompt, decodeTokens: s.decodeTokens, repeats: s.repeats, probes: true,
        ...(prefillChoice !== undefined ? { matmulPrefill: prefillChoice as MatmulPrefill } : {}),
        ...(mlaPrefill !== undefined ? { mlaPrefill: mlaPrefill as MlaPrefillKernel } : {}),
        ...(gemmMin !== undefined ? { gemmMinTokens: gemmMin } : {}),
      };
      const r = await api.measure(request);
      if ('error' in r) throw fail(`${w.m.name} ${w.quant}`, r);
      results.push(r);
      log(`measured ${w.m.label} ${w.quant} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    if (scaling.length) {
      const t = performance.now();
      const r = await api.scaling({
        modelUrls: scaling.map((m) => url(backend.rootUrl, m, s.scalingQuant)), decodePrompt: s.scalingPrompt, decodeTokens: s.scalingTokens, rounds: s.scalingRounds,
      });
      if ('error' in r) throw fail('MoE scaling', r);
      scaled = r;
      log(`measured MoE scaling in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    if (speculating.length) {
      const t = performance.now();
      const r = await api.speculation({
        models: [
          demoSpeculationModel(backend.demoUrl),
          ...speculating.map((m) => generatedSpeculationModel(url(backend.rootUrl, m, 'q4'), m.label, s.decodePrompt)),
        ],
        decodeTokens: s.speculationTokens, rounds: s.speculationRounds, heldOutWindows: s.heldOutWindows, heldOutWindowTokens: s.heldOutWindowTokens,
        heldOutPrompts: s.heldOutPrompts, heldOutPromptTokens: s.heldOutPromptTokens, heldOutDecodeTokens: s.heldOutDecodeTokens,
      });
      if ('error' in r) throw fail('speculation', r);
      speculation = r;
      log(`measured speculation in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    if (!o['no-paging']) {
      const t = performance.now();
      const pagedModels = work.filter((w) => w.quant === 'q4').slice(0, 1).map((w) => ({ label: w.m.label, url: url(backend.rootUrl, w.m, w.quant) }));
      const r = await api.paging(pagingRequest(backend.demoUrl, pagedModels));
      if ('error' in r) throw fail('expert paging', r);
      paging = r;
      log(`measured expert paging in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
  } finally {
    await backend.close();
  }

  const notes: string[] = [];
  notes.push(runtime === 'node' ? `runtime: Node on Dawn (npm webgpu)${process.env.WEBMOE_DAWN_FLAGS ? `, flags ${process.env.WEBMOE_DAWN_FLAGS}` : ''}` : 'runtime: headless Chromium');
  if (prefillChoice !== undefined) notes.push(`prefill products forced to '${String(prefillChoice)}' (--matmul-prefill)`);
  if (gemmMin !== undefined) notes.push(`prefill launches of at least ${gemmMin} tokens per weight take product_gemm (--gemm-min-tokens)`);
  if (mlaPrefill !== undefined) notes.push(`prefill attention forced to '${String(mlaPrefill)}' (--mla-prefill)`);
  if (results[0]?.software) notes.push(`${results[0].adapter} is a software adapter running WGSL on the CPU: absolute figures are not GPU figures.`);
  if (quick) notes.push(`--quick: 10M and 100M only, prompts of ${s.prompts.join('/')} tokens (not 1024), ${s.decodeTokens} decode tokens, ${s.repeats} timed run(s) after a warm-up.`);
  else notes.push(`medians of ${s.repeats} timed runs after a warm-up; prompts of 1024 tokens or more are timed once.`);
  const chunks = [...new Set(results.map((r) => r.prefill_chunk))];
  if (chunks.length) {
    const longest = Math.max(...s.prompts);
    notes.push(`prefill ran in chunks of up to ${chunks.join('/')} tokens, one submission each: the ${longest}-token prompt in ${chunks.map((c) => Math.ceil(longest / c)).join('/')} submission(s).`);
  }
  if (scaling.length) notes.push(`MoE scaling: ${scaling[0].label.split(' ')[0]}-model widths, top-${scaling[0].shape.topK}, ${s.scalingQuant}, decoded in alternation `
    + `over ${s.scalingRounds} rounds of ${s.scalingTokens} tokens after a ${s.scalingPrompt}-token prompt; bytes per step at position ${s.scalingPrompt + s.scalingTokens / 2}.`);
  notes.push(`total time ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  if (speculation.length) notes.push(`speculation: ${s.speculationRounds} timed round(s) of ${s.speculationTokens} greedy tokens per model and mode after a warm-up; `
    + `the demo model after a chat prompt, its held-out acceptance over ${speculation[0].held_out?.windows ?? 0} windows of ${s.heldOutWindowTokens} tokens of fixtures/trained/heldout.txt; `
    + 'the generated models\' modules are random, so their figures are the cost of a verifying step.');
  const summary = { ...summarize(results, scaled, { quick, prompts: s.prompts, decodePrompt: s.decodePrompt, decodeTokens: s.decodeTokens, repeats: s.repeats, notes }), speculation, paging };
  const text = `adapter: ${summary.adapter}${summary.software ? ' (software)' : ''}\n\n${formatTable(results)}\n${formatDetails(summary)}\n`
    + (speculation.length ? `\n${formatSpeculation(speculation).join('\n')}\n` : '')
    + (paging.length ? `\n${formatPaging(paging).join('\n')}\n` : '');
  if (o.json) {
    if (o.verbose) process.stderr.write(text);
    process.stdout.write(`${JSON.stringify(summary)}\n`);
    return;
  }
  process.stdout.write(text);
}

/** Where the bench page's code runs: its API, the URL it reads the cache folder at, and its end. */
interface BenchBackend {
  api: BenchPageApi;
  rootUrl: string;
  /** The demo's bundled model (demo/public/models/webmoe-tiny) as the page reads it. */
  demoUrl: string;
  close(): Promise<void>;
}

async function chromiumBench(root: string, verbose: boolean): Promise<BenchBackend> {
  const session = await openBrowserSession({
    page: 'packages/cli/page/bench.html',
    mounts: { '/__bench/': root, '/__demo-model/': DEMO_MODEL_DIR },
    onConsole: verbose ? (l) => process.stderr.write(`${l}\n`) : undefined,
  });
  await session.page.waitForFunction(() => 'webmoeBench' in window);
  const call = <K extends keyof BenchPageApi>(name: K) => ((req: Parameters<BenchPageApi[K]>[0]) =>
    session.page.evaluate(([n, r]) => (window as unknown as { webmoeBench: Record<string, (r: unknown) => unknown> }).webmoeBench[n](r), [name, req] as const)) as BenchPageApi[K];
  return {
    api: { measure: call('measure'), scaling: call('scaling'), speculation: call('speculation'), paging: call('paging') },
    rootUrl: `${session.baseUrl}/__bench/`, demoUrl: `${session.baseUrl}/__demo-model/`, close: () => session.close(),
  };
}

async function nodeBench(root: string, log: (s: string) => void): Promise<BenchBackend> {
  const { fileFetch, folderUrl, loadRepoModule, nodeGpu } = await import('./node-runtime');
  const gpu = await nodeGpu(log);
  const page = await loadRepoModule<typeof import('../page/bench')>('/packages/cli/page/bench.ts');
  return { api: page.module.benchApi({ gpu, fetch: fileFetch }), rootUrl: folderUrl(root), demoUrl: folderUrl(DEMO_MODEL_DIR), close: page.close };
}

function listOption(value: string, name: string): string[] {
  const list = splitList(value);
  if (!list.length) throw new UsageError(`--${name} needs a comma-separated list`);
  return list;
}

/** `--full-size`: each folder's runs, one per entry of fullSizeBudgets. */
async function fullSizeBench(dirs: string[], o: Record<string, string | number | boolean>, out: { json: boolean; verbose: boolean }): Promise<void> {
  const budgets = fullSizeBudgets(typeof o['gpu-memory'] === 'string' ? parseByteSize('gpu-memory', o['gpu-memory']) : undefined, Boolean(o.resident));
  const log = (line: string) => {
    if (out.verbose || !out.json) process.stderr.write(`${line}\n`);
  };
  const rows: FullSizeRow[] = [];
  for (const dir of dirs) {
    const folder = resolve(dir);
    const bytes = folderShardBytes(folder);
    for (const b of budgets) {
      const t = performance.now();
      const r = await runFolderInChromium(folder, fullSizeRequest(b), { verbose: out.verbose });
      if ('error' in r) throw new Error(`${dir} (${b === null ? 'resident' : `budget ${b} bytes`}): ${r.error.code}: ${r.error.message}`);
      rows.push(fullSizeRow(basename(folder), bytes, b, r));
      log(`measured ${dir} ${b === null ? 'resident' : 'paged'} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
  }
  if (out.json) {
    process.stdout.write(`${JSON.stringify({ full_size: rows })}\n`);
    return;
  }
  process.stdout.write(`${formatFullSize(rows).join('\n')}\n`);
}
