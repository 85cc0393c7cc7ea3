// The bench's speculation section (docs/speculative.md): each model loaded twice, with speculative decoding
// off and with its MTP module as the drafter, decoded greedily in alternation from the same prompt; and,
// where the model has held-out text, the module's greedy acceptance over it, teacher-forced.
import { TextTokenizer, createRng, type GpuModel, type GpuModelOptions, type Manifest, type SamplingParams } from 'webmoe';
import { heldOutWindows, type SpeculationModeFigures, type SpeculationRow } from '../src/bench-speculation';

export interface SpeculationModel {
  url: string;
  /** Table name, e.g. "demo (webmoe-tiny)". */
  label: string;
  /** The decode runs start after this user message in the model's chat template, or after random ids. */
  prompt: { chat: string } | { randomIds: number };
  /** Text the model's MTP module never trained on, for the teacher-forced acceptance; null for random models. */
  heldOutText: string | null;
}

export interface SpeculationRequest {
  models: SpeculationModel[];
  decodeTokens: number;
  /** Timed rounds after one warm-up round; each round decodes with both models once. */
  rounds: number;
  /** Held-out windows: how many, of how many tokens (BOS first). */
  heldOutWindows: number;
  heldOutWindowTokens: number;
  /** Held-out decoding: prompts (BOS + tokens − 1 of the text) and greedy tokens decoded after each. */
  heldOutPrompts: number;
  heldOutPromptTokens: number;
  heldOutDecodeTokens: number;
}

type Loader = (url: string, contextLength: number, opts: GpuModelOptions) => Promise<{ model: GpuModel; manifest: Manifest }>;

async function tokenizerAt(url: string, fetchFn: typeof fetch): Promise<TextTokenizer> {
  const json = async (file: string) => {
    const r = await fetchFn(new URL(file, url).href);
    if (!r.ok) throw new Error(`${url}${file}: HTTP ${r.status}`);
    return r.json() as Promise<unknown>;
  };
  return TextTokenizer.fromJson(await json('tokenizer.json'), await json('tokenizer_config.json'));
}

/** The model's chat prompt ids (null for a random prompt) and held-out windows, from its tokenizer. */
async function textInputs(m: SpeculationModel, req: SpeculationRequest, fetchFn: typeof fetch): Promise<{ chat: number[] | null; heldOut: number[][]; heldOutPrompts: number[][] }> {
  if ('randomIds' in m.prompt && m.heldOutText === null) return { chat: null, heldOut: [], heldOutPrompts: [] };
  const tok = await tokenizerAt(m.url, fetchFn);
  const chat = 'chat' in m.prompt ? tok.encodeChat([{ role: 'user', content: m.prompt.chat }]) : null;
  if (m.heldOutText === null) return { chat, heldOut: [], heldOutPrompts: [] };
  if (tok.bosTokenId === undefined) throw new Error(`${m.label}: the tokenizer has no BOS token`);
  const ids = tok.encode(m.heldOutText);
  return {
    chat,
    heldOut: heldOutWindows(ids, tok.bosTokenId, req.heldOutWindows, req.heldOutWindowTokens),
    heldOutPrompts: heldOutWindows(ids, tok.bosTokenId, req.heldOutPrompts, req.heldOutPromptTokens),
  };
}

/**
 * What speculative decoding accepts on held-out text as a decoder meets it: greedy replies after prompts cut
 * from the text (as tools/train/check_mtp.py's chained measure), drafts verified against the main model's
 * own continuation.
 */
async function heldOutDecoding(drafter: GpuModel, prompts: number[][], tokens: number): Promise<{ drafted: number; accepted: number; steps: number; tokens: number }> {
  const sum = { drafted: 0, accepted: 0, steps: 0, tokens: 0 };
  for (const p of prompts) {
    await timedDecode(drafter, p, tokens);
    const d = drafter.decodingStats();
    sum.drafted += d.drafted;
    sum.accepted += d.accepted;
    sum.steps += d.steps;
    sum.tokens += d.tokens;
  }
  return sum;
}

function randomIds(n: number, vocab: number): number[] {
  const rng = createRng(4321);
  return Array.from({ length: n }, () => 2 + rng.int(vocab - 2));
}

const greedy = (step: number): SamplingParams => ({ temperature: 0, topP: 1, topK: 0, seed: 0, step });

/** Greedy tokens after `prompt` until `tokens` are produced (a speculative step may give several). */
export async function timedDecode(model: GpuModel, prompt: number[], tokens: number): Promise<{ ms: number; out: number[] }> {
  model.reset();
  const out = [(await model.prefill(prompt, { reusePrefix: 0, sampling: greedy(0) })).next];
  model.resetStats();
  const t = performance.now();
  while (out.length <= tokens) out.push(...await model.decode(out.at(-1)!, greedy(out.length)));
  return { ms: performance.now() - t, out: out.slice(0, tokens + 1) };
}

function argmax(v: Float32Array): number {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
}

/**
 * What a greedy speculative decoder accepts on a text it did not write: the module's row i (the main
 * model's hidden state at i and the text's token i+1) drafts position i+2, and is accepted when it equals
 * the main model's argmax after the text's tokens 0 … i+1. The main logits come one position at a time,
 * from the model without speculation; the module's rows from logitsWithMtp on the other.
 */
async function heldOutAcceptance(plain: GpuModel, drafter: GpuModel, windows: number[][]): Promise<{ accepted: number; drafted: number }> {
  let accepted = 0;
  let drafted = 0;
  for (const w of windows) {
    plain.reset();
    const main: number[] = [];
    for (const id of w) main.push(argmax(await plain.logitsAfter([id])));
    drafter.reset();
    const { mtp } = await drafter.logitsWithMtp(w);
    for (let i = 0; i + 1 < main.length && i < mtp.length; i++) {
      drafted++;
      if (argmax(mtp[i]) === main[i + 1]) accepted++;
    }
  }
  return { accepted, drafted };
}

export async function measureSpeculation(load: Loader, req: SpeculationRequest, fetchFn: typeof fetch = fetch): Promise<SpeculationRow[]> {
  const rows: SpeculationRow[] = [];
  for (const m of req.models) {
    const { chat, heldOut, heldOutPrompts } = await textInputs(m, req, fetchFn);
    const promptLength = chat?.length ?? ('randomIds' in m.prompt ? m.prompt.randomIds : 0);
    const context = Math.max(promptLength + req.decodeTokens + 4, ...heldOut.map((w) => w.length + 2), ...heldOutPrompts.map((p) => p.length + req.heldOutDecodeTokens + 8));
    const plain = await load(m.url, context, { speculative: 'off' });
    const prompt = chat ?? randomIds(promptLength, plain.manifest.model.config.vocabSize);
    let drafter: Awaited<ReturnType<Loader>> | null = null;
    try {
      drafter = await load(m.url, context, { speculative: 'mtp' });
      if (drafter.model.speculative !== 'mtp') throw new Error(`${m.label}: the model did not load with speculation (has its folder an MTP module?)`);
      const figures = { off: { ms: 0, tokens: 0, steps: 0, drafted: 0, accepted: 0 }, mtp: { ms: 0, tokens: 0, steps: 0, drafted: 0, accepted: 0 } };
      let same = true;
      for (let round = 0; round <= req.rounds; round++) {
        const a = await timedDecode(plain.model, prompt, round === 0 ? 4 : req.decodeTokens);
        const b = await timedDecode(drafter.model, prompt, round === 0 ? 4 : req.decodeTokens);
        if (a.out.some((t, i) => t !== b.out[i])) same = false;
        if (round === 0) continue;
        for (const [mode, r, model] of [['off', a, plain.model], ['mtp', b, drafter.model]] as const) {
          const d = model.decodingStats();
          const f = figures[mode];
          f.ms += r.ms;
          f.tokens += d.tokens;
          f.steps += d.steps;
          f.drafted += d.drafted;
          f.accepted += d.accepted;
        }
      }
      const mode = (f: (typeof figures)['off']): SpeculationModeFigures => ({
        tokens_per_s: (1000 * f.tokens) / f.ms, ms_per_token: f.ms / f.tokens, tokens_per_step: f.tokens / f.steps,
        acceptance_rate: f.drafted ? f.accepted / f.drafted : null, steps: f.steps, tokens: f.tokens,
      });
      const held = heldOut.length ? await heldOutAcceptance(plain.model, drafter.model, heldOut) : null;
      const decoded = heldOutPrompts.length ? await heldOutDecoding(drafter.model, heldOutPrompts, req.heldOutDecodeTokens) : null;
      rows.push({
        model: m.label, quant: plain.manifest.quant, off: mode(figures.off), mtp: mode(figures.mtp), same_greedy_tokens: same,
        held_out: held ? { acceptance: held.accepted / held.drafted, positions: held.drafted, windows: heldOut.length } : null,
        held_out_decoding: decoded ? { acceptance: decoded.accepted / decoded.drafted, drafted: decoded.drafted, prompts: heldOutPrompts.length, tokens_per_step: decoded.tokens / decoded.steps } : null,
      });
    } finally {
      plain.model.dispose();
      drafter?.model.dispose();
    }
  }
  return rows;
}
