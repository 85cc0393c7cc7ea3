// The converter's CLI commands (dispatched by packages/cli/src/main.ts):
//   webmoe convert <hf-dir> <out-dir> [--quant q4|q8|f16|f32|fp8|bf16|fp4] [--mtp] [--force] [--shard-mb N]
//   webmoe convert <model.gguf> <out-dir> [--force] [--shard-mb N]   (deepseek2 GGUF files, docs/gguf.md)
//   webmoe generate <out-dir> --preset NAME [--seed N] [--fp8] [--no-mtp] [--shards N] [--force]
//   webmoe generate <out-dir> --preset NAME --quant FORMAT [--seed N] [--no-mtp] [--shard-mb N] [--force]
//     (with --quant: a converted model folder, written directly, for sizes whose checkpoint would be too big)
// They throw on failure; the dispatcher prints the message as one line and exits non-zero.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { WEIGHT_FORMATS, WebmoeError, type Manifest, type WeightFormat } from 'webmoe/model';
import { convertCheckpoint, removeTemporaryOutputs, type ConvertOptions } from './convert';
import { generateCheckpoint } from './generate';
import { convertGguf, isGgufPath } from './gguf-convert';
import { generateModelFolder } from './generate-folder';
import { PRESETS } from './presets';
import { createProgress } from './progress';

export const CONVERT_USAGE = `webmoe convert <hf-dir> <out-dir> [--quant ${WEIGHT_FORMATS.join('|')}] [--mtp] [--force] [--shard-mb N]`
  + ' | webmoe convert <model.gguf> <out-dir> [--force] [--shard-mb N]';
export const GENERATE_USAGE = `webmoe generate <out-dir> --preset ${Object.keys(PRESETS).join('|')} [--seed N] [--fp8] [--no-mtp] [--shards N] [--force]`
  + ` | [--quant ${WEIGHT_FORMATS.join('|')}] [--shard-mb N] (a converted folder)`;

function usageError(message: string, usage: string): WebmoeError {
  return new WebmoeError('invalid-request', `${message} (usage: ${usage})`);
}

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** Parses strictly (an unknown option is an error); null when --help was asked for and printed. */
function parse(args: string[], usage: string, options: NonNullable<ParseArgsConfig['options']>, positionals: number): Parsed | null {
  let parsed: Parsed;
  try {
    const r = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, allowPositionals: true, strict: true });
    parsed = { values: r.values as Parsed['values'], positionals: r.positionals };
  } catch (e) {
    throw usageError((e as Error).message.split('\n')[0], usage);
  }
  if (parsed.values.help) {
    process.stdout.write(`usage: ${usage}\n`);
    return null;
  }
  if (parsed.positionals.length !== positionals) throw usageError(`expected ${positionals} argument(s), got ${parsed.positionals.length}`, usage);
  return parsed;
}

function positiveNumber(v: unknown, flag: string, usage: string, integer: boolean): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!(n > 0) || !Number.isFinite(n) || (integer && !Number.isInteger(n))) throw usageError(`${flag} must be a positive ${integer ? 'integer' : 'number'}, got "${v}"`, usage);
  return n;
}

/** Signals must not leave a half-written temporary folder behind. */
function onSignalsCleanUp(): () => void {
  const handler = (signal: NodeJS.Signals) => {
    removeTemporaryOutputs();
    process.stderr.write(`\nwebmoe: interrupted (${signal}); nothing was written\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

function quantOf(v: unknown, usage: string): WeightFormat {
  const quant = (v as string | undefined) ?? 'q4';
  if (!WEIGHT_FORMATS.includes(quant as WeightFormat)) throw usageError(`--quant must be one of ${WEIGHT_FORMATS.join(', ')}, got "${quant}"`, usage);
  return quant as WeightFormat;
}

function shardBytesOf(v: unknown, usage: string): number | undefined {
  const shardMb = positiveNumber(v, '--shard-mb', usage, false);
  return shardMb === undefined ? undefined : Math.max(256, Math.floor((shardMb * 1048576) / 256) * 256);
}

/** Runs a folder-writing job with progress and signal cleanup; prints `done` with the folder's figures. */
async function writeFolderWithProgress(done: string, job: (o: Pick<ConvertOptions, 'onStep' | 'onProgress'>) => Promise<Manifest>): Promise<void> {
  const progress = createProgress();
  const release = onSignalsCleanUp();
  const t0 = performance.now();
  try {
    const m = await job({ onStep: (s) => progress.step(s), onProgress: (x) => progress.update(x) });
    progress.done();
    const secs = (performance.now() - t0) / 1000;
    const bytes = m.shards.reduce((a, s) => a + s.bytes, 0);
    process.stdout.write(`${done}: ${m.quant}, ${m.tensors.length} tensors, ${m.shards.length} shard(s), ${(bytes / 1e6).toFixed(1)} MB in ${secs.toFixed(1)} s\n`);
  } finally {
    progress.done();
    release();
  }
}

export async function convert(args: string[]): Promise<void> {
  const p = parse(args, CONVERT_USAGE, { quant: { type: 'string' }, mtp: { type: 'boolean' }, force: { type: 'boolean' }, 'shard-mb': { type: 'string' } }, 2);
  if (!p) return;
  const quant = quantOf(p.values.quant, CONVERT_USAGE);
  const shardBytes = shardBytesOf(p.values['shard-mb'], CONVERT_USAGE);
  const [hfDir, outDir] = p.positionals;
  if (isGgufPath(hfDir)) {
    // A GGUF file keeps its own formats (docs/gguf.md); --quant and --mtp do not apply.
    if (p.values.quant !== undefined || p.values.mtp) throw usageError('--quant and --mtp do not apply to a GGUF file, whose tensors keep their own formats', CONVERT_USAGE);
    await writeFolderWithProgress(`converted ${hfDir} → ${outDir}`, (o) => convertGguf(hfDir, outDir, { force: p.values.force === true, shardBytes, ...o }));
    return;
  }
  await writeFolderWithProgress(`converted ${hfDir} → ${outDir}`, (o) => convertCheckpoint(hfDir, outDir, {
    quant, mtp: p.values.mtp === true, force: p.values.force === true, shardBytes, ...o,
  }));
}

export async function generate(args: string[]): Promise<void> {
  const p = parse(args, GENERATE_USAGE, {
    preset: { type: 'string' }, seed: { type: 'string' }, fp8: { type: 'boolean' }, 'no-mtp': { type: 'boolean' },
    shards: { type: 'string' }, force: { type: 'boolean' }, quant: { type: 'string' }, 'shard-mb': { type: 'string' },
  }, 1);
  if (!p) return;
  const preset = p.values.preset as string | undefined;
  if (!preset || !Object.hasOwn(PRESETS, preset)) throw usageError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}`, GENERATE_USAGE);
  const seedText = p.values.seed as string | undefined;
  const seed = seedText === undefined ? 0 : Number(seedText);
  if (!Number.isInteger(seed) || seed < 0) throw usageError(`--seed must be a non-negative integer, got "${seedText}"`, GENERATE_USAGE);
  const [outDir] = p.positionals;
  if (p.values.quant !== undefined) {
    if (p.values.fp8 || p.values.shards !== undefined) throw usageError('--fp8 and --shards are for checkpoints, not with --quant', GENERATE_USAGE);
    const quant = quantOf(p.values.quant, GENERATE_USAGE);
    const shardBytes = shardBytesOf(p.values['shard-mb'], GENERATE_USAGE);
    await writeFolderWithProgress(`generated ${preset} (seed ${seed}) in ${outDir}`, (o) => generateModelFolder(outDir, {
      config: preset, seed, quant, mtp: p.values['no-mtp'] !== true, force: p.values.force === true, shardBytes, ...o,
    }));
    return;
  }
  if (p.values['shard-mb'] !== undefined) throw usageError('--shard-mb needs --quant (a converted folder)', GENERATE_USAGE);
  await generateCheckpoint(outDir, {
    config: preset,
    seed,
    fp8: p.values.fp8 === true,
    mtp: p.values['no-mtp'] !== true,
    shards: positiveNumber(p.values.shards, '--shards', GENERATE_USAGE, true),
    force: p.values.force === true,
  });
  process.stdout.write(`generated ${preset} (seed ${seed}${p.values.fp8 ? ', FP8' : ', BF16'}${p.values['no-mtp'] ? ', no MTP' : ''}) in ${outDir}\n`);
}
