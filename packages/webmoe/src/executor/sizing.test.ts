// The router limits are checked from config.json alone, before a weight is fetched.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isWebmoeError } from '../errors';
import { parseHfConfig } from '../model/config';
import { checkRouting } from './sizing';

const golden = (name: string): Record<string, unknown> =>
  JSON.parse(readFileSync(new URL(`../../../../fixtures/golden/${name}/config.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

function refusal(json: Record<string, unknown>): { code: string; field: unknown } | null {
  try {
    checkRouting(parseHfConfig(json));
    return null;
  } catch (e) {
    if (!isWebmoeError(e)) throw e;
    return { code: e.code, field: e.detail?.field };
  }
}

describe('checkRouting', () => {
  for (const name of ['v3', 'v2lite', 'v4fp8']) {
    it(`accepts the ${name} golden's router`, () => expect(refusal(golden(name))).toBeNull());
  }
  it('refuses a top-k the router kernel cannot keep, naming num_experts_per_tok', () => {
    const v3 = golden('v3');
    const experts = Number(v3.n_routed_experts);
    expect(refusal({ ...v3, num_experts_per_tok: 9, n_routed_experts: Math.max(experts, 64), n_group: 1, topk_group: 1 }))
      .toEqual({ code: 'model-format', field: 'num_experts_per_tok' });
  });
  it('refuses more routed experts than the kernel scores (V3 and V4), naming n_routed_experts', () => {
    expect(refusal({ ...golden('v3'), n_routed_experts: 1024, n_group: 8, topk_group: 4 }))
      .toEqual({ code: 'model-format', field: 'n_routed_experts' });
    expect(refusal({ ...golden('v4fp8'), n_routed_experts: 1024 })).toEqual({ code: 'model-format', field: 'n_routed_experts' });
  });
  it('refuses more groups than the kernel ranks, naming n_group', () => {
    expect(refusal({ ...golden('v3'), n_routed_experts: 32, n_group: 16, topk_group: 2 })).toEqual({ code: 'model-format', field: 'n_group' });
  });
});
