// The DeepSeek-V4 goldens' `webmoe run` requests of mtp.spec.ts (the MTP module's rows with the main model's,
// and the refusal of a folder without the module) and v4-quant.spec.ts (the release converted to q8, q4, bf16)
// in one `webmoe run --batch` process (sharedRuns): one browser page, whose GPU device compiles V4's
// pipelines once for both files instead of once per process. Each request still loads its own folder and
// each test reads its own line; the first test of either file to ask converts the folders and runs the batch.
// The batch is the worker's (lib/harness-page.ts sharedBatches): a module's own state is not shared between
// spec files.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertCheckpoint } from '@webmoe/converter';
import type { SharedBatches } from './harness-page';
import { GENERATED } from './models';

const root = fileURLToPath(new URL('../..', import.meta.url));

export interface V4Golden {
  prompt: number[];
  tokens: number[];
  logits: number[][];
  mtp_logits: number[][];
}

export const v4Golden = (name: string) => JSON.parse(readFileSync(join(root, 'fixtures/golden', name, 'golden.json'), 'utf8')) as V4Golden;

/**
 * mtp.spec.ts: V4 in f32 and, for the release-format golden (FP8 linears, FP4 experts), in the fp8 format that
 * keeps those bytes as they are, each with `--logits --mtp` over the golden's reply.
 */
export const MTP_CASES: { name: string; quant: string }[] = [
  { name: 'v4fp8', quant: 'f32' }, { name: 'v4fp8', quant: 'fp8' }, { name: 'v4long', quant: 'f32' },
];
/** v4fp8 converted without its MTP module: `--mtp` on it is refused (mtp.spec.ts). */
const NO_MTP = join(GENERATED, 'golden-v4fp8-f32-no-mtp');

/** v4-quant.spec.ts: the release checkpoint converted to these formats, a greedy reply of QUANT_STEPS tokens. */
export const QUANTS = ['q8', 'q4', 'bf16'] as const;
export const QUANT_STEPS = 6;
export const quantFolder = (quant: string) => join(GENERATED, `golden-v4fp8-${quant}`);

/** Each request's line: MTP_CASES in order, the refusal, then QUANTS in order. */
export const V4_LINES = {
  mtp: (i: number) => i,
  refusal: MTP_CASES.length,
  quant: (i: number) => MTP_CASES.length + 1 + i,
};

const prepare = async () => {
  // Converted in-process (the function `webmoe convert` calls; the converter's CLI is cli.test.ts's).
  const v4fp8 = join(root, 'fixtures/golden/v4fp8');
  await convertCheckpoint(v4fp8, NO_MTP, { quant: 'f32', force: true });
  for (const quant of QUANTS) await convertCheckpoint(v4fp8, quantFolder(quant), { quant, force: true });
  const fp8Prompt = v4Golden('v4fp8').prompt.join(',');
  return [
    ...MTP_CASES.map(({ name, quant }) => {
      const g = v4Golden(name);
      return ['--model', `fixtures/golden/${name}`, '--quant', quant, '--prompt-ids', g.prompt.join(','), '--max-tokens', String(g.tokens.length),
        '--logits', '--mtp', '--json'];
    }),
    ['--model', NO_MTP, '--prompt-ids', '2,3,4', '--logits', '--mtp', '--json'],
    ...QUANTS.map((quant) => ['--model', quantFolder(quant), '--prompt-ids', fp8Prompt, '--max-tokens', String(QUANT_STEPS), '--temperature', '0', '--logits', '--json']),
  ];
};

/** The worker's batch: request i's result line (a failed request throws its error), run when first asked for. */
export const v4Runs = (batches: SharedBatches) => batches('v4 goldens', prepare);
