// Checks that the JS libraries the engine uses read our tokenizer files as Python does:
// @huggingface/tokenizers must encode the sample texts to the same ids and decode them back, and
// @huggingface/jinja must render tokenizer_config.json's chat_template like tokenizer.py's render_chat.
//   node tools/train/check_tokenizer.mjs DIR      (DIR holds tokenizer.json and tokenizer_config.json)
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const dir = process.argv[2];
if (!dir) {
  console.error('usage: node tools/train/check_tokenizer.mjs DIR');
  process.exit(2);
}
// The libraries are dependencies of the engine package, so resolve them from there.
const require = createRequire(join(here, '../../packages/webmoe/package.json'));
// require.resolve picks the CommonJS build, whose exports arrive as the default export.
const load = async (name) => {
  const mod = await import(pathToFileURL(require.resolve(name)).href);
  return mod.default ?? mod;
};
const { Tokenizer } = await load('@huggingface/tokenizers');
const { Template } = await load('@huggingface/jinja');

const tokenizerJson = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
const config = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8'));
const tok = new Tokenizer(tokenizerJson, config);
const py = JSON.parse(execFileSync('/usr/bin/python3', [join(here, 'tokenizer.py'), '--out', dir, '--samples'], { encoding: 'utf8' }));

let failures = 0;
const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
for (const c of py.cases) {
  const ids = tok.encode(c.text, { add_special_tokens: false }).ids;
  const decoded = tok.decode(ids);
  const ok = same(ids, c.ids) && decoded === c.text && c.decoded === c.text;
  if (!ok) {
    failures++;
    console.log(`MISMATCH ${JSON.stringify(c.text)}\n  js ${JSON.stringify(ids)} -> ${JSON.stringify(decoded)}\n  py ${JSON.stringify(c.ids)} -> ${JSON.stringify(c.decoded)}`);
  } else {
    console.log(`ok ${ids.length} tokens: ${JSON.stringify(c.text).slice(0, 60)}`);
  }
}
const rendered = new Template(config.chat_template).render({
  messages: py.chat.messages,
  add_generation_prompt: true,
  bos_token: config.bos_token.content,
  eos_token: config.eos_token.content,
});
if (rendered !== py.chat.rendered) {
  failures++;
  console.log(`CHAT TEMPLATE MISMATCH\n  jinja  ${JSON.stringify(rendered)}\n  python ${JSON.stringify(py.chat.rendered)}`);
} else {
  console.log(`ok chat template: ${JSON.stringify(rendered)}`);
}
const bos = tok.token_to_id(config.bos_token.content);
const eos = tok.token_to_id(config.eos_token.content);
if (bos !== 0 || eos !== 1) {
  failures++;
  console.log(`BOS/EOS ids are ${bos}/${eos}, expected 0/1`);
}
console.log(failures ? `${failures} failure(s)` : 'tokenizer matches');
process.exit(failures ? 1 : 0);
