// Rewrites a composed WGSL module for a runtime that lacks a language feature its `requires` names
// (docs/kernels.md#wgsl-language-features), so that every kernel runs where the feature is missing:
//   packed_4x8_integer_dot_product: the builtins (unpack4xI8, pack4xU8, dot4I8Packed, …) become plain
//     functions of shifts and masks with the same results;
//   unrestricted_pointer_parameters: every function that takes a pointer into storage, uniform or
//     workgroup memory is copied once per combination of module-scope variables its callers pass
//     (`dequant8(&w, …)` calls `dequant8__w(…)`, whose body reads `w` where it read `(*wp)`).
// The pipeline cache applies it per device (gpu/pipelines.ts); a module that needs nothing missing is
// returned unchanged.

export const LOWERABLE_FEATURES = ['packed_4x8_integer_dot_product', 'unrestricted_pointer_parameters'] as const;

const REQUIRES = /^requires\s+([^;]+);[ \t]*\n?/gm;

/** `code` with the uses of each feature of its `requires` that `available` lacks rewritten; throws for one it cannot rewrite. */
export function lowerWgsl(code: string, available: ReadonlySet<string>): string {
  const required = [...code.matchAll(REQUIRES)].flatMap((m) => m[1].split(',').map((f) => f.trim()).filter(Boolean));
  const missing = required.filter((f) => !available.has(f));
  if (missing.length === 0) return code;
  const unknown = missing.filter((f) => !(LOWERABLE_FEATURES as readonly string[]).includes(f));
  if (unknown.length) throw new Error(`lowerWgsl: this runtime lacks the WGSL language feature(s) ${unknown.join(', ')}, which no rewrite replaces`);
  const kept = required.filter((f) => available.has(f));
  let out = code.replace(REQUIRES, '');
  if (missing.includes('unrestricted_pointer_parameters')) out = monomorphizePointers(out);
  if (missing.includes('packed_4x8_integer_dot_product')) out = polyfillPacked(out);
  return `${kept.length ? `requires ${kept.join(', ')};\n` : ''}${out}`;
}

// ---------------------------------------------------------------------------------------------------
// packed_4x8_integer_dot_product
// ---------------------------------------------------------------------------------------------------

const PACKED: Record<string, string> = {
  unpack4xI8: 'fn lowered_unpack4xI8(e: u32) -> vec4<i32> { return bitcast<vec4<i32>>(vec4<u32>(e) << vec4<u32>(24u, 16u, 8u, 0u)) >> vec4<u32>(24u); }',
  unpack4xU8: 'fn lowered_unpack4xU8(e: u32) -> vec4<u32> { return (vec4<u32>(e) >> vec4<u32>(0u, 8u, 16u, 24u)) & vec4<u32>(0xffu); }',
  pack4xU8: 'fn lowered_pack4xU8(e: vec4<u32>) -> u32 { let b = e & vec4<u32>(0xffu); return b.x | (b.y << 8u) | (b.z << 16u) | (b.w << 24u); }',
  pack4xI8: 'fn lowered_pack4xI8(e: vec4<i32>) -> u32 { return lowered_pack4xU8(bitcast<vec4<u32>>(e)); }',
  pack4xU8Clamp: 'fn lowered_pack4xU8Clamp(e: vec4<u32>) -> u32 { return lowered_pack4xU8(min(e, vec4<u32>(255u))); }',
  pack4xI8Clamp: 'fn lowered_pack4xI8Clamp(e: vec4<i32>) -> u32 { return lowered_pack4xI8(clamp(e, vec4<i32>(-128), vec4<i32>(127))); }',
  dot4U8Packed: 'fn lowered_dot4U8Packed(a: u32, b: u32) -> u32 { return dot(lowered_unpack4xU8(a), lowered_unpack4xU8(b)); }',
  dot4I8Packed: 'fn lowered_dot4I8Packed(a: u32, b: u32) -> i32 { return dot(lowered_unpack4xI8(a), lowered_unpack4xI8(b)); }',
};
/** What each replacement calls in turn. */
const PACKED_NEEDS: Record<string, string[]> = {
  pack4xI8: ['pack4xU8'], pack4xU8Clamp: ['pack4xU8'], pack4xI8Clamp: ['pack4xI8', 'pack4xU8'],
  dot4U8Packed: ['unpack4xU8'], dot4I8Packed: ['unpack4xI8'],
};

function polyfillPacked(code: string): string {
  const used = new Set<string>();
  const body = code.replace(new RegExp(`\\b(${Object.keys(PACKED).join('|')})(?=\\s*\\()`, 'g'), (name: string) => {
    used.add(name);
    for (const n of PACKED_NEEDS[name] ?? []) used.add(n);
    return `lowered_${name}`;
  });
  const fns = Object.keys(PACKED).filter((n) => used.has(n)).map((n) => PACKED[n]);
  return `${fns.join('\n')}${fns.length ? '\n\n' : ''}${body}`;
}

// ---------------------------------------------------------------------------------------------------
// unrestricted_pointer_parameters
// ---------------------------------------------------------------------------------------------------

interface FnDecl {
  name: string;
  /** Start of the declaration (its attributes) and end of its body, in the module text. */
  start: number;
  end: number;
  /** Text before the parameter list, the parameters, between them and the body, and the body with its braces. */
  head: string;
  params: string[];
  between: string;
  body: string;
  /** Indices of the parameters that point outside function and private memory. */
  pointers: number[];
}

/** Index just past the bracket that closes the one at `open`, skipping comments. */
function closing(code: string, open: number): number {
  const pair: Record<string, string> = { '(': ')', '{': '}', '[': ']' };
  const want = [pair[code[open]]];
  for (let i = open + 1; i < code.length; i++) {
    const ch = code[i];
    if (ch === '/' && code[i + 1] === '/') i = code.indexOf('\n', i) < 0 ? code.length : code.indexOf('\n', i);
    else if (ch === '/' && code[i + 1] === '*') i = code.indexOf('*/', i + 2) + 1;
    else if (ch in pair) want.push(pair[ch]);
    else if (ch === want[want.length - 1]) {
      want.pop();
      if (want.length === 0) return i + 1;
    }
  }
  throw new Error(`lowerWgsl: unbalanced ${code[open]} at ${open}`);
}

/**
 * Splits an argument or parameter list at its top-level commas. A `<` right after a name opens a template
 * (`array<f32, 4>`, `ptr<storage, …>`); comparisons and shifts are written with spaces in our shaders.
 */
function splitTop(list: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let angle = 0;
  let from = 0;
  for (let i = 0; i < list.length; i++) {
    const ch = list[i];
    const prev = list[i - 1] ?? '';
    if (ch === '(' || ch === '[') depth++;
    else if (ch === ')' || ch === ']') depth--;
    else if (ch === '<' && /\w/.test(prev)) angle++;
    else if (ch === '>' && angle > 0 && /[\w>]/.test(prev)) angle--;
    else if (ch === ',' && depth === 0 && angle === 0) {
      out.push(list.slice(from, i));
      from = i + 1;
    }
  }
  if (list.slice(from).trim()) out.push(list.slice(from));
  return out.map((s) => s.trim()).filter(Boolean);
}

const MEMORY_POINTER = /ptr\s*<\s*(storage|uniform|workgroup)\b/;

function parseFunctions(code: string): FnDecl[] {
  const aliases = new Set([...code.matchAll(/^alias\s+(\w+)\s*=\s*([^;]+);/gm)].filter((m) => MEMORY_POINTER.test(m[2])).map((m) => m[1]));
  const isPointer = (type: string) => MEMORY_POINTER.test(type) || aliases.has(type.trim());
  const out: FnDecl[] = [];
  for (const m of code.matchAll(/^((?:@[\w]+(?:\([^)]*\))?\s+)*fn\s+(\w+)\s*)\(/gm)) {
    const start = m.index;
    const open = start + m[0].length - 1;
    const paramsEnd = closing(code, open);
    const brace = code.indexOf('{', paramsEnd);
    const end = closing(code, brace);
    const params = splitTop(code.slice(open + 1, paramsEnd - 1));
    const pointers = params.flatMap((p, i) => (isPointer(p.slice(p.indexOf(':') + 1)) ? [i] : []));
    out.push({ name: m[2], start, end, head: m[1], params, between: code.slice(paramsEnd, brace), body: code.slice(brace, end), pointers });
  }
  return out;
}

/**
 * Copies of the pointer-taking functions per combination of variables passed, reached from the functions
 * that take none (entry points and helpers), with every call rewritten.
 */
function monomorphizePointers(source: string): string {
  // Comments go: they may name a function before a parenthesis.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/[^\n]*/g, '');
  const fns = parseFunctions(code);
  const byName = new Map(fns.map((f) => [f.name, f]));
  const generic = fns.filter((f) => f.pointers.length > 0);
  if (generic.length === 0) return code;
  const copies = new Map<string, string>();
  const calls = `\\b(${generic.map((f) => f.name).join('|')})\\s*\\(`;

  /** `text` with the calls of pointer-taking functions replaced; `bound` maps this function's pointer parameters to variables. */
  const rewrite = (text: string, bound: ReadonlyMap<string, string>, where: string): string => {
    const callRe = new RegExp(calls, 'g');
    let out = '';
    let at = 0;
    for (let m = callRe.exec(text); m; m = callRe.exec(text)) {
      const callee = byName.get(m[1])!;
      const open = m.index + m[0].length - 1;
      const close = closing(text, open);
      const args = splitTop(text.slice(open + 1, close - 1));
      const vars = callee.pointers.map((i) => {
        const a = args[i] ?? '';
        const v = /^&\s*(\w+)$/.exec(a)?.[1] ?? bound.get(a);
        if (!v) throw new Error(`lowerWgsl: ${where} passes ${a || 'nothing'} to ${callee.name}'s pointer parameter; only &variable or a pointer parameter can be rewritten`);
        return v;
      });
      const name = `${callee.name}__${vars.join('_')}`;
      instantiate(callee, vars, name);
      const rest = args.filter((_, i) => !callee.pointers.includes(i)).map((a) => rewrite(a, bound, where));
      out += `${text.slice(at, m.index)}${name}(${rest.join(', ')})`;
      at = close;
      callRe.lastIndex = close;
    }
    return out + text.slice(at);
  };

  const instantiate = (f: FnDecl, vars: string[], name: string) => {
    if (copies.has(name)) return;
    copies.set(name, ''); // recursion guard (WGSL has no recursion, but a malformed module must not loop)
    const bound = new Map<string, string>();
    f.pointers.forEach((i, k) => bound.set(f.params[i].slice(0, f.params[i].indexOf(':')).trim(), vars[k]));
    let body = f.body;
    for (const [p, v] of bound) body = body.replace(new RegExp(`\\(\\s*\\*\\s*${p}\\s*\\)`, 'g'), v);
    body = rewrite(body, bound, f.name);
    const params = f.params.filter((_, i) => !f.pointers.includes(i));
    const head = f.head.replace(new RegExp(`\\bfn\\s+${f.name}\\b`), `fn ${name}`);
    copies.set(name, `${head}(${params.join(', ')})${f.between}${body}`);
  };

  // Replace each plain function's text with its rewritten text, drop the generic ones, then add the copies.
  let out = '';
  let at = 0;
  for (const f of fns) {
    out += code.slice(at, f.start);
    if (f.pointers.length === 0) out += rewrite(code.slice(f.start, f.end), new Map(), f.name);
    at = f.end;
  }
  out += code.slice(at);
  out = out.replace(/^alias\s+\w+\s*=\s*ptr\s*<\s*(storage|uniform|workgroup)\b[^;]*;[ \t]*\n?/gm, '');
  return `${out.trimEnd()}\n\n// ---- pointer-parameter copies (gpu/wgsl-lower.ts) ----\n${[...copies.values()].join('\n\n')}\n`;
}
