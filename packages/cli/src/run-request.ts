// `webmoe run`'s options and the run request they make, checked: shared by a single run's command line and
// each request of a --batch file (run-batch.ts), so that both accept exactly the same arguments.
import { UsageError, splitList, type ParsedArgs } from './args';
import { parseByteSize } from './byte-size';
import type { RunRequest } from '../page/run';

export const RUN_OPTIONS = {
  model: { type: 'string' }, 'prompt-ids': { type: 'string' }, prompt: { type: 'string' }, 'max-tokens': { type: 'number' },
  temperature: { type: 'number' }, 'top-p': { type: 'number' }, 'top-k': { type: 'number' }, seed: { type: 'number' },
  quant: { type: 'string' }, context: { type: 'number' }, 'kv-cache': { type: 'string' }, 'prefill-chunk': { type: 'number' }, logits: { type: 'flag' }, mtp: { type: 'flag' }, json: { type: 'flag' }, verbose: { type: 'flag' },
  runtime: { type: 'string' }, speculative: { type: 'string' }, 'speculative-depth': { type: 'number' }, 'decode-ahead': { type: 'number' }, 'gpu-memory': { type: 'string' }, 'expert-slots': { type: 'number' }, profile: { type: 'string' }, batch: { type: 'string' }, help: { type: 'flag' },
} as const;

export interface ParsedRun {
  /** --model as given: a converted folder or a checkpoint to convert (resolveModelFolder). */
  model: string;
  quant: string;
  /** The folder must hold the MTP module (--mtp, or --speculative mtp). */
  needsMtp: boolean;
  /** modelUrl is empty: the runtime sets it. */
  request: RunRequest;
}

/** The run request of `webmoe run`'s parsed options; a UsageError for a missing or bad one. */
export function parseRunRequest(o: ParsedArgs['options'], usage: string): ParsedRun {
  if (typeof o.model !== 'string') throw new UsageError(`--model is required\n${usage}`);
  if ((o['prompt-ids'] === undefined) === (o.prompt === undefined)) throw new UsageError('give exactly one of --prompt-ids and --prompt');
  const quant = String(o.quant ?? 'q4');
  if (!['f32', 'f16', 'q8', 'q4', 'fp8', 'bf16'].includes(quant)) throw new UsageError(`--quant must be one of f32, f16, q8, q4, fp8, bf16 (got ${quant})`);
  let promptIds: number[] | undefined;
  if (typeof o['prompt-ids'] === 'string') {
    promptIds = splitList(o['prompt-ids']).map(Number);
    if (!promptIds.length || promptIds.some((n) => !Number.isInteger(n) || n < 0)) throw new UsageError(`--prompt-ids must be comma-separated non-negative integers (got ${o['prompt-ids']})`);
  }
  if (o.mtp && !o.logits) throw new UsageError('--mtp needs --logits (its rows are read back as mtp_logits)');
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
  return { model: o.model, quant, needsMtp: Boolean(o.mtp) || request.speculative === 'mtp', request };
}
