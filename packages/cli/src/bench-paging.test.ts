import { describe, expect, it } from 'vitest';
import { formatPaging, pagingRequest, type PagingRow } from './bench-paging';

const row: PagingRow = {
  model: '10M', quant: 'q4', experts: 64, slots_per_layer: 16, resident_tokens_per_s: 20, paged_tokens_per_s: 5,
  hit_rate: 0.625, bytes_uploaded_per_token: 3 * 1024, bytes_read_per_token: null, host_hit_rate: 0.9, submits_per_token: 5, same_greedy_tokens: false,
};

describe('bench paging rows', () => {
  it('prints slots, speeds, rates and bytes per token, and flags differing tokens', () => {
    const [title, table] = formatPaging([row]);
    expect(title).toMatch(/Expert paging/);
    const cells = table.split('\n').at(-1)!.trim().split(/\s{2,}|\s(?=\S)/);
    for (const cell of ['16/64', '20.0', '5.0', '62.5%', '3.0', '90.0%', 'NO']) expect(cells.join(' ')).toContain(cell);
    expect(formatPaging([])).toEqual([]);
  });

  it('puts the demo model first', () => {
    expect(pagingRequest('http://x/demo/', [{ label: '10M', url: 'http://x/10m/' }]).models.map((m) => m.label)).toEqual(['demo (webmoe-tiny)', '10M']);
  });
});
