// What both model families share around the forward pass: request checks and greedy decoding.
import { WebmoeError } from 'webmoe/model';
import { argmax } from './math';

export interface GreedyResult {
  /** tokens[i] = argmax(logits[i]). */
  tokens: number[];
  /** logits[0]: after the prompt; logits[i]: after feeding tokens[i - 1]. */
  logits: Float64Array[];
}

/** The part of a reference model greedy decoding drives. */
export interface CausalModel {
  /** Logits rows of `tokenIds` fed at positions startPos, startPos + 1, …. */
  forward(tokenIds: number[], startPos: number): Float64Array[];
  reset(): void;
  readonly position: number;
}

export function checkTokens(tokenIds: number[], vocabSize: number): void {
  for (const t of tokenIds) {
    if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw new WebmoeError('invalid-request', `token id ${t} is outside the vocabulary [0, ${vocabSize})`, { detail: { token: t } });
  }
}

export function checkStartPos(startPos: number, cached: number): void {
  if (!Number.isInteger(startPos) || startPos < 0 || startPos > cached) {
    throw new WebmoeError('invalid-request', `startPos ${startPos} must be an integer in [0, ${cached}] (the cached positions)`);
  }
}

/** The MTP module, once a draft request fits it: the module is loaded and there is one next token per hidden state. */
export function checkMtpRequest<T>(head: T | null, nextTokens: number[], hiddenStates: number, vocabSize: number): T {
  if (!head) throw new WebmoeError('invalid-request', 'mtpForward: construct the model with options.mtp to load the MTP module');
  if (nextTokens.length !== hiddenStates) {
    throw new WebmoeError('invalid-request', `mtpForward: ${nextTokens.length} next tokens for ${hiddenStates} hidden states of the last forward`);
  }
  checkTokens(nextTokens, vocabSize);
  return head;
}

/** Greedy decoding from an empty cache: n tokens, n logits rows (the last token is not fed back). */
export function greedyDecode(model: CausalModel, prompt: number[], n: number): GreedyResult {
  if (prompt.length === 0) throw new WebmoeError('invalid-request', 'greedy: the prompt is empty');
  model.reset();
  const tokens: number[] = [];
  const logits: Float64Array[] = [];
  let row = model.forward(prompt, 0).at(-1)!;
  for (let i = 0; i < n; i++) {
    if (i > 0) row = model.forward([tokens[i - 1]], model.position)[0];
    logits.push(row);
    tokens.push(argmax(row));
  }
  return { tokens, logits };
}
