import { describe, expect, it } from 'vitest';
import { contextForBudget } from './footprint';
import { parseHfConfig } from '../model/config';

describe('context per KV budget', () => {
  it('gives each format the context a budget holds: about 2× for f16 and 4× for fp8', () => {
    const cfg = parseHfConfig({
      model_type: 'deepseek_v3', vocab_size: 1000, hidden_size: 64, intermediate_size: 128, num_hidden_layers: 61,
      num_attention_heads: 128, kv_lora_rank: 512, qk_rope_head_dim: 64, qk_nope_head_dim: 128, v_head_dim: 128, q_lora_rank: 32,
      rope_theta: 10000, max_position_embeddings: 4096, rms_norm_eps: 1e-6,
    }, 'test config');
    const budget = 8 * 2 ** 30;
    const byFormat = Object.fromEntries(contextForBudget(cfg, budget).map((f) => [f.format, f]));
    for (const [format, words] of [['f32', 576], ['f16', 288], ['fp8', 145]] as const) {
      const perToken = words * 4 * 61;
      expect(byFormat[format].bytesPerToken).toBe(perToken);
      expect(byFormat[format].tokens * perToken).toBeLessThanOrEqual(budget);
      expect((byFormat[format].tokens + 1) * perToken).toBeGreaterThan(budget);
    }
  });
});
