// Compile-only (never run): webmoe's chat-completion shapes against the `openai` package's own types, so an
// app typed with the OpenAI client can hold what webmoe returns and send webmoe what it would send OpenAI.
// The root `tsc -p tsconfig.json` (part of `pnpm run typecheck`) fails when a field's name or type drifts.
import type * as O from 'openai/resources/chat/completions';
import type { CompletionUsage as OUsage } from 'openai/resources/completions';
import type * as W from 'webmoe';

/** Compiles only when `T` is `true`. */
type Assert<T extends true> = T;
/** `true` when every key of `T` but `Extra` is one OpenAI's `U` knows (a misspelt optional field would pass a plain assignment). */
type KnownKeys<T, U, Extra extends keyof T = never> = [Exclude<keyof T, keyof U | Extra>] extends [never] ? true : { unknownToOpenAI: Exclude<keyof T, keyof U | Extra> };
/** `true` when `From` can be assigned to `To`. */
type Assignable<From, To> = [From] extends [To] ? true : { notAssignable: From; to: To };

type Choice = W.ChatCompletion['choices'][number];
type ChunkChoice = W.ChatCompletionChunk['choices'][number];
type Delta = ChunkChoice['delta'];
type DeltaToolCall = NonNullable<Delta['tool_calls']>[number];

// webmoe's additions OpenAI lacks, named here so that any other extra field fails.
/** webmoe: prefill/decode/queue times on the completion and on the last chunk. */
type WebmoeResultExtras = 'timings';
/** DeepSeek (V4 thinking mode): the reasoning before the content. */
type ReasoningExtra = 'reasoning_content';
/** webmoe: prompt tokens run through the model vs kept from the previous request's KV cache. */
type UsageExtras = 'prefilled_tokens' | 'reused_tokens';
/** Local-engine sampling fields, DeepSeek's thinking switch, and the AbortSignal. */
type ParamExtras = 'top_k' | 'min_p' | 'repetition_penalty' | 'thinking' | 'signal';

// Results, webmoe → OpenAI: what the engine returns is what an OpenAI client's types describe.
export type ResultChecks = [
  Assert<Assignable<Omit<W.ChatCompletion, WebmoeResultExtras>, O.ChatCompletion>>,
  Assert<KnownKeys<W.ChatCompletion, O.ChatCompletion, WebmoeResultExtras>>,
  Assert<KnownKeys<Choice, O.ChatCompletion.Choice>>,
  Assert<Assignable<Omit<W.ChatCompletionMessage, ReasoningExtra>, O.ChatCompletionMessage>>,
  Assert<KnownKeys<W.ChatCompletionMessage, O.ChatCompletionMessage, ReasoningExtra>>,
  Assert<Assignable<W.ChatCompletionMessageToolCall, O.ChatCompletionMessageFunctionToolCall>>,
  Assert<KnownKeys<W.ChatCompletionMessageToolCall, O.ChatCompletionMessageFunctionToolCall>>,
  Assert<Assignable<W.ChoiceLogprobs, O.ChatCompletion.Choice.Logprobs>>,
  Assert<KnownKeys<W.ChoiceLogprobs, O.ChatCompletion.Choice.Logprobs>>,
  Assert<Assignable<W.ChatCompletionTokenLogprob, O.ChatCompletionTokenLogprob>>,
  Assert<KnownKeys<W.ChatCompletionTokenLogprob, O.ChatCompletionTokenLogprob>>,
  Assert<KnownKeys<W.TopLogprob, O.ChatCompletionTokenLogprob.TopLogprob>>,
  Assert<Assignable<Omit<W.CompletionUsage, UsageExtras>, OUsage>>,
  Assert<KnownKeys<W.CompletionUsage, OUsage, UsageExtras>>,

  Assert<Assignable<Omit<W.ChatCompletionChunk, WebmoeResultExtras>, O.ChatCompletionChunk>>,
  Assert<KnownKeys<W.ChatCompletionChunk, O.ChatCompletionChunk, WebmoeResultExtras>>,
  Assert<KnownKeys<ChunkChoice, O.ChatCompletionChunk.Choice>>,
  Assert<Assignable<Omit<Delta, ReasoningExtra>, O.ChatCompletionChunk.Choice.Delta>>,
  Assert<KnownKeys<Delta, O.ChatCompletionChunk.Choice.Delta, ReasoningExtra>>,
  Assert<KnownKeys<DeltaToolCall, O.ChatCompletionChunk.Choice.Delta.ToolCall>>,
  // Every finish reason webmoe gives is one OpenAI has.
  Assert<Assignable<W.FinishReason, O.ChatCompletion.Choice['finish_reason']>>,
];

// Closed sets both sides name: webmoe's values are OpenAI's, but DeepSeek-V4's own role.
export type EnumChecks = [
  Assert<Assignable<W.ReasoningEffort, NonNullable<O.ChatCompletionReasoningEffort>>>,
  Assert<Assignable<Exclude<W.ChatRole, 'latest_reminder'>, O.ChatCompletionRole>>,
];

// What the engine itself returns, held in OpenAI's types with webmoe's extras still visible.
declare const completions: W.ChatCompletions;
export async function holdsAsOpenAI(): Promise<void> {
  const full: O.ChatCompletion & Pick<W.ChatCompletion, WebmoeResultExtras> = await completions.create({ messages: [] });
  const stream = await completions.create({ messages: [], stream: true });
  for await (const chunk of stream) {
    const c: O.ChatCompletionChunk = chunk;
    void c;
  }
  void full.timings.decode_ms;
}

// Requests, OpenAI → webmoe: the messages and fields an OpenAI client sends (text only) are webmoe's.
type TextContent = string | O.ChatCompletionContentPartText[];
type OpenAITextMessage =
  | O.ChatCompletionSystemMessageParam
  | O.ChatCompletionDeveloperMessageParam
  | (Omit<O.ChatCompletionUserMessageParam, 'content'> & { content: TextContent })
  | (Omit<O.ChatCompletionAssistantMessageParam, 'content' | 'audio' | 'function_call'> & { content?: TextContent | null })
  | O.ChatCompletionToolMessageParam;
/** OpenAI request fields webmoe implements or refuses by name at run time, but does not declare. */
type UndeclaredParams = Exclude<keyof O.ChatCompletionCreateParamsBase, keyof W.ChatCompletionCreateParamsBase>;
type SharedParams = Omit<O.ChatCompletionCreateParamsBase, UndeclaredParams | 'messages'>;

export type RequestChecks = [
  Assert<Assignable<OpenAITextMessage, W.ChatMessage>>,
  Assert<Assignable<SharedParams & { messages: OpenAITextMessage[] }, W.ChatCompletionCreateParamsBase>>,
  Assert<Assignable<SharedParams & { messages: OpenAITextMessage[]; stream: true }, W.ChatCompletionCreateParamsStreaming>>,
  Assert<Assignable<SharedParams & { messages: OpenAITextMessage[]; stream?: false | null }, W.ChatCompletionCreateParamsNonStreaming>>,
  // webmoe → OpenAI, by name only: webmoe's types are wider on purpose (readonly lists, `user: null`, the
  // 'latest_reminder' role), so its own request fields, but its extras, need only be OpenAI's names.
  Assert<KnownKeys<W.ChatCompletionCreateParamsBase, O.ChatCompletionCreateParamsBase, ParamExtras>>,
];
