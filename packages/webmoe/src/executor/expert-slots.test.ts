// The slot table against a plain LRU cache written out here: the same hits, and every chosen expert in a
// slot that holds it, over random calls of random sizes.
import { describe, expect, it } from 'vitest';
import { createRng } from '../util/random';
import { ExpertSlotTable } from './expert-slots';

/** Reference: experts by recency (most recent last), at most `capacity` of them. */
function referenceLru(capacity: number) {
  const order: number[] = [];
  return (ids: number[]) => {
    const distinct = [...new Set(ids)];
    const hits = distinct.filter((e) => order.includes(e)).length;
    for (const e of distinct) {
      const i = order.indexOf(e);
      if (i >= 0) order.splice(i, 1);
    }
    // The least recent experts the call does not need make room.
    while (order.length + distinct.length > capacity) order.shift();
    order.push(...distinct);
    return hits;
  };
}

describe('ExpertSlotTable', () => {
  for (const [experts, slots, topK] of [[8, 2, 2], [64, 11, 6], [7, 7, 3], [64, 6, 6], [33, 13, 4]] as const) {
    it(`${slots} slots of ${experts} experts, ${topK} per token: LRU hits and consistent slots`, () => {
      const rng = createRng(experts * 1000 + slots);
      const table = new ExpertSlotTable(experts, slots);
      const ref = referenceLru(slots);
      const holds = new Map<number, number>(); // slot → expert, from the loads alone
      for (let call = 0; call < 300; call++) {
        const tokens = 1 + Math.floor(rng.next() * Math.floor(slots / topK));
        const ids: number[] = [];
        for (let t = 0; t < tokens; t++) {
          const row = new Set<number>();
          // Skewed choices, so that some experts come back often.
          while (row.size < topK) row.add(Math.floor(experts * rng.next() ** 2));
          ids.push(...row);
        }
        const a = table.assign(ids);
        expect(a.hits).toBe(ref(ids));
        expect(a.lookups).toBe(new Set(ids).size);
        expect(a.loads.length).toBe(a.lookups - a.hits);
        for (const l of a.loads) holds.set(l.slot, l.expert);
        ids.forEach((e, i) => {
          expect(a.slots[i]).toBeLessThan(slots);
          expect(holds.get(a.slots[i])).toBe(e);
        });
      }
    });
  }

  it('refuses a call with more distinct experts than slots, and an id past the experts', () => {
    const table = new ExpertSlotTable(8, 2);
    expect(() => table.assign([0, 1, 2])).toThrow(/3 distinct experts of a layer; its pool has 2 slots/);
    expect(() => table.assign([8])).toThrow(/chose expert 8 of 8/);
  });
});
