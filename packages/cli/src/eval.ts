// `webmoe eval`: perplexity of a model over a text and the KL divergence of each weight format's next-token
// distribution against f32 (docs/quality.md), measured in headless Chromium on WebGPU, the engine a page
// runs. A Hugging Face checkpoint is converted to each requested format in a temporary folder.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs, splitList, UsageError } from './args';
import { openBrowserSession } from './browser';
import type { EvalError, EvalRequest, EvalResult } from '../page/eval';

const USAGE = `usage: webmoe eval --model <dir> --text <file> [--quant f32,q8,q4] [--window N] [--max-tokens N] [--json] [--verbose]
  <dir>: a Hugging Face checkpoint folder (config.json), converted to each --quant format in a temporary folder,
  or a converted webmoe folder (manifest.json), evaluated in its own format.
  --quant: comma-separated formats (default f32,q8,q4); KL divergence and top-1 agreement are against f32 when listed.
  --window N: tokens per window, BOS included (default 512); use the length the model was trained on.
  --max-tokens N: evaluate only the first N tokens of the text.`;

const SPEC = {
  model: { type: 'string' }, text: { type: 'string' }, quant: { type: 'string' }, window: { type: 'number' },
  'max-tokens': { type: 'number' }, json: { type: 'flag' }, verbose: { type: 'flag' }, help: { type: 'flag' },
} as const;

const DEFAULT_QUANTS = ['f32', 'q8', 'q4'];
const DEFAULT_WINDOW = 512;

export interface EvalOutput extends EvalResult {
  model: string;
  text: string;
  reference: string | null;
}

/** Converted folders, one per format: the folder itself when it is converted already, else temporary conversions. */
async function formatFolders(model: string, quants: string[] | null, tmp: () => string, log: (s: string) => void): Promise<{ quant: string; dir: string }[]> {
  const abs = resolve(model);
  if (existsSync(join(abs, 'manifest.json'))) {
    const own = (JSON.parse(readFileSync(join(abs, 'manifest.json'), 'utf8')) as { quant?: unknown }).quant;
    if (typeof own !== 'string') throw new Error(`${model}/manifest.json: no quant field`);
    if (quants && (quants.length !== 1 || quants[0] !== own)) {
      throw new UsageError(`${model} is a converted folder (${own}); --quant needs a Hugging Face checkpoint folder to convert from`);
    }
    return [{ quant: own, dir: abs }];
  }
  if (!existsSync(join(abs, 'config.json'))) throw new Error(`${model}: neither a webmoe model folder (manifest.json) nor a Hugging Face checkpoint (config.json)`);
  const { convertCheckpoint } = await import('@webmoe/converter');
  const out = [];
  for (const quant of quants ?? DEFAULT_QUANTS) {
    const dir = join(tmp(), quant);
    log(`converting ${abs} to ${quant}`);
    await convertCheckpoint(abs, dir, { quant: quant as never });
    out.push({ quant, dir });
  }
  return out;
}

export async function evalCommand(argv: string[]): Promise<void> {
  const { options: o, positionals } = parseArgs(argv, SPEC);
  if (o.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}\n${USAGE}`);
  if (typeof o.model !== 'string') throw new UsageError(`--model is required\n${USAGE}`);
  if (typeof o.text !== 'string') throw new UsageError(`--text is required\n${USAGE}`);
  const quants = typeof o.quant === 'string' ? splitList(o.quant) : null;
  if (quants) {
    const { WEIGHT_FORMATS } = await import('webmoe/model');
    const bad = quants.find((q) => !(WEIGHT_FORMATS as readonly string[]).includes(q));
    if (bad !== undefined || !quants.length) throw new UsageError(`--quant takes formats among ${WEIGHT_FORMATS.join(', ')} (got ${o.quant})`);
    if (new Set(quants).size !== quants.length) throw new UsageError(`--quant lists a format twice (${o.quant})`);
  }
  const windowLength = Number(o.window ?? DEFAULT_WINDOW);
  if (!Number.isInteger(windowLength) || windowLength < 2) throw new UsageError(`--window must be an integer of at least 2 (got ${o.window})`);
  const maxTokens = o['max-tokens'] === undefined ? undefined : Number(o['max-tokens']);
  if (maxTokens !== undefined && !(Number.isInteger(maxTokens) && maxTokens >= 1)) throw new UsageError(`--max-tokens must be a positive integer (got ${o['max-tokens']})`);
  const text = readFileSync(o.text, 'utf8');
  const log = (s: string) => {
    if (o.verbose || !o.json) process.stderr.write(`${s}\n`);
  };

  let tmpDir: string | null = null;
  const tmp = () => (tmpDir ??= mkdtempSync(join(tmpdir(), 'webmoe-eval-')));
  try {
    const folders = await formatFolders(o.model, quants, tmp, log);
    const mounts = Object.fromEntries(folders.map((f, i) => [`/__model${i}/`, f.dir]));
    const reference = folders.some((f) => f.quant === 'f32') ? 'f32' : null;
    const session = await openBrowserSession({
      page: 'packages/cli/page/eval.html',
      mounts,
      onConsole: o.verbose ? (l) => process.stderr.write(`${l}\n`) : undefined,
    });
    let result: EvalResult | EvalError;
    try {
      const request: EvalRequest = {
        models: folders.map((f, i) => ({ quant: f.quant, url: `${session.baseUrl}/__model${i}/` })),
        reference,
        text,
        window: windowLength,
        ...(maxTokens !== undefined ? { maxTokens } : {}),
      };
      log(`evaluating ${folders.map((f) => f.quant).join(', ')} over ${o.text} in windows of ${windowLength}`);
      await session.page.waitForFunction(() => 'webmoeEval' in window, undefined, { timeout: 180_000 });
      result = await session.page.evaluate((r) => (window as unknown as { webmoeEval: { run(r: EvalRequest): Promise<EvalResult | EvalError> } }).webmoeEval.run(r), request);
    } finally {
      await session.close();
    }
    if ('error' in result) throw new Error(`${result.error.code}: ${result.error.message}`);
    const out: EvalOutput = { model: o.model, text: o.text, reference, ...result };
    if (o.json) {
      process.stdout.write(`${JSON.stringify(out)}\n`);
      return;
    }
    process.stdout.write(`${formatTable(out)}\n`);
  } finally {
    if (tmpDir) rmSync(tmpDir, { recursive: true, force: true });
  }
}

/** The human-readable report: one line per format. */
export function formatTable(r: EvalOutput): string {
  const ref = r.formats.find((f) => f.quant === r.reference);
  const head = `${basename(r.text)}: ${r.tokens} tokens in ${r.windows} windows of ${r.window} on ${r.adapter}, ${r.timings.tokens_per_s.toFixed(1)} tokens/s`;
  const cols = ['format', 'weights MB', 'perplexity', `vs ${r.reference ?? '-'}`, 'mean KL', 'p99 KL', 'max KL', 'same top-1'];
  const rows = r.formats.map((f) => [
    f.quant,
    (f.weightBytes / 1e6).toFixed(2),
    f.perplexity.toFixed(4),
    ref && f !== ref ? `${(100 * (f.perplexity / ref.perplexity - 1)).toFixed(3)} %` : '',
    f.kl ? f.kl.mean.toExponential(3) : '',
    f.kl ? f.kl.p99.toExponential(3) : '',
    f.kl ? f.kl.max.toExponential(3) : '',
    f.top1Agreement === null ? '' : `${(100 * f.top1Agreement).toFixed(2)} %`,
  ]);
  const width = cols.map((c, i) => Math.max(c.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(width[i]) : c.padStart(width[i]))).join('  ');
  return [head, line(cols), ...rows.map(line)].join('\n');
}
