// `webmoe run`: runs a model in headless Chromium on WebGPU (the engine a browser runs), or with --runtime node
// in Node on Dawn (node-runtime.ts), and prints the reply, or with --json one JSON object on the last line of
// standard output.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCommandArgs, splitList, UsageError } from './args';
import { parseByteSize } from './byte-size';
import { openBrowserSession } from './browser';
import { runtimeOption } from './node-runtime';
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
  token does not wait for its readback (default 1: off; docs/decode-loop.md).
  --gpu-memory 2GiB limits the model's GPU memory: a larger model runs with its routed experts paged in from
  storage (docs/paging.md), and --json's paging gives the hit rate and bytes uploaded per token;
  --expert-slots N pages with exactly N expert slots per MoE layer.
  --profile DIR runs Chromium with that profile folder and stores the model in its IndexedDB, as a page's
  engine does (a second run loads from storage). Without it a model over 1 GiB streams: its shards are hashed
  on the way to the GPU but not stored, and paged experts are fetched by Range requests; smaller ones are
  held in memory for the run. --json's storage says which.`;

const SPEC = {
  model: { type: 'string' }, 'prompt-ids': { type: 'string' }, prompt: { type: 'string' }, 'max-tokens': { type: 'number' },
  temperature: { type: 'number' }, 'top-p': { type: 'number' }, 'top-k': { type: 'number' }, seed: { type: 'number' },
  quant: { type: 'string' }, context: { type: 'number' }, 'kv-cache': { type: 'string' }, 'prefill-chunk': { type: 'number' }, logits: { type: 'flag' }, mtp: { type: 'flag' }, json: { type: 'flag' }, verbose: { type: 'flag' },
  runtime: { type: 'string' }, speculative: { type: 'string' }, 'speculative-depth': { type: 'number' }, 'decode-ahead': { type: 'number' }, 'gpu-memory': { type: 'string' }, 'expert-slots': { type: 'number' }, profile: { type: 'string' }, help: { type: 'flag' },
} as const;

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
  const o = parseCommandArgs(argv, SPEC, USAGE);
  if (!o) return;
  if (typeof o.model !== 'string') throw new UsageError(`--model is required\n${USAGE}`);
  if ((o['prompt-ids'] === undefined) === (o.prompt === undefined)) throw new UsageError('give exactly one of --prompt-ids and --prompt');
  const quant = String(o.quant ?? 'q4');
  if (!['f32', 'f16', 'q8', 'q4', 'fp8', 'bf16'].includes(quant)) throw new UsageError(`--quant must be one of f32, f16, q8, q4, fp8, bf16 (got ${quant})`);
  let promptIds: number[] | undefined;
  if (typeof o['prompt-ids'] === 'string') {
    promptIds = splitList(o['prompt-ids']).map(Number);
    if (!promptIds.length || promptIds.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError(`--prompt-ids must be comma-separated non-negative integers (got ${o['prompt-ids']})`);
  }
  if (o.mtp && !o.logits) throw new UsageError('--mtp needs --logits (its rows are read back as mtp_logits)');
  const log = (s: string) => {
    if (o.verbose || !o.json) process.stderr.write(`${s}\n`);
  };
  const runtime = runtimeOption(o.runtime);
  if (runtime === 'node') await (await import('./node-runtime')).ensureVulkanLoader(log);
  const request: RunRequest = {
    modelUrl: '', // set by the runtime: the page server's or the folder's URL
    ...(promptIds ? { promptIds } : { prompt: String(o.prompt) }),
    maxTokens: Number(o['max-tokens'] ?? 32),
    temperature: Number(o.temperature ?? 0),
    topP: Number(o['top-p'] ?? 1),
    topK: Number(o['top-k'] ?? 0),
    seed: Number(o.seed ?? 0),
    logits: Boolean(o.logits),
    mtp: Boolean(o.mtp),
    ...(o.context !== undefined ? { contextLength: Number(o.context) } : {}),
    ...(o['kv-cache'] !== undefined ? { kvCacheFormat: String(o['kv-cache']) as RunRequest['kvCacheFormat'] } : {}),
    ...(o['prefill-chunk'] !== undefined ? { prefillChunk: Number(o['prefill-chunk']) } : {}),
    ...(o.speculative !== undefined ? { speculative: String(o.speculative) as RunRequest['speculative'] } : {}),
    ...(o['speculative-depth'] !== undefined ? { speculativeDepth: Number(o['speculative-depth']) as RunRequest['speculativeDepth'] } : {}),
    ...(o['decode-ahead'] !== undefined ? { decodeAhead: Number(o['decode-ahead']) } : {}),
    ...(o['gpu-memory'] !== undefined ? { gpuMemoryBudget: parseByteSize('gpu-memory', o['gpu-memory'] as string) } : {}),
    ...(o['expert-slots'] !== undefined ? { expertSlots: Number(o['expert-slots']) } : {}),
  };
  if (request.speculative !== undefined && !['mtp', 'off'].includes(request.speculative)) {
    throw new UsageError(`--speculative must be mtp or off (got ${request.speculative})`);
  }
  if (request.speculativeDepth !== undefined && ![1, 2, 3].includes(request.speculativeDepth)) {
    throw new UsageError(`--speculative-depth must be 1, 2 or 3 (got ${o['speculative-depth']})`);
  }
  if (!(request.maxTokens >= 1)) throw new UsageError('--max-tokens must be at least 1');
  if (request.kvCacheFormat !== undefined && !['f32', 'f16', 'fp8'].includes(request.kvCacheFormat)) {
    throw new UsageError(`--kv-cache must be one of f32, f16, fp8 (got ${request.kvCacheFormat})`);
  }
  if (request.prefillChunk !== undefined && !(Number.isInteger(request.prefillChunk) && request.prefillChunk >= 1)) {
    throw new UsageError(`--prefill-chunk must be a positive integer (got ${o['prefill-chunk']})`);
  }
  const folder = await resolveModelFolder(o.model, quant, log, Boolean(o.mtp) || request.speculative === 'mtp');
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
  const storage = runStorage(folderShardBytes(folder), opts.profile);
  // Storage belongs to the origin and the model's URL: a profile's page server always takes the same port
  // and a folder the same path, so that a second run finds what the first stored.
  const mount = `/__model/${createHash('sha256').update(resolve(folder)).digest('hex').slice(0, 12)}/`;
  const session = await openBrowserSession({
    page: 'packages/cli/page/run.html',
    mounts: { [mount]: folder },
    onConsole: opts.verbose ? (l) => process.stderr.write(`${l}\n`) : undefined,
    ...(storage.userDataDir ? { userDataDir: storage.userDataDir, port: storage.port } : {}),
  });
  try {
    const r: RunRequest = { ...request, modelUrl: `${session.baseUrl}${mount}`, storage: storage.mode };
    await session.page.waitForFunction(() => 'webmoeCli' in window);
    return await session.page.evaluate((req) => (window as unknown as { webmoeCli: { run(r: RunRequest): Promise<RunResult | RunError> } }).webmoeCli.run(req), r);
  } finally {
    await session.close();
  }
}
