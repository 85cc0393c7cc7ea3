// A sampled token's log-probabilities in OpenAI's shape: the token's text, its bytes (a byte-level token
// may hold part of a character, which only the bytes show whole) and the top alternatives.
import type { SampledLogprobs } from '../executor/generator';
import type { TokenLogprob } from '../kernels/logprobs';
import type { TextTokenizer } from '../text/tokenizer';
import type { ChatCompletionTokenLogprob, TopLogprob } from './openai-types';

const text = new TextDecoder();
const utf8 = new TextEncoder();

function entry(tokenizer: TextTokenizer, t: TokenLogprob): TopLogprob {
  const raw = tokenizer.tokenBytes(t.id);
  // Special tokens have no bytes of their own: their printed name stands for them.
  const bytes = raw ?? utf8.encode(tokenizer.decode([t.id], { skipSpecialTokens: false }));
  return { token: text.decode(bytes), logprob: t.logprob, bytes: Array.from(bytes) };
}

export function tokenLogprob(tokenizer: TextTokenizer, s: SampledLogprobs): ChatCompletionTokenLogprob {
  return { ...entry(tokenizer, s.chosen), top_logprobs: s.top.map((t) => entry(tokenizer, t)) };
}
