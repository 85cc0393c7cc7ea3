// Launcher for shaders/speculative.wgsl: speculative decoding's check of a drafted token against the main
// model's logits, and the next draft from the MTP module's logits (docs/speculative.md). Both are one
// workgroup and write a few words of `result`, which is all a speculative decode step reads back.
import source from '../../../../shaders/speculative.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import type { Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkBuffer, checkInt } from './launch-checks';
import { UNIFORM, USABLE_LOGIT, WORKGROUP_REDUCE } from './wgsl-lib';

/** u32 words of `result`: [n, tok0, tok1, draft, draft row], padded. */
export const SPECULATIVE_RESULT_WORDS = 8;

export interface SpeculativeArgs {
  /** 'verify': the step's tokens from the draft ids[1]; 'draft': the next draft from draft-logits row result[0] − 1. */
  mode: 'verify' | 'draft';
  /** f32 [2, vocab]: the main model's logits after the fed token and after the draft. */
  mainLogits: GPUBuffer;
  /** f32 [draftRows, vocab]: the MTP module's logits. */
  draftLogits: GPUBuffer;
  draftRows: number;
  vocab: number;
  /** u32: [0] = the sampling step of the step's first token. */
  state: GPUBuffer;
  /** u32 [≥ 3]: ids[1] is the draft; verify writes the step's tokens into ids[1] and ids[2]. */
  ids: GPUBuffer;
  /** u32 [SPECULATIVE_RESULT_WORDS]. */
  result: GPUBuffer;
  /** ≤ 0: greedy. */
  temperature: number;
  seed: number;
  shape?: KernelShape;
}

/** Invocations: software adapters pay per invocation at every barrier, so they get fewer. */
const WG = { workgroup: 256, row: 64 } as const;
const SOURCE = composeWgsl(wgslPiece('speculative', source, [WORKGROUP_REDUCE, UNIFORM, USABLE_LOGIT]));

/**
 * Entry `speculative`, one workgroup. Bindings: 0 main logits (f32), 1 draft logits (f32), 2 state (u32),
 * 3 ids (u32, read-write), 4 result (u32, read-write), 5 params {mode, vocab, temperature, seed, q_rows}.
 */
export function speculative(ctx: KernelContext, a: SpeculativeArgs, label = `speculative.${a.mode}`): Dispatch {
  checkInt(a.vocab, label, 'vocab', 1);
  checkInt(a.draftRows, label, 'draftRows', 1);
  checkBuffer(a.mainLogits, 2 * a.vocab, label, 'mainLogits');
  checkBuffer(a.draftLogits, a.draftRows * a.vocab, label, 'draftLogits');
  checkBuffer(a.ids, 3, label, 'ids');
  checkBuffer(a.result, SPECULATIVE_RESULT_WORDS, label, 'result');
  const shape = a.shape ?? ctx.shape;
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'speculative',
    variant: shape,
    constants: { WG: WG[shape] },
    inputs: [a.mainLogits, a.draftLogits, a.state],
    outputs: [a.ids, a.result],
    params: new ParamsWriter().u32(a.mode === 'verify' ? 0 : 1).u32(a.vocab).f32(a.temperature).u32(a.seed >>> 0).u32(a.draftRows).u32(0).u32(0).u32(0),
    workgroups: [1, 1, 1],
  });
}
