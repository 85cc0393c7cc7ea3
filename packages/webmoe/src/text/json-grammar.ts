// JSON Schema → a byte-level grammar of compact JSON, and the matcher that walks text through it one byte
// at a time (docs/chat-api.md#constrained-decoding). The matcher's states are immutable stacks of frames, so that
// the token-mask walk (token-mask.ts) can branch from one state into thousands of token prefixes without
// copying. Several states at once stand for the alternatives (anyOf, a number that may go on or end).
//
// The text is compact JSON: no whitespace outside strings. Object members come in any order (each
// property once); additionalProperties only allows keys the schema does not name, and the grammar writes
// none of them when the schema names properties. Every state knows the fewest bytes that complete the
// value (need()), which lets the mask keep a reply inside its token budget.
import { WebmoeError } from '../errors';

const utf8 = new TextEncoder();

export type GrammarNode =
  | { readonly kind: 'object'; readonly id: number; readonly props: readonly Prop[]; readonly free: boolean }
  | { readonly kind: 'array'; readonly id: number; readonly items: GrammarNode; readonly min: number; readonly max: number }
  | { readonly kind: 'string'; readonly id: number }
  | { readonly kind: 'number'; readonly id: number; readonly integer: boolean }
  /** One of these exact texts (enum, const, true/false/null, fixed markup). */
  | { readonly kind: 'literal'; readonly id: number; readonly texts: readonly Uint8Array[] }
  | { readonly kind: 'anyOf'; readonly id: number; readonly options: readonly GrammarNode[] }
  | { readonly kind: 'seq'; readonly id: number; readonly parts: readonly GrammarNode[] }
  | { readonly kind: 'any'; readonly id: number };

export interface Prop {
  readonly name: string;
  /** The key as compact JSON writes it, quotes included. */
  readonly key: Uint8Array;
  readonly node: GrammarNode;
  readonly required: boolean;
}

let nextId = 0;
type NodeOf<K extends GrammarNode['kind']> = Extract<GrammarNode, { kind: K }>;
function node<K extends GrammarNode['kind']>(n: Omit<NodeOf<K>, 'id'> & { kind: K }): NodeOf<K> {
  return { ...n, id: nextId++ } as NodeOf<K>;
}

export function literal(...texts: string[]): GrammarNode {
  return node({ kind: 'literal', texts: texts.map((t) => utf8.encode(t)) });
}

export function seq(...parts: GrammarNode[]): GrammarNode {
  return node({ kind: 'seq', parts });
}

export function anyOf(options: GrammarNode[]): GrammarNode {
  return options.length === 1 ? options[0] : node({ kind: 'anyOf', options });
}

/** Any JSON value; ANY_OBJECT: any JSON object (response_format json_object). */
export const ANY: GrammarNode = node({ kind: 'any' });
export const ANY_OBJECT: GrammarNode = node({ kind: 'object', props: [], free: true });
const ANY_ARRAY: GrammarNode = node({ kind: 'array', items: ANY, min: 0, max: Infinity });
const STRING: GrammarNode = node({ kind: 'string' });
const NUMBER: GrammarNode = node({ kind: 'number', integer: false });
const KEYWORDS: GrammarNode = literal('true', 'false', 'null');
const ANY_OPTIONS = [ANY_OBJECT, ANY_ARRAY, STRING, NUMBER, KEYWORDS];

// ---- the schema compiler ----

/** Keywords that only annotate: they constrain nothing. */
const ANNOTATIONS = new Set(['title', 'description', '$schema', '$id', '$comment', 'examples', 'default', 'deprecated', 'readOnly', 'writeOnly']);
const KEYWORDS_OF: Readonly<Record<string, readonly string[]>> = {
  object: ['properties', 'required', 'additionalProperties'],
  array: ['items', 'minItems', 'maxItems'],
  string: [],
  number: [],
  integer: [],
  boolean: [],
  null: [],
};

function schemaError(path: string, message: string): WebmoeError {
  return new WebmoeError('invalid-request', `${path}: ${message}`, { detail: { field: path } });
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Compiles a JSON Schema (the subset in docs/chat-api.md#json-schema) to a grammar; `path` names the
 * schema in errors (e.g. response_format.json_schema.schema). Unsupported keywords are refused by name.
 */
export function compileSchema(schema: unknown, path: string): GrammarNode {
  if (schema === true) return ANY;
  if (!isPlainObject(schema)) throw schemaError(path, `a schema must be an object (got ${JSON.stringify(schema)})`);
  const keys = Object.keys(schema).filter((k) => !ANNOTATIONS.has(k));
  if ('enum' in schema || 'const' in schema) return enumNode(schema, keys, path);
  if ('anyOf' in schema) {
    const rest = keys.filter((k) => k !== 'anyOf');
    if (rest.length) throw schemaError(path, `anyOf cannot be combined with ${rest.join(', ')} here; put them in each alternative`);
    const alts = schema.anyOf;
    if (!Array.isArray(alts) || alts.length === 0) throw schemaError(`${path}.anyOf`, 'must be a non-empty list of schemas');
    return anyOf(alts.map((s, i) => compileSchema(s, `${path}.anyOf[${i}]`)));
  }
  const type = schema.type;
  if (type === undefined) {
    if (keys.length) throw schemaError(path, `unsupported keyword(s) without a type: ${keys.join(', ')}`);
    return ANY;
  }
  if (Array.isArray(type)) {
    if (type.length === 0) throw schemaError(`${path}.type`, 'must not be empty');
    return anyOf(type.map((t, i) => typed(schema, t, keys, `${path}.type[${i}]`, path)));
  }
  return typed(schema, type, keys, `${path}.type`, path);
}

function typed(schema: Record<string, unknown>, type: unknown, keys: string[], typePath: string, path: string): GrammarNode {
  if (typeof type !== 'string' || !(type in KEYWORDS_OF)) {
    throw schemaError(typePath, `type must be one of ${Object.keys(KEYWORDS_OF).join(', ')} (got ${JSON.stringify(type)})`);
  }
  const allowed = new Set(['type', ...KEYWORDS_OF[type]]);
  // With a list of types, each type's keywords are fine for the others.
  if (Array.isArray(schema.type)) for (const t of schema.type) for (const k of KEYWORDS_OF[t as string] ?? []) allowed.add(k);
  const unsupported = keys.filter((k) => !allowed.has(k));
  if (unsupported.length) throw schemaError(path, `unsupported keyword(s): ${unsupported.join(', ')}`);
  switch (type) {
    case 'object':
      return objectNode(schema, path);
    case 'array':
      return arrayNode(schema, path);
    case 'string':
      return STRING;
    case 'number':
      return NUMBER;
    case 'integer':
      return node({ kind: 'number', integer: true });
    case 'boolean':
      return literal('true', 'false');
    default:
      return literal('null');
  }
}

function enumNode(schema: Record<string, unknown>, keys: string[], path: string): GrammarNode {
  const extra = keys.filter((k) => k !== 'enum' && k !== 'const' && k !== 'type');
  if (extra.length) throw schemaError(path, `unsupported keyword(s) beside enum/const: ${extra.join(', ')}`);
  const values = 'const' in schema ? [schema.const] : schema.enum;
  if (!Array.isArray(values) || values.length === 0) throw schemaError(`${path}.enum`, 'must be a non-empty list');
  const texts = values.map((v, i) => {
    const t = JSON.stringify(v);
    if (t === undefined) throw schemaError(`${path}.enum[${i}]`, 'is not a JSON value');
    return t;
  });
  return literal(...new Set(texts));
}

function objectNode(schema: Record<string, unknown>, path: string): GrammarNode {
  const props = schema.properties ?? {};
  if (!isPlainObject(props)) throw schemaError(`${path}.properties`, 'must be an object of schemas');
  const required = schema.required ?? [];
  if (!Array.isArray(required) || required.some((r) => typeof r !== 'string')) throw schemaError(`${path}.required`, 'must be a list of property names');
  for (const r of required as string[]) if (!(r in props)) throw schemaError(`${path}.required`, `names ${JSON.stringify(r)}, which is not in properties`);
  const additional = schema.additionalProperties ?? true;
  if (typeof additional !== 'boolean') throw schemaError(`${path}.additionalProperties`, 'only true or false is supported');
  const names = Object.keys(props);
  if (names.length === 0 && additional) return ANY_OBJECT;
  return node({
    kind: 'object',
    free: false,
    props: names.map((name) => ({
      name,
      key: utf8.encode(JSON.stringify(name)),
      node: compileSchema(props[name], `${path}.properties.${name}`),
      required: (required as string[]).includes(name),
    })),
  });
}

function arrayNode(schema: Record<string, unknown>, path: string): GrammarNode {
  const count = (k: 'minItems' | 'maxItems', dflt: number) => {
    const v = schema[k] ?? dflt;
    if (typeof v !== 'number' || !(Number.isInteger(v) || v === Infinity) || v < 0) throw schemaError(`${path}.${k}`, 'must be a whole number ≥ 0');
    return v;
  };
  const min = count('minItems', 0);
  const max = count('maxItems', Infinity);
  if (max < min) throw schemaError(`${path}.maxItems`, `is below minItems (${min})`);
  const items = schema.items === undefined ? ANY : compileSchema(schema.items, `${path}.items`);
  return node({ kind: 'array', items, min, max });
}

// ---- fewest bytes of a node ----

const minCache = new WeakMap<GrammarNode, number>();

export function minLength(n: GrammarNode): number {
  let m = minCache.get(n);
  if (m !== undefined) return m;
  switch (n.kind) {
    case 'object':
      m = 1 + restMembers(n, [], false);
      break;
    case 'array':
      m = 2 + n.min * minLength(n.items) + Math.max(0, n.min - 1);
      break;
    case 'string':
      m = 2;
      break;
    case 'number':
    case 'any':
      m = 1;
      break;
    case 'literal':
      m = Math.min(...n.texts.map((t) => t.length));
      break;
    case 'anyOf':
      m = Math.min(...n.options.map(minLength));
      break;
    case 'seq':
      m = n.parts.reduce((s, p) => s + minLength(p), 0);
      break;
  }
  minCache.set(n, m);
  return m;
}

/** Bytes that close an object whose members so far are `seen`: the missing required members and '}'; `leading`: each needs a comma before it (a member came last). */
function restMembers(n: NodeOf<'object'>, seen: readonly number[], leading: boolean): number {
  let bytes = 1;
  let missing = 0;
  n.props.forEach((p, i) => {
    if (p.required && !seen.includes(i)) {
      bytes += p.key.length + 1 + minLength(p.node);
      missing++;
    }
  });
  return bytes + (leading ? missing : Math.max(0, missing - 1));
}

// ---- the matcher ----

/** Object phases: expecting '{'; after '{' or ','; in a named key; after a key (':' next); after a member; closed. */
const enum O { Open, Member, Key, Colon, After, Closed, FreeKey, Value, Comma }
/** Array phases. */
const enum A { Open, First, Item, After, Closed }
/** String phases. */
const enum S { Open, In, Escape, Hex, Closed }
/** Number phases: which bytes came last. */
const enum N { Start, Minus, Zero, Int, Dot, Frac, E, ESign, Exp }

type Frame =
  | { readonly k: 'o'; readonly n: NodeOf<'object'>; readonly ph: O; readonly seen: readonly number[]; readonly cands: readonly number[]; readonly pos: number; readonly cur: number }
  | { readonly k: 'a'; readonly n: NodeOf<'array'>; readonly ph: A; readonly count: number }
  /** utf8: continuation bytes still due; lead: the lead byte while the first is due (it narrows that byte's range). */
  | { readonly k: 's'; readonly ph: S; readonly left: number; readonly utf8: number; readonly lead: number }
  /** d: digits in the current part (integer, fraction or exponent). */
  | { readonly k: 'n'; readonly integer: boolean; readonly ph: N; readonly d: number }
  /** alive: the indices of the node's texts that match so far. */
  | { readonly k: 'l'; readonly n: NodeOf<'literal'>; readonly alive: readonly number[]; readonly pos: number }
  | { readonly k: 'q'; readonly n: NodeOf<'seq'>; readonly i: number };

/** One way the text so far can be read: a stack of frames, innermost first. */
export interface Thread {
  readonly f: Frame;
  readonly up: Thread | null;
}

/** The value is complete and nothing is open. */
export const DONE: Thread = { f: { k: 'q', n: { kind: 'seq', id: -1, parts: [] }, i: 0 }, up: null };

const Q = 0x22, BS = 0x5c, COLON = 0x3a, COMMA = 0x2c;
/** Most digits in a number's integer or fraction part (safe integers have 15 or 16), and in its exponent. */
const MAX_DIGITS = 15;
const MAX_EXP_DIGITS = 2;
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isHex = (b: number) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
const ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)));

function push(f: Frame, up: Thread | null): Thread {
  return { f, up };
}

/** The threads that start `n` under `up`, before its first byte. */
export function open(n: GrammarNode, up: Thread | null): Thread[] {
  switch (n.kind) {
    case 'object':
      return [push({ k: 'o', n, ph: O.Open, seen: [], cands: [], pos: 0, cur: -1 }, up)];
    case 'array':
      return [push({ k: 'a', n, ph: A.Open, count: 0 }, up)];
    case 'string':
      return [push({ k: 's', ph: S.Open, left: 0, utf8: 0, lead: 0 }, up)];
    case 'number':
      return [push({ k: 'n', integer: n.integer, ph: N.Start, d: 0 }, up)];
    case 'literal':
      return [push({ k: 'l', n, alive: n.texts.map((_, i) => i), pos: 0 }, up)];
    case 'anyOf':
      return n.options.flatMap((o) => open(o, up));
    case 'any':
      return ANY_OPTIONS.flatMap((o) => open(o, up));
    case 'seq':
      return n.parts.length === 0 ? resume(up) : open(n.parts[0], push({ k: 'q', n, i: 0 }, up));
  }
}

/** Whether the frame holds a complete value that may end here (the next byte then belongs to its parent). */
function complete(f: Frame): boolean {
  switch (f.k) {
    case 'o':
      return f.ph === O.Closed;
    case 'a':
      return f.ph === A.Closed;
    case 's':
      return f.ph === S.Closed;
    case 'n':
      return f.ph === N.Zero || f.ph === N.Int || f.ph === N.Frac || f.ph === N.Exp;
    case 'l':
      return f.alive.some((i) => f.n.texts[i].length === f.pos);
    case 'q':
      return false;
  }
}

/** The parent once its child (the frame above it) completed. */
function resume(up: Thread | null): Thread[] {
  if (!up) return [DONE];
  const f = up.f;
  switch (f.k) {
    case 'o':
      if (f.ph === O.FreeKey) return [push({ ...f, ph: O.Colon }, up.up)];
      return [push({ ...f, ph: O.After, seen: f.cur >= 0 ? [...f.seen, f.cur] : f.seen, cur: -1 }, up.up)];
    case 'a':
      return [push({ ...f, ph: A.After, count: f.count + 1 }, up.up)];
    case 'q': {
      const i = f.i + 1;
      if (i === f.n.parts.length) return resume(up.up);
      return open(f.n.parts[i], push({ ...f, i }, up.up));
    }
    default:
      throw new WebmoeError('internal', `json grammar: a ${f.k} frame has no children`);
  }
}

/** The threads after byte `b`; empty when the text cannot go on with it. */
export function feed(t: Thread, b: number): Thread[] {
  if (t === DONE) return [];
  const out = step(t, b);
  if (complete(t.f)) for (const p of resume(t.up)) out.push(...feed(p, b));
  return out;
}

function step(t: Thread, b: number): Thread[] {
  const f = t.f;
  const up = t.up;
  switch (f.k) {
    case 'o':
      return stepObject(f, up, b);
    case 'a':
      return stepArray(f, up, b);
    case 's': {
      const s = stepString(f, b);
      return s ? [push(s, up)] : [];
    }
    case 'n': {
      const ph = stepNumber(f, b);
      if (ph === null) return [];
      // Parts stay within what a double holds (a longer integer parses to a float or ±Infinity).
      const d = ph === f.ph || (ph === N.Int && f.ph === N.Zero) ? f.d + 1 : isDigit(b) ? 1 : 0;
      if (d > (ph === N.Exp ? MAX_EXP_DIGITS : MAX_DIGITS)) return [];
      return [push({ ...f, ph, d }, up)];
    }
    case 'l': {
      const alive = f.alive.filter((i) => f.n.texts[i].length > f.pos && f.n.texts[i][f.pos] === b);
      return alive.length ? [push({ ...f, alive, pos: f.pos + 1 }, up)] : [];
    }
    case 'q':
      return [];
  }
}

function stepObject(f: Extract<Frame, { k: 'o' }>, up: Thread | null, b: number): Thread[] {
  const n = f.n;
  const next = (g: Partial<typeof f>): Thread => push({ ...f, ...g }, up);
  switch (f.ph) {
    case O.Open:
      return b === 0x7b ? [next({ ph: O.Member })] : [];
    case O.Member:
    case O.Comma: {
      if (b === 0x7d && f.ph === O.Member && closable(f)) return [next({ ph: O.Closed })];
      if (b !== Q) return [];
      if (n.free) return feed(open(STRING, next({ ph: O.FreeKey }))[0], b);
      const cands = n.props.map((_, i) => i).filter((i) => !f.seen.includes(i));
      return cands.length ? [next({ ph: O.Key, cands, pos: 1 })] : [];
    }
    case O.Key: {
      const cands = f.cands.filter((i) => n.props[i].key[f.pos] === b);
      if (!cands.length) return [];
      const pos = f.pos + 1;
      const whole = cands.find((i) => n.props[i].key.length === pos);
      // Keys are quoted, so one that is complete is no other's prefix.
      return [whole === undefined ? next({ cands, pos }) : next({ ph: O.Colon, cands: [], pos: 0, cur: whole })];
    }
    case O.Colon:
      if (b !== COLON) return [];
      return open(n.free ? ANY : n.props[f.cur].node, next({ ph: O.Value }));
    case O.After:
      if (b === 0x7d && closable(f)) return [next({ ph: O.Closed })];
      if (b === COMMA && (n.free || f.seen.length < n.props.length)) return [next({ ph: O.Comma })];
      return [];
    default:
      return [];
  }
}

function closable(f: Extract<Frame, { k: 'o' }>): boolean {
  return f.n.props.every((p, i) => !p.required || f.seen.includes(i));
}

function stepArray(f: Extract<Frame, { k: 'a' }>, up: Thread | null, b: number): Thread[] {
  const next = (g: Partial<typeof f>): Thread => push({ ...f, ...g }, up);
  switch (f.ph) {
    case A.Open:
      return b === 0x5b ? [next({ ph: A.First })] : [];
    case A.First: {
      const out = b === 0x5d && f.n.min === 0 ? [next({ ph: A.Closed })] : [];
      if (f.n.max > 0) for (const c of open(f.n.items, next({ ph: A.Item }))) out.push(...feed(c, b));
      return out;
    }
    case A.After:
      if (b === 0x5d && f.count >= f.n.min) return [next({ ph: A.Closed })];
      if (b === COMMA && f.count < f.n.max) return open(f.n.items, next({ ph: A.Item }));
      return [];
    default:
      return [];
  }
}

function stepString(f: Extract<Frame, { k: 's' }>, b: number): Extract<Frame, { k: 's' }> | null {
  switch (f.ph) {
    case S.Open:
      return b === Q ? { ...f, ph: S.In } : null;
    case S.In:
      if (f.utf8 > 0) {
        // Well-formed UTF-8 only: no overlong forms, no surrogates, nothing past U+10FFFF.
        const [lo, hi] = f.lead === 0xe0 ? [0xa0, 0xbf] : f.lead === 0xed ? [0x80, 0x9f] : f.lead === 0xf0 ? [0x90, 0xbf] : f.lead === 0xf4 ? [0x80, 0x8f] : [0x80, 0xbf];
        return b >= lo && b <= hi ? { ...f, utf8: f.utf8 - 1, lead: 0 } : null;
      }
      if (b === Q) return { ...f, ph: S.Closed };
      if (b === BS) return { ...f, ph: S.Escape };
      if (b < 0x20 || b === 0x7f) return null;
      if (b < 0x80) return f;
      // A UTF-8 lead byte and how many continuation bytes follow (no overlong or out-of-range leads).
      if (b >= 0xc2 && b <= 0xdf) return { ...f, utf8: 1, lead: b };
      if (b >= 0xe0 && b <= 0xef) return { ...f, utf8: 2, lead: b };
      if (b >= 0xf0 && b <= 0xf4) return { ...f, utf8: 3, lead: b };
      return null;
    case S.Escape:
      if (b === 0x75) return { ...f, ph: S.Hex, left: 4 };
      return ESCAPES.has(b) ? { ...f, ph: S.In } : null;
    case S.Hex:
      if (!isHex(b)) return null;
      return f.left === 1 ? { ...f, ph: S.In, left: 0 } : { ...f, left: f.left - 1 };
    default:
      return null;
  }
}

function stepNumber(f: Extract<Frame, { k: 'n' }>, b: number): N | null {
  const digit = isDigit(b);
  switch (f.ph) {
    case N.Start:
      return b === 0x2d ? N.Minus : b === 0x30 ? N.Zero : digit ? N.Int : null;
    case N.Minus:
      return b === 0x30 ? N.Zero : digit ? N.Int : null;
    case N.Zero:
    case N.Int:
      if (digit) return f.ph === N.Int ? N.Int : null;
      if (f.integer) return null;
      return b === 0x2e ? N.Dot : b === 0x65 || b === 0x45 ? N.E : null;
    case N.Dot:
      return digit ? N.Frac : null;
    case N.Frac:
      return digit ? N.Frac : b === 0x65 || b === 0x45 ? N.E : null;
    case N.E:
      return b === 0x2b || b === 0x2d ? N.ESign : digit ? N.Exp : null;
    case N.ESign:
    case N.Exp:
      return digit ? N.Exp : null;
  }
}

/** Fewest bytes that complete the text from this thread (0: it may end here). */
export function need(t: Thread): number {
  if (t === DONE) return 0;
  let bytes = restOf(t.f);
  for (let u = t.up; u; u = u.up) bytes += restAfterChild(u.f);
  return bytes;
}

function restOf(f: Frame): number {
  switch (f.k) {
    case 'o':
      switch (f.ph) {
        case O.Open:
          return minLength(f.n);
        case O.Member:
          return restMembers(f.n, f.seen, false);
        case O.Comma:
          // Another member must come: the cheapest one still allowed, then what it leaves.
          if (f.n.free) return '"":0}'.length;
          return Math.min(...f.n.props.map((p, i) => (f.seen.includes(i) ? Infinity : p.key.length + 1 + minLength(p.node) + afterMember(f, i))));
        case O.Key:
          return Math.min(...f.cands.map((i) => f.n.props[i].key.length - f.pos + 1 + minLength(f.n.props[i].node) + afterMember(f, i)));
        case O.Colon:
          return 1 + (f.n.free ? 1 + 1 : minLength(f.n.props[f.cur].node) + afterMember(f, f.cur));
        case O.After:
          return restMembers(f.n, f.seen, true);
        default:
          return 0;
      }
    case 'a':
      switch (f.ph) {
        case A.Open:
          return minLength(f.n);
        case A.First:
        case A.After:
          return restItems(f.n, f.count, f.ph === A.First);
        default:
          return 0;
      }
    case 's':
      return f.ph === S.Open ? 2 : f.ph === S.Closed ? 0 : 1 + f.utf8 + (f.ph === S.Escape ? 1 : f.ph === S.Hex ? f.left : 0);
    case 'n':
      return complete(f) ? 0 : f.ph === N.Start || f.ph === N.Minus || f.ph === N.Dot || f.ph === N.E || f.ph === N.ESign ? 1 : 0;
    case 'l':
      return Math.min(...f.alive.map((i) => f.n.texts[i].length - f.pos));
    case 'q':
      return restAfterChild(f);
  }
}

/** Bytes after member `i`'s value: the other missing required members and '}'. */
function afterMember(f: Extract<Frame, { k: 'o' }>, i: number): number {
  return restMembers(f.n, [...f.seen, i], true);
}

/** Items still due after `count` and ']' (`first`: nothing written after '[' yet). */
function restItems(n: NodeOf<'array'>, count: number, first: boolean): number {
  const due = Math.max(0, n.min - count);
  if (due === 0) return 1;
  return due * minLength(n.items) + (first ? due - 1 : due) + 1;
}

/** What a frame still needs once the child above it completes. */
function restAfterChild(f: Frame): number {
  switch (f.k) {
    case 'o':
      if (f.ph === O.FreeKey) return 1 + 1 + 1; // ':' , a one-byte value, '}'
      return f.n.free ? 1 : afterMember(f, f.cur);
    case 'a':
      return restItems(f.n, f.count + 1, false);
    case 'q':
      return f.n.parts.slice(f.i + 1).reduce((s, p) => s + minLength(p), 0);
    default:
      return 0;
  }
}

/** Whether the text may end here: some thread is done, or unwinds to done through complete frames. */
export function accepts(t: Thread): boolean {
  for (let u: Thread | null = t; u; ) {
    if (u === DONE) return true;
    if (!complete(u.f)) return false;
    const r = resume(u.up);
    if (r.length !== 1) return r.some(accepts);
    u = r[0];
  }
  return false;
}

/** A string naming the thread's state exactly as far as what may follow it (token-mask.ts caches by it). */
export function threadKey(t: Thread): string {
  let s = '';
  for (let u: Thread | null = t; u; u = u.up) s += frameKey(u.f) + '|';
  return s;
}

function frameKey(f: Frame): string {
  switch (f.k) {
    case 'o':
      return `o${f.n.id}.${f.ph}.${f.seen.slice().sort((a, b) => a - b).join(',')}.${f.cands.join(',')}.${f.pos}.${f.cur}`;
    case 'a':
      return `a${f.n.id}.${f.ph}.${Math.min(f.count, Math.max(f.n.min, Number.isFinite(f.n.max) ? f.n.max : 0))}`;
    case 's':
      return `s${f.ph}.${f.left}.${f.utf8}.${f.lead}`;
    case 'n':
      return `n${f.integer ? 1 : 0}.${f.ph}.${f.d}`;
    case 'l':
      return `l${f.n.id}.${f.alive.join(',')}.${f.pos}`;
    case 'q':
      return `q${f.n.id}.${f.i}`;
  }
}
