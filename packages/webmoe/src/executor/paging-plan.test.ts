// The paging decision from the manifest and a budget alone, before any weight is requested: resident when the
// model fits, slots from what the budget leaves, and a refusal naming the sizes when even paging cannot fit.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isWebmoeError } from '../errors';
import { parseHfConfig, type ModelConfig } from '../model/config';
import type { Manifest } from '../model/manifest';
import { familyOf } from './families';
import { planPaging } from './paging-plan';

const MIB = 2 ** 20;
const EXPERT_BYTES = 256 * 1024;
const hf = JSON.parse(readFileSync(new URL('../../../../fixtures/golden/v3/config.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const config = parseHfConfig(hf) as ModelConfig;
const moeLayers = config.layers.flatMap((l, i) => (l.ffn === 'moe' ? [i] : []));
const E = Number(hf.n_routed_experts), K = Number(hf.num_experts_per_tok);

/** One 2 MiB non-expert tensor and EXPERT_BYTES per routed expert, on paper (nothing is read). */
const manifest = {
  model: { config, hf },
  mtp: false,
  shards: [],
  tensors: [{ name: 'model.embed_tokens.weight', kind: 'embedding', shape: [1], format: 'f32', layer: null, expert: null, mtp: false, shard: 0, offset: 0, bytes: 2 * MIB }],
  experts: moeLayers.flatMap((layer) => Array.from({ length: E }, (_, expert) => ({ layer, expert, mtp: false, shard: 0, offset: 0, bytes: EXPERT_BYTES }))),
} as unknown as Manifest;
const expertBytes = moeLayers.length * E * EXPERT_BYTES;
const sizes = { contextLength: 64, prefillChunk: 16, mtp: false };
const plan = (req: Parameters<typeof planPaging>[2], s = sizes) => planPaging(manifest, familyOf(config), req, s);

function refusal(f: () => unknown): { code: string; message: string } | null {
  try {
    f();
    return null;
  } catch (e) {
    if (!isWebmoeError(e)) throw e;
    return { code: e.code, message: e.message };
  }
}

describe('planPaging', () => {
  it('keeps every expert resident without a budget, or when the model fits it', () => {
    expect(plan({})).toBeNull();
    expect(plan({ gpuMemoryBudget: 4 * (2 * MIB + expertBytes) })).toBeNull();
  });

  it('pages with fewer slots as the budget shrinks, never fewer than top_k, and a chunk whose choices fit them', () => {
    let last = E;
    for (const budget of [2 * MIB + expertBytes, 2.5 * MIB + expertBytes / 2, 2.5 * MIB + expertBytes / 4]) {
      const p = plan({ gpuMemoryBudget: budget })!;
      expect(p.slots).toBeGreaterThanOrEqual(K);
      expect(p.slots).toBeLessThanOrEqual(last);
      // The slots and the non-expert weights alone stay within the budget.
      expect(2 * MIB + p.slots * moeLayers.length * EXPERT_BYTES).toBeLessThanOrEqual(budget);
      if (p.slots < E) expect(p.prefillChunk * K).toBeLessThanOrEqual(p.slots);
      last = p.slots;
    }
    expect(last).toBeLessThan(E);
  });

  it('refuses a budget that cannot hold the non-expert weights and top_k slots, naming the sizes', () => {
    const r = refusal(() => plan({ gpuMemoryBudget: 2 * MIB }));
    expect(r?.code).toBe('insufficient-limits');
    expect(r?.message).toContain('A GPU memory budget of 2.0 MiB cannot hold this model even with its experts paged');
    expect(r?.message).toContain('weights without the routed experts 2.0 MiB');
    expect(r?.message).toContain(`${K} expert slots in each of ${moeLayers.length} MoE layers ${((K * moeLayers.length * EXPERT_BYTES) / MIB).toFixed(1)} MiB`);
  });

  it('takes expertSlots as given within top_k … experts, and refuses paging with the MTP module', () => {
    expect(plan({ expertSlots: K })).toMatchObject({ slots: K, prefillChunk: 1 });
    expect(refusal(() => plan({ expertSlots: K - 1 }))?.code).toBe('invalid-request');
    expect(refusal(() => plan({ expertSlots: E + 1 }))?.code).toBe('invalid-request');
    expect(refusal(() => plan({ expertSlots: K }, { ...sizes, mtp: true }))?.message).toMatch(/without the MTP module/);
    expect(refusal(() => plan({ gpuMemoryBudget: -1 }))?.code).toBe('invalid-request');
  });
});
