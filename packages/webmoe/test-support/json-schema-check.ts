// TEST ONLY: a small JSON Schema validator for the subset webmoe's constrained decoding supports, written
// from the JSON Schema rules and sharing no code with the grammar compiler (text/json-grammar.ts), so that
// tests can check replies independently. Returns the first problem found, or null.

type Schema = boolean | Record<string, unknown>;

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function schemaProblem(schema: Schema, v: unknown, at = '$'): string | null {
  if (schema === true) return null;
  if (schema === false) return `${at}: no value is allowed`;
  if ('const' in schema && !deepEqual(schema.const, v)) return `${at}: not the const`;
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => deepEqual(e, v))) return `${at}: not in the enum`;
  if (Array.isArray(schema.anyOf) && schema.anyOf.every((s) => schemaProblem(s as Schema, v, at) !== null)) return `${at}: matches no anyOf alternative`;
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? schema.type : [schema.type];
    const t = typeOf(v);
    if (!types.some((x) => x === t || (x === 'number' && t === 'integer'))) return `${at}: ${t} is not ${types.join('|')}`;
  }
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in o)) return `${at}: missing ${r}`;
    for (const [k, x] of Object.entries(o)) {
      if (k in props) {
        const p = schemaProblem(props[k], x, `${at}.${k}`);
        if (p) return p;
      } else if (schema.additionalProperties === false) return `${at}: extra property ${k}`;
    }
  }
  if (Array.isArray(v)) {
    if (typeof schema.minItems === 'number' && v.length < schema.minItems) return `${at}: fewer than ${schema.minItems} items`;
    if (typeof schema.maxItems === 'number' && v.length > schema.maxItems) return `${at}: more than ${schema.maxItems} items`;
    if (schema.items !== undefined) {
      for (let i = 0; i < v.length; i++) {
        const p = schemaProblem(schema.items as Schema, v[i], `${at}[${i}]`);
        if (p) return p;
      }
    }
  }
  return null;
}

/** Schemas that use every supported keyword. */
export const TEST_SCHEMAS: Record<string, Record<string, unknown>> = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string' },
      age: { type: 'integer' },
      mood: { enum: ['happy', 'sad', 'unsure ñ'] },
      tags: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3 },
      score: { type: 'number' },
      alive: { type: 'boolean' },
      nothing: { type: 'null' },
    },
    required: ['name', 'age', 'mood', 'tags'],
    additionalProperties: false,
  },
  nested: {
    type: 'object',
    properties: {
      kind: { const: 'point' },
      at: { type: 'object', properties: { x: { type: 'number' }, y: { type: 'number' } }, required: ['x', 'y'] },
      note: { anyOf: [{ type: 'string' }, { type: 'null' }] },
      list: { type: 'array', items: { anyOf: [{ type: 'integer' }, { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] }] }, maxItems: 4 },
      any: {},
    },
    required: ['kind', 'at', 'note'],
  },
  enums: { enum: [1, 12, 'a', null, true, { b: [1] }] },
  numbers: { type: 'array', items: { type: ['integer', 'string'] }, minItems: 2, maxItems: 5 },
};

/** A tool definition for tests of tool calls. */
export const WEATHER_TOOL = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'The weather in a city.',
    parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'], additionalProperties: false },
  },
} as const;
