// `webmoe run`: runs a model in headless Chromium on WebGPU (the engine a browser runs) and prints the
// reply, or with --json one JSON object on the last line of standard output.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, splitList, UsageError } from './args';
import { openBrowserSession } from './browser';
import type { RunError, RunRequest, RunResult } from '../page/run';

const USAGE = `usage: webmoe run --model <dir> (--prompt-ids 0,17,42 | --prompt "text") [--max-tokens N] [--temperature T]
       [--top-p P] [--top-k K] [--seed S] [--quant f32|f16|q8|q4|fp8|bf16] [--context N] [--prefill-chunk N] [--logits [--mtp]] [--json] [--verbose]
  <dir>: a converted webmoe folder (manifest.json) or a Hugging Face checkpoint folder (config.json), which is
  converted with --quant (default q4) into a cache folder and reused next time.
  --prefill-chunk N caps the tokens of one forward call (default: sized to the adapter).
  --temperature 0 (the default) is greedy; --logits adds every step's logits row to --json's output.
  --mtp (with --logits) loads the multi-token-prediction module (DeepSeek-V4; a checkpoint is converted with it)
  and adds its rows as mtp_logits: row i is the module at position i fed the token at i+1, predicting i+2.`;

const SPEC = {
  model: { type: 'string' }, 'prompt-ids': { type: 'string' }, prompt: { type: 'string' }, 'max-tokens': { type: 'number' },
  temperature: { type: 'number' }, 'top-p': { type: 'number' }, 'top-k': { type: 'number' }, seed: { type: 'number' },
  quant: { type: 'string' }, context: { type: 'number' }, 'prefill-chunk': { type: 'number' }, logits: { type: 'flag' }, mtp: { type: 'flag' }, json: { type: 'flag' }, verbose: { type: 'flag' },
  help: { type: 'flag' },
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
  const { options: o, positionals } = parseArgs(argv, SPEC);
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}\n${USAGE}`);
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
  const request: RunRequest = {
    modelUrl: '', // set below, once the server's address is known
    ...(promptIds ? { promptIds } : { prompt: String(o.prompt) }),
    maxTokens: Number(o['max-tokens'] ?? 32),
    temperature: Number(o.temperature ?? 0),
    topP: Number(o['top-p'] ?? 1),
    topK: Number(o['top-k'] ?? 0),
    seed: Number(o.seed ?? 0),
    logits: Boolean(o.logits),
    mtp: Boolean(o.mtp),
    ...(o.context !== undefined ? { contextLength: Number(o.context) } : {}),
    ...(o['prefill-chunk'] !== undefined ? { prefillChunk: Number(o['prefill-chunk']) } : {}),
  };
  if (!(request.maxTokens >= 1)) throw new UsageError('--max-tokens must be at least 1');
  if (request.prefillChunk !== undefined && !(Number.isInteger(request.prefillChunk) && request.prefillChunk >= 1)) {
    throw new UsageError(`--prefill-chunk must be a positive integer (got ${o['prefill-chunk']})`);
  }
  const folder = await resolveModelFolder(o.model, quant, log, Boolean(o.mtp));
  const session = await openBrowserSession({
    page: 'packages/cli/page/run.html',
    mounts: { '/__model/': folder },
    onConsole: o.verbose ? (l) => process.stderr.write(`${l}\n`) : undefined,
  });
  let result: RunResult | RunError;
  try {
    request.modelUrl = `${session.baseUrl}/__model/`;
    await session.page.waitForFunction(() => 'webmoeCli' in window);
    result = await session.page.evaluate((r) => (window as unknown as { webmoeCli: { run(r: RunRequest): Promise<RunResult | RunError> } }).webmoeCli.run(r), request);
  } finally {
    await session.close();
  }
  if ('error' in result) throw new Error(`${result.error.code}: ${result.error.message}`);
  if (o.json) {
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return;
  }
  process.stdout.write(`${result.text ?? result.tokens.join(',')}\n`);
  const t = result.timings;
  log(`${result.tokens.length} tokens; prefill ${t.prefill_tokens_per_s.toFixed(1)} tok/s, decode ${t.decode_tokens_per_s.toFixed(1)} tok/s on ${result.adapter} (${result.quant})`);
}
