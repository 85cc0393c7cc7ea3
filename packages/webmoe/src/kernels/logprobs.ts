// Launcher for shaders/logprobs.wgsl: the sampled token's log-probability and the top ones, for `logprobs`.
import source from '../../../../shaders/logprobs.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import type { Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkBuffer, checkInt } from './launch-checks';
import { WORKGROUP_REDUCE } from './wgsl-lib';

/** Most top alternatives a request may ask for (OpenAI's top_logprobs limit). */
export const MAX_TOP_LOGPROBS = 20;

export interface LogprobsArgs {
  /** f32 [vocab]: one row of logits. */
  logits: GPUBuffer;
  vocab: number;
  /** u32: the sampled id at idIndex (default 0). */
  ids: GPUBuffer;
  idIndex?: number;
  /** 0 … MAX_TOP_LOGPROBS. */
  top: number;
  /** u32 [logprobsWords(top)]: see readLogprobs. */
  out: GPUBuffer;
  shape?: KernelShape;
}

/** u32 words the output holds for `top` alternatives. */
export function logprobsWords(top: number): number {
  return 2 + 2 * top;
}

const WG = { workgroup: 256, row: 64 } as const;
const SOURCE = composeWgsl(wgslPiece('logprobs', source, [WORKGROUP_REDUCE]));

/** Entry `logprobs`, one workgroup. Bindings: 0 logits (f32), 1 ids (u32), 2 out (u32, read-write), 3 params {vocab, top, id_index}. */
export function logprobs(ctx: KernelContext, a: LogprobsArgs, label = 'logprobs'): Dispatch {
  checkInt(a.vocab, label, 'vocab', 1);
  checkInt(a.top, label, 'top', 0, MAX_TOP_LOGPROBS);
  checkBuffer(a.logits, a.vocab, label, 'logits');
  checkBuffer(a.out, logprobsWords(a.top), label, 'out');
  const shape = a.shape ?? ctx.shape;
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'logprobs',
    variant: shape,
    constants: { WG: WG[shape] },
    inputs: [a.logits, a.ids],
    outputs: [a.out],
    params: new ParamsWriter().u32(a.vocab).u32(a.top).u32(a.idIndex ?? 0).u32(0),
    workgroups: [1, 1, 1],
  });
}

export interface TokenLogprob {
  readonly id: number;
  readonly logprob: number;
}

/** The chosen token's entry and its top alternatives from the output words (ids past the vocabulary dropped). */
export function readLogprobs(words: Uint32Array, top: number): { chosen: TokenLogprob; top: TokenLogprob[] } {
  const f = new Float32Array(words.buffer, words.byteOffset, words.length);
  const alts: TokenLogprob[] = [];
  for (let r = 0; r < top; r++) if (words[2 + 2 * r] !== 0xffffffff) alts.push({ id: words[2 + 2 * r], logprob: f[3 + 2 * r] });
  return { chosen: { id: words[0], logprob: f[1] }, top: alts };
}
