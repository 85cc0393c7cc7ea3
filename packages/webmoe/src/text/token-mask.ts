// Which vocabulary tokens keep a reply inside its grammar (json-grammar.ts), as the bitmask the GPU
// sampler reads (u32 words, bit id%32 of word id/32: allowed), token by token (docs/chat-api.md#constrained-decoding).
//
// A step walks a trie of the vocabulary's byte strings through the matcher: a byte the grammar refuses
// prunes every token below it, so a step costs the prefixes that stay valid, not 129k tokens times their
// length. Per matcher state the walk's outcome (for each token: the fewest bytes that would still be due
// after it, or -1) is cached, so a state seen again (the inside of a string, digits) costs one pass over
// the vocabulary. A token is allowed only if what it leaves can still be finished, and end-of-sequence
// follows, within the request's token budget: the reply always completes.
import { WebmoeError } from '../errors';
import { accepts, feed, need, open, threadKey, type GrammarNode, type Thread } from './json-grammar';
import type { TextTokenizer } from './tokenizer';

/** The vocabulary's tokens by their bytes: a trie in flat arrays (first child / next sibling). */
export class VocabTrie {
  /** Per node: its byte, its first child, its next sibling (-1: none), and the tokens whose bytes end here. */
  private readonly byte: Uint8Array;
  private readonly child: Int32Array;
  private readonly sibling: Int32Array;
  private readonly tokens: (number[] | undefined)[];

  /** `bytesOf(id)` is null for tokens that print nothing (special tokens): never allowed by a grammar. */
  constructor(size: number, bytesOf: (id: number) => Uint8Array | null) {
    const kids: Map<number, number>[] = [new Map()];
    const ends: (number[] | undefined)[] = [undefined];
    const bytes: number[] = [0];
    for (let id = 0; id < size; id++) {
      const b = bytesOf(id);
      if (!b || b.length === 0) continue;
      let at = 0;
      for (const x of b) {
        let next = kids[at].get(x);
        if (next === undefined) {
          next = kids.length;
          kids.push(new Map());
          ends.push(undefined);
          bytes.push(x);
          kids[at].set(x, next);
        }
        at = next;
      }
      (ends[at] ??= []).push(id);
    }
    const n = kids.length;
    this.byte = Uint8Array.from(bytes);
    this.child = new Int32Array(n).fill(-1);
    this.sibling = new Int32Array(n).fill(-1);
    this.tokens = ends;
    for (let i = 0; i < n; i++) {
      let prev = -1;
      for (const c of [...kids[i].values()].sort((a, b) => a - b)) {
        if (prev < 0) this.child[i] = c;
        else this.sibling[prev] = c;
        prev = c;
      }
    }
  }

  /**
   * For every token reachable through `threads`: calls `visit(id, after)` with the threads the token's
   * bytes leave (never empty).
   */
  walk(threads: readonly Thread[], visit: (id: number, after: readonly Thread[]) => void): void {
    const go = (node: number, ts: readonly Thread[]) => {
      for (let c = this.child[node]; c >= 0; c = this.sibling[c]) {
        const b = this.byte[c];
        const next: Thread[] = [];
        for (const t of ts) next.push(...feed(t, b));
        if (next.length === 0) continue;
        const ids = this.tokens[c];
        if (ids) for (const id of ids) visit(id, next);
        go(c, next);
      }
    };
    go(0, threads);
  }
}

/** Per token: the fewest bytes due after it (-1: refused); and whether the text may end here. */
interface StepTable {
  readonly after: Int32Array;
  readonly accepting: boolean;
}

const CACHED_STATES = 64;

/** A grammar over one vocabulary: the tables of the states met so far, shared by the requests that use it. */
export class TokenGrammar {
  private readonly tables = new Map<string, StepTable>();

  constructor(
    readonly root: GrammarNode,
    readonly trie: VocabTrie,
    /** Logits per position (≥ the tokenizer's tokens): the mask's length in bits. */
    readonly vocabSize: number,
    readonly eosTokenIds: readonly number[],
  ) {
    if (eosTokenIds.some((id) => id >= vocabSize)) throw new WebmoeError('internal', 'token grammar: an end-of-sequence id lies outside the vocabulary');
  }

  table(threads: readonly Thread[]): StepTable {
    const key = threads.map(threadKey).sort().join('/');
    let t = this.tables.get(key);
    if (t) {
      this.tables.delete(key); // most recently used last
      this.tables.set(key, t);
      return t;
    }
    const after = new Int32Array(this.vocabSize).fill(-1);
    this.trie.walk(threads, (id, ts) => {
      if (id >= this.vocabSize) return;
      let m = Infinity;
      for (const x of ts) m = Math.min(m, need(x));
      if (after[id] < 0 || m < after[id]) after[id] = m;
    });
    t = { after, accepting: threads.some(accepts) };
    this.tables.set(key, t);
    if (this.tables.size > CACHED_STATES) this.tables.delete(this.tables.keys().next().value!);
    return t;
  }

  /**
   * Fewest tokens a complete reply takes after `prefix` (text already written), end-of-sequence included,
   * with a one-byte token for each byte; null when the prefix does not start a reply in the grammar.
   */
  minTokens(prefix = ''): number | null {
    const threads = feedAll(open(this.root, null), utf8.encode(prefix));
    return threads.length ? Math.min(...threads.map(need)) + 1 : null;
  }

  /** A reply's walk, after `prefix` (minTokens checked it). */
  start(prefix = ''): TokenConstraint {
    return new TokenConstraint(this, feedAll(open(this.root, null), utf8.encode(prefix)));
  }
}

const utf8 = new TextEncoder();

function feedAll(threads: readonly Thread[], bytes: Uint8Array): Thread[] {
  let ts = threads as Thread[];
  for (const b of bytes) {
    const next: Thread[] = [];
    for (const t of ts) next.push(...feed(t, b));
    ts = next;
  }
  return ts;
}

/** One reply's walk through a grammar: the mask for the next token, then the token drawn. */
export class TokenConstraint {
  private done = false;

  constructor(
    private readonly g: TokenGrammar,
    private threads: Thread[],
  ) {}

  /**
   * The tokens allowed next when `budget` tokens remain for the reply, this one and end-of-sequence
   * included: those after which the text can still be completed within it.
   */
  mask(budget: number): Uint32Array<ArrayBuffer> {
    const words = new Uint32Array(Math.ceil(this.g.vocabSize / 32));
    if (this.done) throw new WebmoeError('internal', 'token grammar: the reply already ended');
    const t = this.g.table(this.threads);
    let any = false;
    if (t.accepting) {
      for (const id of this.g.eosTokenIds) words[id >>> 5] |= 1 << (id & 31);
      any = true;
    }
    const limit = budget - 2; // this token, then at most `limit` bytes (one token each), then end-of-sequence
    for (let id = 0; id < t.after.length; id++) {
      const a = t.after[id];
      if (a >= 0 && a <= limit) {
        words[id >>> 5] |= 1 << (id & 31);
        any = true;
      }
    }
    if (!any) throw new WebmoeError('internal', `token grammar: no token can continue the reply within ${budget} tokens`);
    return words;
  }

  /** Advances by the token drawn; `bytes` are its bytes (null: a special token). Throws when the grammar refuses it. */
  accept(id: number, bytes: Uint8Array | null): void {
    if (this.g.eosTokenIds.includes(id)) {
      if (!this.threads.some(accepts)) throw new WebmoeError('internal', 'token grammar: end-of-sequence before the value is complete');
      this.done = true;
      return;
    }
    const ts = feedAll(this.threads, bytes ?? new Uint8Array(0));
    if (!bytes?.length || ts.length === 0) throw new WebmoeError('internal', `token grammar: token ${id} is outside the grammar (the sampler ignored the mask)`);
    this.threads = ts;
  }
}

/** Whether a mask allows the token. */
export function maskHas(words: Uint32Array, id: number): boolean {
  return ((words[id >>> 5] >>> (id & 31)) & 1) === 1;
}

interface VocabGrammars {
  readonly trie: VocabTrie;
  readonly grammars: Map<string, TokenGrammar>;
}

const perTokenizer = new WeakMap<TextTokenizer, Map<number, VocabGrammars>>();
const CACHED_GRAMMARS = 16;

/**
 * The token grammar for `key` over this tokenizer and a backend's vocabulary, built by `build` the first
 * time: the trie is built once per tokenizer, and a grammar's cached steps serve every request that asks
 * for the same format (the same schema, the same tools).
 */
export function tokenGrammar(tokenizer: TextTokenizer, vocabSize: number, key: string, build: () => GrammarNode): TokenGrammar {
  if (!tokenizer.byteLevel) throw new WebmoeError('invalid-request', 'constrained decoding needs a byte-level tokenizer; this model\'s is not');
  let byVocab = perTokenizer.get(tokenizer);
  if (!byVocab) perTokenizer.set(tokenizer, (byVocab = new Map()));
  let v = byVocab.get(vocabSize);
  if (!v) byVocab.set(vocabSize, (v = { trie: new VocabTrie(vocabSize, (id) => tokenizer.tokenBytes(id)), grammars: new Map() }));
  let g = v.grammars.get(key);
  if (!g) {
    g = new TokenGrammar(build(), v.trie, vocabSize, [...tokenizer.eosTokenIds]);
    v.grammars.set(key, g);
    if (v.grammars.size > CACHED_GRAMMARS) v.grammars.delete(v.grammars.keys().next().value!);
  }
  return g;
}
