// The schema compiler and matcher: random byte walks through the grammar, each byte drawn from those
// it allows and the budget keeps, always end in text that parses and validates (checked by an
// independent validator) within the budget; need() is exactly the shortest completion (breadth-first
// search over bytes); unsupported keywords are refused by name.
import { describe, expect, it } from 'vitest';
import { accepts, compileSchema, feed, need, open, threadKey, ANY_OBJECT, type GrammarNode, type Thread } from './json-grammar';
import { isWebmoeError } from '../errors';
import { createRng } from '../util/random';
import { schemaProblem, TEST_SCHEMAS } from '../../test-support/json-schema-check';

const BYTES = Array.from({ length: 256 }, (_, b) => b);

function feedAll(ts: readonly Thread[], b: number): Thread[] {
  return ts.flatMap((t) => feed(t, b));
}

const minNeed = (ts: readonly Thread[]) => Math.min(...ts.map(need));

/** A random text of the grammar of at most `budget` bytes: each byte one the grammar takes and after which the rest still fits. */
function randomText(g: GrammarNode, budget: number, seed: number): { bytes: number[]; ok: boolean } {
  const rng = createRng(seed);
  let ts = open(g, null);
  const bytes: number[] = [];
  for (;;) {
    const left = budget - bytes.length;
    const canEnd = ts.some(accepts);
    const options = left > 0 ? BYTES.map((b) => feedAll(ts, b)).map((n, b) => ({ b, n })).filter((o) => o.n.length && minNeed(o.n) <= left - 1) : [];
    if (canEnd && (options.length === 0 || rng.uniform(1, 0, 1)[0] < 0.15)) return { bytes, ok: true };
    if (options.length === 0) return { bytes, ok: false };
    // Structural bytes more often than string filler, so that walks reach deep.
    const ascii = options.filter((o) => o.b < 0x80);
    const pool = ascii.length && rng.uniform(1, 0, 1)[0] < 0.9 ? ascii : options;
    const o = pool[Math.floor(rng.uniform(1, 0, pool.length)[0]) % pool.length];
    bytes.push(o.b);
    ts = o.n;
  }
}

describe('json grammar', () => {
  const cases: Record<string, { grammar: GrammarNode; schema: Record<string, unknown> | null }> = {
    json_object: { grammar: ANY_OBJECT, schema: null },
    ...Object.fromEntries(Object.entries(TEST_SCHEMAS).map(([k, s]) => [k, { grammar: compileSchema(s, 'schema'), schema: s }])),
  };
  for (const [name, { grammar, schema }] of Object.entries(cases)) {
    it(`random walks of ${name} parse and validate within their budget`, () => {
      const start = minNeed(open(grammar, null));
      for (let i = 0; i < 30; i++) {
        const budget = start + (i % 6) * 9;
        const { bytes, ok } = randomText(grammar, budget, 1000 + i);
        expect(ok, 'the walk got stuck').toBe(true);
        expect(bytes.length).toBeLessThanOrEqual(budget);
        const text = new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
        const value = JSON.parse(text);
        if (schema) expect(schemaProblem(schema, value), text).toBeNull();
        else expect(typeof value === 'object' && value !== null && !Array.isArray(value), text).toBe(true);
      }
    }, 60_000);
  }

  it('need() is the shortest completion found by breadth-first search over bytes', () => {
    // A schema of bounded depth: with a free value (`{}`) the states of a breadth-first search grow without bound.
    // ASCII-only completions keep the search small, so the enum's one non-ASCII value is left out.
    const g = compileSchema({ ...TEST_SCHEMAS.person, properties: { ...(TEST_SCHEMAS.person.properties as object), mood: { enum: ['happy', 'sad'] } } }, 's');
    const rng = createRng(7);
    for (let k = 0; k < 8; k++) {
      // A random valid prefix, then the BFS.
      let ts = open(g, null);
      const steps = Math.floor(rng.uniform(1, 0, 30)[0]);
      for (let s = 0; s < steps; s++) {
        const opts = BYTES.filter((b) => b < 0x80).map((b) => feedAll(ts, b)).filter((n) => n.length);
        if (!opts.length) break;
        ts = opts[Math.floor(rng.uniform(1, 0, opts.length)[0]) % opts.length];
      }
      let frontier = ts;
      let depth = 0;
      while (!frontier.some(accepts)) {
        // Threads in the same state have the same completions: one of each.
        const next = new Map(BYTES.filter((b) => b < 0x80).flatMap((b) => feedAll(frontier, b)).map((t) => [threadKey(t), t]));
        frontier = [...next.values()];
        depth++;
        expect(depth).toBeLessThan(200);
      }
      expect(minNeed(ts)).toBe(depth);
    }
  }, 300_000);

  it('refuses unsupported keywords by name, and malformed schemas', () => {
    const bad: [unknown, string][] = [
      [{ type: 'string', pattern: 'a+' }, 'pattern'],
      [{ type: 'number', minimum: 0 }, 'minimum'],
      [{ type: 'object', properties: { a: { $ref: '#/x' } } }, '$ref'],
      [{ type: 'object', additionalProperties: { type: 'string' } }, 'additionalProperties'],
      [{ type: 'object', properties: {}, required: ['a'] }, 'required'],
      [{ type: 'array', minItems: 3, maxItems: 2 }, 'maxItems'],
      [{ type: 'date' }, 'type'],
      [{ allOf: [] }, 'allOf'],
      [7, 'schema'],
    ];
    for (const [s, word] of bad) {
      try {
        compileSchema(s, 'schema');
        throw new Error(`accepted ${JSON.stringify(s)}`);
      } catch (e) {
        expect(isWebmoeError(e, 'invalid-request'), String(e)).toBe(true);
        expect((e as Error).message).toContain(word);
      }
    }
  });

  it('takes only compact JSON: no whitespace between tokens, and no text after the value', () => {
    const g = compileSchema({ type: 'object', properties: { a: { type: 'integer' } }, required: ['a'] }, 's');
    const run = (text: string) => {
      let ts = open(g, null);
      for (const b of new TextEncoder().encode(text)) ts = feedAll(ts, b);
      return { alive: ts.length > 0, done: ts.some(accepts) };
    };
    expect(run('{"a":12}')).toEqual({ alive: true, done: true });
    expect(run('{"a":12')).toEqual({ alive: true, done: false });
    expect(run('{ "a":1}').alive).toBe(false);
    expect(run('{"a":01}').alive).toBe(false);
    expect(run('{"a":1.5}').alive).toBe(false);
    expect(run('{"a":1}x').alive).toBe(false);
    expect(run('{"b":1}').alive).toBe(false);
    expect(run('{}').alive).toBe(false);
  });
});
