// Launcher for shaders/speculative.wgsl: speculative decoding's check of k drafted tokens against the main
// model's logits, and each next draft from the MTP module's logits (docs/speculative.md). Both are one
// workgroup and write a few words of `result`, which is all a speculative decode step reads back.
import source from '../../../../shaders/speculative.wgsl?raw';
import type { KernelContext, KernelShape } from '../gpu/kernel-context';
import { ParamsWriter } from '../gpu/buffers';
import type { Dispatch } from '../gpu/pipelines';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { launchKernel } from './dispatch';
import { checkBuffer, checkInt } from './launch-checks';
import { UNIFORM, USABLE_LOGIT, WORKGROUP_REDUCE } from './wgsl-lib';

/** Most chained drafts a step verifies. */
export const MAX_SPECULATIVE_DEPTH = 3;
/** u32 words of `result`: [n, tokens × (k+1), drafts × k, their draft-logits rows × k], padded. */
export const SPECULATIVE_RESULT_WORDS = 16;
/** Where the result's fields start (shaders/speculative.wgsl TOK, DRAFT_AT, QROW). */
export const SPECULATIVE_RESULT = { tokens: 1, drafts: 5, draftRows: 8 } as const;
/** u32 words of `chain`: [position, hidden row, token] of the next chained module row, padded. */
export const SPECULATIVE_CHAIN_WORDS = 4;

export interface SpeculativeArgs {
  /**
   * 'verify': the step's tokens from the drafts ids[1 … drafts]; 'draft': draft number `draftIndex` + 1,
   * from draft-logits row result[0] − 1 (index 0) or drafts + draftIndex.
   */
  mode: 'verify' | 'draft';
  /** Drafts a step verifies (k, 1 … MAX_SPECULATIVE_DEPTH). */
  drafts: number;
  /** 'draft': which draft, 0 … drafts − 1. */
  draftIndex?: number;
  /** f32 [drafts + 1, vocab]: the main model's logits after the fed token and after each draft. */
  mainLogits: GPUBuffer;
  /** f32 [draftRows, vocab]: the MTP module's logits. */
  draftLogits: GPUBuffer;
  draftRows: number;
  vocab: number;
  /** u32: [step of the first token, position of the call's first token, module hidden row of draft row 0]. */
  state: GPUBuffer;
  /** u32 [≥ drafts + 2]: ids[1 …] are the drafts; verify writes the step's tokens there. */
  ids: GPUBuffer;
  /** u32 [SPECULATIVE_RESULT_WORDS]. */
  result: GPUBuffer;
  /** u32 [SPECULATIVE_CHAIN_WORDS]: the draft kernel's word to the next chained module row. */
  chain: GPUBuffer;
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
 * 3 ids (u32, read-write), 4 result (u32, read-write), 5 chain (u32, read-write), 6 params {mode, vocab,
 * temperature, seed, q_rows, drafts, chain}.
 */
export function speculative(ctx: KernelContext, a: SpeculativeArgs, label = `speculative.${a.mode}`): Dispatch {
  const chain = a.draftIndex ?? 0;
  checkInt(a.vocab, label, 'vocab', 1);
  checkInt(a.drafts, label, 'drafts', 1, MAX_SPECULATIVE_DEPTH);
  checkInt(chain, label, 'draftIndex', 0, a.drafts - 1);
  checkInt(a.draftRows, label, 'draftRows', 1);
  checkBuffer(a.mainLogits, (a.drafts + 1) * a.vocab, label, 'mainLogits');
  checkBuffer(a.draftLogits, a.draftRows * a.vocab, label, 'draftLogits');
  checkBuffer(a.state, 3, label, 'state');
  checkBuffer(a.ids, a.drafts + 2, label, 'ids');
  checkBuffer(a.result, SPECULATIVE_RESULT_WORDS, label, 'result');
  checkBuffer(a.chain, SPECULATIVE_CHAIN_WORDS, label, 'chain');
  const shape = a.shape ?? ctx.shape;
  return launchKernel(ctx, label, {
    source: SOURCE,
    entryPoint: 'speculative',
    variant: shape,
    constants: { WG: WG[shape] },
    inputs: [a.mainLogits, a.draftLogits, a.state],
    outputs: [a.ids, a.result, a.chain],
    params: new ParamsWriter().u32(a.mode === 'verify' ? 0 : 1).u32(a.vocab).f32(a.temperature).u32(a.seed >>> 0)
      .u32(a.draftRows).u32(a.drafts).u32(chain).u32(0),
    workgroups: [1, 1, 1],
  });
}
