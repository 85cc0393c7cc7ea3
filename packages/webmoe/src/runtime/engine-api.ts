// What every engine offers an application, whatever runs the model: in this thread (engine.ts), in a
// Worker (worker-engine.ts) or on a server (remote-engine.ts).
import type { GeneratorStats } from '../executor/generator';
import type { ChatCompletions } from './completions';
import type { CompletionTimings, CompletionUsage, FinishReason } from './openai-types';

export interface ModelInfo {
  readonly id: string;
  readonly contextLength: number;
}

/** What a dashboard shows: the backend's report and the last finished reply's figures; plain data. */
export interface EngineStats {
  /** Null for a backend that reports nothing. */
  readonly model: GeneratorStats | null;
  /** The last reply, finished or stopped ('aborted') after its prefill; null before the first. */
  readonly lastReply: { readonly finishReason: FinishReason | 'aborted'; readonly usage: CompletionUsage; readonly timings: CompletionTimings } | null;
}

export interface Engine {
  readonly model: ModelInfo;
  readonly chat: { readonly completions: ChatCompletions };
  /** Reads the statistics once the running request is done (expert choices cover the last reply only). */
  stats(): Promise<EngineStats>;
  /** Forgets the conversation kept in the KV cache: the next request prefills from scratch. */
  resetChat(): Promise<void>;
  /** Frees the model (GPU memory); waits for the running request. The engine is unusable afterwards. */
  dispose(): Promise<void>;
}
