// `webmoe run`: runs a model in headless Chromium on WebGPU (the engine a browser runs), or with --runtime node
// in Node on Dawn (node-runtime.ts), and prints the reply, or with --json one JSON object on the last line of
// standard output.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCommandArgs, UsageError } from './args';
import { openBrowserSession } from './browser';
import { runtimeOption } from './node-runtime';
import { parseBatch } from './run-batch';
import { RUN_OPTIONS, parseRunRequest } from './run-request';
import { folderShardBytes, runStorage } from './run-storage';
import type { RunError, RunRequest, RunResult } from '../page/run';

const USAGE = `usage: webmoe run --model <dir> (--prompt-ids 0,17,42 | --prompt "text") [--max-tokens N] [--temperature T]
       [--top-p P] [--top-k K] [--seed S] [--quant f32|f16|q8|q4|fp8|bf16] [--context N] [--kv-cache f32|f16|fp8] [--prefill-chunk N] [--logits [--mtp]] [--json] [--verbose]
       [--runtime chromium|node] [--speculative mtp|off] [--speculative-depth 1|2|3] [--decode-ahead N] [--gpu-memory SIZE] [--expert-slots N] [--profile DIR]
  <dir>: a converted webmoe folder (manifest.json) or a Hugging Face checkpoint folder (config.json), which is
  converted with --quant (default q4) into a cache folder and reused next time.
  --prefill-chunk N caps the tokens of one forward call (default: sized to the adapter).
  --kv-cache stores V2/V3's latent KV cache in f32 (default, exact), f16 or fp8 (E4M3, a scale per row);
  --json's kv report gives the context each format allows within a KV budget.
  --temperature 0 (the default) is greedy; --logits adds every step's logits row to --json's output.
  --mtp (with --logits) loads the multi-token-prediction module (DeepSeek-V4; a checkpoint is converted with it)
  and adds its rows as mtp_logits: row i is the module at position i fed the token at i+1, predicting i+2.
  --runtime node runs the same engine in Node on Dawn (npm webgpu) instead of headless Chromium.
  --speculative mtp decodes with the MTP module as the drafter (a checkpoint is converted with it), off one
  token per step; default: on when the folder has the module. --json's speculation gives its figures.
  --speculative-depth N drafts N tokens per step (default 1), the module fed its own output for each after
  the first (docs/speculative.md#chained-drafts).
  --decode-ahead N keeps N plain decode steps in flight, each fed the last one's token on the GPU, so that a
  token does not wait for its readback (default 4 on hardware adapters, 1 (off) on software ones;
  docs/decode-loop.md).
  --gpu-memory 2GiB limits the model's GPU memory: a larger model runs with its routed experts paged in from
  storage (docs/paging.md), and --json's paging gives the hit rate and bytes uploaded per token;
  --expert-slots N pages with exactly N expert slots per MoE layer.
  --profile DIR runs Chromium with that profile folder and stores the model in its IndexedDB, as a page's
  engine does (a second run loads from storage). Without it a model over 1 GiB streams: its shards are hashed
  on the way to the GPU but not stored, and paged experts are fetched by Range requests; smaller ones are
  held in memory for the run. --json's storage says which.
usage: webmoe run --batch <file.json> [--verbose]
  runs several requests in one headless Chromium page (one GPU device: pipelines compiled by one load are
  reused by the next; each request loads its own model). The file holds a JSON array with one array of run
  arguments per request, e.g. [["--model", "a", "--prompt-ids", "1,2"], ["--model", "b", "--prompt", "hi"]]
  (no --profile, --runtime or --verbose in them); standard output gets one JSON line per request, in order,
  as --json prints it, or {"error": {"code", "message"}} for a request that failed; the exit status is then 1.`;

/**
 * A converted folder for `dir`: itself, or a cached conversion keyed by the checkpoint's files, quant and
 * whether it holds the MTP module (`mtp`: a conversion without it is not reused for a run that needs it).
 */
export async function resolveModelFolder(dir: string, quant: string, log: (s: string) => void, mtp = false): Promise<string> {
  const abs = resolve(dir);
  if (existsSync(join(abs, 'manifest.json'))) return abs;
  if (!existsSync(join(abs, 'config.json'))) throw new Error(`${dir}: neither a webmoe model folder (manifest.json) nor a Hugging Face checkpoint (config.json)`);
  const h = createHash('sha256').update(abs).update(quant).update(mtp ? ':mtp' : '');
  for (const f of readdirSync(abs).sort()) {
    const st = statSync(join(abs, f));
    if (st.isFile()) h.update(`${f}:${st.size}:${st.mtimeMs}`);
  }
  const cacheRoot = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'webmoe', 'converted');
  const out = join(cacheRoot, `${h.digest('hex').slice(0, 16)}-${quant}${mtp ? '-mtp' : ''}`);
  if (existsSync(join(out, 'manifest.json'))) {
    log(`using the cached conversion ${out}`);
    return out;
  }
  log(`converting ${abs} (${quant}${mtp ? ', with MTP' : ''}) into ${out}`);
  const { convertCheckpoint } = await import('@webmoe/converter');
  await convertCheckpoint(abs, out, { quant: quant as never, force: true, mtp });
  return out;
}

export async function runCommand(argv: string[]): Promise<void> {
  const o = parseCommandArgs(argv, RUN_OPTIONS, USAGE);
  if (!o) return;
  if (o.batch !== undefined) return runBatchCommand(o);
  const { model, quant, needsMtp, request } = parseRunRequest(o, USAGE);
  const log = (s: string) => {
    if (o.verbose || !o.json) process.stderr.write(`${s}\n`);
  };
  const runtime = runtimeOption(o.runtime);
  if (runtime === 'node') await (await import('./node-runtime')).ensureVulkanLoader(log);
  const folder = await resolveModelFolder(model, quant, log, needsMtp);
  if (runtime === 'node' && o.profile !== undefined) throw new UsageError('--profile is a Chromium profile; it takes no --runtime node');
  const result = runtime === 'node' ? await runInNode(folder, request, log)
    : await runFolderInChromium(folder, request, { verbose: Boolean(o.verbose), ...(o.profile !== undefined ? { profile: String(o.profile) } : {}) });
  if ('error' in result) throw new Error(`${result.error.code}: ${result.error.message}`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(`${result.text ?? result.tokens.join(',')}\n`);
  const t = result.timings;
  log(`${result.tokens.length} tokens; prefill ${t.prefill_tokens_per_s.toFixed(1)} tok/s, decode ${t.decode_tokens_per_s.toFixed(1)} tok/s on ${result.adapter} (${result.quant}, ${runtime})`);
  const sp = result.speculation;
  if (result.paging) log(pagingLine(result.paging));
  if (sp.mode === 'mtp' && sp.steps) log(`speculation: ${sp.tokens_per_step?.toFixed(2)} tokens per decode step, ${((sp.acceptance_rate ?? 0) * 100).toFixed(1)} % of drafts accepted`);
}

/** One line of paging figures for the console (docs/paging.md). */
export function pagingLine(p: NonNullable<RunResult['paging']>): string {
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`);
  return `expert paging: ${p.slots_per_layer} of ${p.experts} experts per layer on the GPU; decode hit rate ${pct(p.hit_rate)}, `
    + `${((p.bytes_uploaded_per_token ?? 0) / 2 ** 20).toFixed(2)} MiB uploaded per token, host cache hit rate ${pct(p.host_hit_rate)}`;
}

async function runInNode(folder: string, request: RunRequest, log: (s: string) => void): Promise<RunResult | RunError> {
  const { fileFetch, folderUrl, loadRepoModule, nodeGpu } = await import('./node-runtime');
  const gpu = await nodeGpu(log);
  const page = await loadRepoModule<typeof import('../page/run')>('/packages/cli/page/run.ts');
  try {
    return await page.module.runOrError({ ...request, modelUrl: folderUrl(folder) }, { gpu, fetch: fileFetch });
  } finally {
    await page.close();
  }
}

/**
 * One run of a converted folder in headless Chromium, the page path: served over HTTP, stored in the
 * browser's IndexedDB, held in memory or streamed as run-storage.ts decides, uploaded to the GPU (also
 * `webmoe bench --full-size`).
 */
export async function runFolderInChromium(folder: string, request: RunRequest, opts: { verbose?: boolean; profile?: string } = {}): Promise<RunResult | RunError> {
  return (await runFoldersInChromium([{ folder, request }], opts))[0];
}

/**
 * Runs of converted folders one after another in one headless Chromium page (runFolderInChromium's path):
 * one GPU device, so a later load reuses the pipelines an earlier one compiled. The results are in the
 * items' order; a run that fails, or whose page call throws, has its error as its result.
 */
export async function runFoldersInChromium(items: readonly { folder: string; request: RunRequest }[], opts: { verbose?: boolean; profile?: string } = {}): Promise<(RunResult | RunError)[]> {
  // Storage belongs to the origin and the model's URL: a profile's page server always takes the same port
  // and a folder the same path, so that a second run finds what the first stored.
  const runs = items.map(({ folder, request }) => ({
    request,
    storage: runStorage(folderShardBytes(folder), opts.profile),
    mount: `/__model/${createHash('sha256').update(resolve(folder)).digest('hex').slice(0, 12)}/`,
    folder,
  }));
  const { userDataDir, port } = runs[0]?.storage ?? runStorage(0, opts.profile);
  const session = await openBrowserSession({
    page: 'packages/cli/page/run.html',
    mounts: Object.fromEntries(runs.map((r) => [r.mount, r.folder])),
    onConsole: opts.verbose ? (l) => process.stderr.write(`${l}\n`) : undefined,
    ...(userDataDir ? { userDataDir, port } : {}),
  });
  try {
    await session.page.waitForFunction(() => 'webmoeCli' in window);
    const results: (RunResult | RunError)[] = [];
    for (const { request, storage, mount } of runs) {
      const r: RunRequest = { ...request, modelUrl: `${session.baseUrl}${mount}`, storage: storage.mode };
      results.push(await session.page.evaluate((req) => (window as unknown as { webmoeCli: { run(r: RunRequest): Promise<RunResult | RunError> } }).webmoeCli.run(req), r)
        .catch((e: unknown) => ({ error: { code: 'internal', message: e instanceof Error ? e.message : String(e) } })));
    }
    return results;
  } finally {
    await session.close();
  }
}

/** `webmoe run --batch FILE`: one JSON line per request, in order; fails after printing them if any failed. */
async function runBatchCommand(o: Record<string, string | number | boolean>): Promise<void> {
  const extra = Object.keys(o).find((k) => !['batch', 'verbose', 'json'].includes(k));
  if (extra) throw new UsageError(`--${extra} goes in the batch file's requests (with --batch only --verbose is given)`);
  const file = String(o.batch);
  const parsed = parseBatch(readFileSync(file, 'utf8'), file, USAGE);
  const log = (s: string) => {
    if (o.verbose) process.stderr.write(`${s}\n`);
  };
  const results: (RunResult | RunError)[] = [];
  const ready: { index: number; folder: string; request: RunRequest }[] = [];
  for (const [index, p] of parsed.entries()) {
    try {
      ready.push({ index, folder: await resolveModelFolder(p.model, p.quant, log, p.needsMtp), request: p.request });
    } catch (e) {
      results[index] = { error: { code: 'model_folder', message: e instanceof Error ? e.message : String(e) } };
    }
  }
  if (ready.length) {
    const ran = await runFoldersInChromium(ready, { verbose: Boolean(o.verbose) });
    for (const [i, { index }] of ready.entries()) results[index] = ran[i];
  }
  for (const r of results) process.stdout.write(`${JSON.stringify(r)}\n`);
  const failed = results.filter((r) => 'error' in r).length;
  if (failed) throw new Error(`${failed} of ${results.length} requests failed (their lines hold the errors)`);
}
