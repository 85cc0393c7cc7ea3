// The OpenAI chat-completions shapes webmoe accepts and returns (a subset of the OpenAI API, same field
// names), plus DeepSeek's additions for V4 models (thinking, reasoning_content, the latest_reminder role)
// and webmoe's: usage split into prefilled vs reused prompt tokens, and timings.

/** 'latest_reminder': DeepSeek-V4 models only. */
export type ChatRole = 'system' | 'developer' | 'user' | 'assistant' | 'tool' | 'latest_reminder';

export interface ChatContentPart {
  readonly type: 'text';
  readonly text: string;
}

export interface ChatMessage {
  readonly role: ChatRole;
  /** May be left out (or null) only on an assistant turn that has tool_calls, as in OpenAI's API. */
  readonly content?: string | readonly ChatContentPart[] | null;
  readonly name?: string;
  /** Passed to the chat template as given (DeepSeek's template renders tool calls). */
  readonly tool_calls?: readonly unknown[];
  readonly tool_call_id?: string;
  /** An earlier assistant turn's reasoning (V4); the V4 format keeps it only where the model expects it. */
  readonly reasoning_content?: string | null;
}

/**
 * OpenAI's effort levels plus DeepSeek's 'max'. DeepSeek-V4 knows two: 'max', and 'high' for every other
 * level; 'none' turns thinking off.
 */
export type ReasoningEffort = 'none' | 'minimal' | 'low' | 'medium' | 'high' | 'xhigh' | 'max';

export interface ChatCompletionCreateParamsBase {
  readonly messages: readonly ChatMessage[];
  /** Ignored except in the response: the engine serves the one model it loaded. */
  readonly model?: string;
  /** Reply tokens at most; default: whatever room the context leaves. */
  readonly max_tokens?: number | null;
  /** OpenAI's newer name for max_tokens. */
  readonly max_completion_tokens?: number | null;
  readonly temperature?: number | null;
  readonly top_p?: number | null;
  /** Not in OpenAI's API; common in local engines. */
  readonly top_k?: number | null;
  /** Not in OpenAI's API (vLLM, llama.cpp): keep tokens at least min_p × as likely as the likeliest; 0 → off. */
  readonly min_p?: number | null;
  /** −2 … 2: subtracted once from the logit of every token the reply already holds. */
  readonly presence_penalty?: number | null;
  /** −2 … 2: subtracted from a token's logit per time the reply already holds it. */
  readonly frequency_penalty?: number | null;
  /**
   * Not in OpenAI's API (Hugging Face, vLLM): > 0; a token seen in the prompt or reply has its logit
   * divided by it when positive, multiplied when negative. 1 → off.
   */
  readonly repetition_penalty?: number | null;
  /** Token id (as a decimal string) → −100 … 100 added to its logit; −100 bans the token. */
  readonly logit_bias?: Readonly<Record<string, number>> | null;
  /** Accepted and unused (OpenAI: an end-user id for abuse monitoring). */
  readonly user?: string | null;
  /** Return the log-probability of each reply token (of the model's raw distribution, before temperature and penalties). */
  readonly logprobs?: boolean | null;
  /** 0 … 20 most likely alternatives per token; needs logprobs: true. */
  readonly top_logprobs?: number | null;
  /** Usage always comes on the last chunk; `include_usage` is accepted for compatibility. */
  readonly stream_options?: { readonly include_usage?: boolean } | null;
  readonly seed?: number | null;
  readonly stop?: string | readonly string[] | null;
  readonly n?: number | null;
  /**
   * DeepSeek's switch for thinking mode (V4 models): the reply starts with its reasoning, which comes back
   * as reasoning_content. Default: off (chat mode), unless reasoning_effort asks for an effort.
   */
  readonly thinking?: { readonly type: 'enabled' | 'disabled' } | null;
  /** Thinking effort (V4 models); given without `thinking`, any level but 'none' turns thinking mode on. */
  readonly reasoning_effort?: ReasoningEffort | null;
  /**
   * 'text' (default); 'json_object': the reply is a JSON object; 'json_schema': a JSON value that validates
   * against the schema (the subset in docs/chat-api.md). Both by constrained decoding: the reply always parses.
   */
  readonly response_format?: ResponseFormatParam | null;
  /** Functions the model may call (DeepSeek's tool-call formats: V3's template markers, V4's DSML). */
  readonly tools?: readonly (ChatCompletionTool | OtherTool)[] | null;
  /**
   * 'auto' (default with tools): the model chooses; 'none': no tools in the prompt; 'required' or a named
   * function: the reply is one call, by constrained decoding (V2/V3 models).
   */
  readonly tool_choice?: 'none' | 'auto' | 'required' | { readonly type: 'function'; readonly function: { readonly name: string } } | OtherTool | null;
  /** false: keep only the reply's first tool call. */
  readonly parallel_tool_calls?: boolean | null;
  readonly signal?: AbortSignal;
}

export type ResponseFormatParam =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  | { readonly type: 'json_schema'; readonly json_schema: { readonly name: string; readonly description?: string; readonly schema?: Readonly<Record<string, unknown>>; readonly strict?: boolean | null } };

/** Tool kinds OpenAI has beyond functions (custom tools, allowed_tools choices): accepted by type, refused at run time. */
export interface OtherTool {
  readonly type: string;
}

export interface ChatCompletionTool {
  readonly type: 'function';
  readonly function: { readonly name: string; readonly description?: string; readonly parameters?: Readonly<Record<string, unknown>>; readonly strict?: boolean | null };
}

export interface ChatCompletionCreateParamsNonStreaming extends ChatCompletionCreateParamsBase {
  readonly stream?: false | null;
}

export interface ChatCompletionCreateParamsStreaming extends ChatCompletionCreateParamsBase {
  readonly stream: true;
}

export type ChatCompletionCreateParams = ChatCompletionCreateParamsNonStreaming | ChatCompletionCreateParamsStreaming;

/**
 * 'stop': end-of-sequence token or a stop string; 'length': max_tokens or the context is full;
 * 'tool_calls': the reply ended with tool calls.
 */
export type FinishReason = 'stop' | 'length' | 'tool_calls';

export interface CompletionUsage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
  /** OpenAI's field for prompt tokens served from cache: here the reused KV-cache prefix. */
  readonly prompt_tokens_details: { readonly cached_tokens: number };
  /** Prompt tokens run through the model (prompt_tokens − reused_tokens). */
  readonly prefilled_tokens: number;
  /** Prompt tokens whose KV cache entries were kept from the previous request. */
  readonly reused_tokens: number;
}

export interface CompletionTimings {
  /** From the start of the prefill to the first token. */
  readonly prefill_ms: number;
  readonly decode_ms: number;
  /** Time spent waiting in the queue behind other requests. */
  readonly queued_ms: number;
  readonly prefill_tokens_per_second: number;
  readonly decode_tokens_per_second: number;
}

/** A tool call the model made; `arguments` is a JSON object as text. */
export interface ChatCompletionMessageToolCall {
  readonly id: string;
  readonly type: 'function';
  readonly function: { readonly name: string; readonly arguments: string };
}

export interface ChatCompletionMessage {
  readonly role: 'assistant';
  /** '' when the reply is only tool calls. */
  readonly content: string;
  /** OpenAI's field for a refusal, required in its message; the model has no separate refusal channel. */
  readonly refusal: null;
  /** Thinking mode (V4): the reasoning before the content. Absent in chat mode. */
  readonly reasoning_content?: string;
  readonly tool_calls?: ChatCompletionMessageToolCall[];
}

export interface TopLogprob {
  readonly token: string;
  readonly logprob: number;
  /** The token's UTF-8 bytes (a token may hold part of a character). */
  readonly bytes: number[] | null;
}

export interface ChatCompletionTokenLogprob extends TopLogprob {
  readonly top_logprobs: TopLogprob[];
}

/** Every reply token but the end-of-sequence one, in order (reasoning and tool-call tokens too). */
export interface ChoiceLogprobs {
  readonly content: ChatCompletionTokenLogprob[] | null;
  readonly refusal: null;
}

export interface ChatCompletion {
  readonly id: string;
  readonly object: 'chat.completion';
  readonly created: number;
  readonly model: string;
  readonly choices: {
    readonly index: number;
    readonly message: ChatCompletionMessage;
    readonly finish_reason: FinishReason;
    /** null unless the request set logprobs. */
    readonly logprobs: ChoiceLogprobs | null;
  }[];
  readonly usage: CompletionUsage;
  readonly timings: CompletionTimings;
}

export interface ChatCompletionChunkToolCall {
  readonly index: number;
  readonly id?: string;
  readonly type?: 'function';
  readonly function?: { readonly name?: string; readonly arguments?: string };
}

export interface ChatCompletionChunk {
  readonly id: string;
  readonly object: 'chat.completion.chunk';
  readonly created: number;
  readonly model: string;
  readonly choices: {
    readonly index: number;
    readonly delta: {
      readonly role?: 'assistant';
      readonly content?: string;
      readonly reasoning_content?: string;
      /**
       * A call's first piece has its index, id, type and name; later pieces its index and the next piece
       * of its arguments (V3 replies stream them; V4's come whole once the reply is done).
       */
      readonly tool_calls?: ChatCompletionChunkToolCall[];
    };
    readonly finish_reason: FinishReason | null;
    /** The tokens whose text this chunk carries (or held back until it), when the request set logprobs. */
    readonly logprobs: ChoiceLogprobs | null;
  }[];
  /** On the last chunk only (the one with finish_reason). */
  readonly usage?: CompletionUsage;
  readonly timings?: CompletionTimings;
}
