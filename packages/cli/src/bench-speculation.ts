// The bench's speculation section: what the page measures (page/speculation.ts) and how the CLI prints it.
// Pure TypeScript, shared by the CLI and the page.
import { columns, num } from './bench-report';

export interface SpeculationModeFigures {
  tokens_per_s: number;
  ms_per_token: number;
  /** Tokens the decode steps produced per step (1 without speculation). */
  tokens_per_step: number;
  /** Drafts accepted / drafts verified while decoding; null without speculation. */
  acceptance_rate: number | null;
  steps: number;
  tokens: number;
}

export interface SpeculationRow {
  model: string;
  quant: string;
  off: SpeculationModeFigures;
  mtp: SpeculationModeFigures;
  /** Whether every timed run's greedy tokens were the same with and without speculation. */
  same_greedy_tokens: boolean;
  /** The module's greedy acceptance on held-out text, teacher-forced; null for models without such text. */
  held_out: { acceptance: number; positions: number; windows: number } | null;
  /** Speculative greedy decoding after prompts of held-out text: drafts accepted / verified; null without such text. */
  held_out_decoding: { acceptance: number; drafted: number; prompts: number; tokens_per_step: number } | null;
}

/**
 * The first `count` windows of BOS + (tokens − 1) consecutive held-out tokens, as tools/train/check_mtp.py
 * cuts its windows (the model was trained on rows that start at BOS).
 */
export function heldOutWindows(ids: readonly number[], bos: number, count: number, tokens: number): number[][] {
  const body = tokens - 1;
  const n = Math.min(count, Math.floor(ids.length / body));
  if (n < 1) throw new Error(`held-out text of ${ids.length} tokens is shorter than one window of ${body}`);
  return Array.from({ length: n }, (_, w) => [bos, ...ids.slice(w * body, (w + 1) * body)]);
}

const pct = (v: number | null) => (v === null ? '–' : `${(100 * v).toFixed(1)}%`);

export function formatSpeculation(rows: readonly SpeculationRow[]): string[] {
  if (!rows.length) return [];
  const head = ['model', 'quant', 'off t/s', 'mtp t/s', 'speed-up', 'tok/step', 'accepted', 'held-out decoding', 'held-out forced', 'same tokens'];
  const body = rows.map((r) => [
    r.model, r.quant, num(r.off.tokens_per_s), num(r.mtp.tokens_per_s), `${num(r.mtp.tokens_per_s / r.off.tokens_per_s, 2)}×`,
    num(r.mtp.tokens_per_step, 2), pct(r.mtp.acceptance_rate),
    r.held_out_decoding ? `${pct(r.held_out_decoding.acceptance)} of ${r.held_out_decoding.drafted}` : '–',
    r.held_out ? `${pct(r.held_out.acceptance)} of ${r.held_out.positions}` : '–', r.same_greedy_tokens ? 'yes' : 'NO',
  ]);
  return ['Speculative decoding with the MTP module (greedy; each model loaded twice and decoded in alternation):', columns(head, body)];
}
