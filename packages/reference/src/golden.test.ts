// The reference against DeepSeek's own inference/model.py (run in float64) on the tiny golden models.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { referenceArgs } from './args';
import { loadCheckpointWeights } from './load';
import { ReferenceModel } from './model';
import { relativeError } from './math';

interface Golden {
  prompt: number[];
  tokens: number[];
  logits: number[][];
}

const dirOf = (m: string) => fileURLToPath(new URL(`../../../fixtures/golden/${m}`, import.meta.url));
const golden = (m: string): Golden => JSON.parse(readFileSync(`${dirOf(m)}/golden.json`, 'utf8'));

describe.each(['v3', 'v2lite'])('golden %s', (m) => {
  const g = golden(m);

  it('reproduces every logits row and the greedy tokens of DeepSeek\'s reference', async () => {
    const { config, source } = await loadCheckpointWeights(dirOf(m));
    const model = new ReferenceModel(referenceArgs(config), source);
    const { tokens, logits } = model.greedy(g.prompt, g.tokens.length);
    const errors = logits.map((row, i) => relativeError(row, g.logits[i]));
    console.log(`golden ${m}: max row error ${Math.max(...errors).toExponential(2)} over ${errors.length} rows`);
    expect(tokens).toEqual(g.tokens);
    for (const e of errors) expect(e).toBeLessThan(1e-6);
    // decode consistency: one prefill of prompt + generated tokens gives the rows decoded one by one
    const replay = model.forward([...g.prompt, ...tokens.slice(0, -1)], 0).slice(g.prompt.length - 1);
    const drift = Math.max(...replay.map((row, i) => relativeError(row, logits[i])));
    console.log(`golden ${m}: prefill vs token-by-token max row difference ${drift.toExponential(2)}`);
    expect(drift).toBeLessThan(1e-12);
  });

  it('does not match with YaRN switched off (the goldens are made with it on)', async () => {
    const { config, source } = await loadCheckpointWeights(dirOf(m));
    const model = new ReferenceModel(referenceArgs(config, { yarn: false }), source);
    const row = model.forward(g.prompt, 0).at(-1)!;
    expect(relativeError(row, g.logits[0])).toBeGreaterThan(1e-4);
  });
});

describe('golden v3 MTP layer', () => {
  it('is present in the checkpoint, skipped by the main model, and runs as a draft head', async () => {
    const { config, source } = await loadCheckpointWeights(dirOf('v3'));
    const args = referenceArgs(config);
    expect(args.nMtpLayers).toBe(1);
    const read: string[] = [];
    const watched = { has: (n: string) => source.has(n), get: (n: string) => (read.push(n), source.get(n)) };
    new ReferenceModel(args, watched);
    expect(read.some((n) => n.startsWith('model.layers.3.'))).toBe(false);
    const model = new ReferenceModel(args, watched, { mtp: true });
    // The module's own embedding and head: in this golden they differ from the main model's.
    for (const n of ['eh_proj', 'enorm', 'hnorm', 'embed_tokens', 'shared_head.norm', 'shared_head.head', 'self_attn.kv_b_proj', 'mlp.gate']) {
      expect(read).toContain(`model.layers.3.${n}.weight`);
    }
    const g = golden('v3');
    const logits = model.forward(g.prompt, 0);
    expect(relativeError(logits.at(-1)!, g.logits[0])).toBeLessThan(1e-6);
    const draft = model.mtpForward([...g.prompt.slice(1), g.tokens[0]]);
    expect(draft.length).toBe(g.prompt.length);
    expect(draft.every((r) => r.every(Number.isFinite))).toBe(true);
  });
});
