// TEST ONLY: a backend over a whole vocabulary whose replies are scripted token by token, or drawn from
// pseudo-random logits (a hash of the step) through the CPU sampler, which honours a token mask the way
// the GPU sampler does. It records every prompt, so that tests can check what the runtime rendered.
// The engine's own sources, not the built package: the tests check the sources.
import { WebmoeError } from '../src/errors';
import { sampleLogits } from '../src/runtime/sampling';
import type { Generator, PrefillOptions, PrefillResult, SamplingParams } from '../src/executor/generator';

export class ScriptedGenerator implements Generator {
  readonly prompts: number[][] = [];
  /** The mask of every draw (null: none), in order. */
  readonly masks: (Uint32Array | null)[] = [];
  private script: number[] = [];
  private length = 0;
  private draws = 0;

  constructor(
    readonly vocabSize: number,
    readonly contextLength: number,
    private readonly seed = 1,
  ) {}

  /** The next reply's tokens (end-of-sequence included); without a script, replies are random. */
  setScript(ids: readonly number[]): void {
    this.script = [...ids];
  }

  async prefill(ids: readonly number[], o: PrefillOptions): Promise<PrefillResult> {
    if (ids.length > this.contextLength) throw new WebmoeError('context-overflow', 'scripted: prompt past the context');
    this.prompts.push([...ids]);
    this.length = ids.length;
    return { reusedTokens: 0, next: this.draw(o.sampling) };
  }

  async decode(_token: number, s: SamplingParams): Promise<number[]> {
    if (++this.length >= this.contextLength) throw new WebmoeError('internal', 'scripted: decode past the context');
    return [this.draw(s)];
  }

  reset(): void {
    this.length = 0;
  }

  private draw(s: SamplingParams): number {
    this.masks.push(s.allowed ?? null);
    const scripted = this.script.shift();
    if (scripted !== undefined) return scripted;
    // Pseudo-random logits in [-4, 4), a new set per draw.
    let h = (this.seed * 0x9e3779b1 + this.draws++ * 0x85ebca77) >>> 0;
    const logits = new Float32Array(this.vocabSize);
    for (let i = 0; i < logits.length; i++) {
      h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d) >>> 0;
      h = (h ^ (h >>> 12)) >>> 0;
      logits[i] = (h / 2 ** 32) * 8 - 4;
    }
    return sampleLogits(logits, s);
  }
}
