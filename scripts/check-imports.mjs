#!/usr/bin/env node
// The import graph's rules, checked on every test run (README: Tests):
//  1. no import cycle between modules (type-only imports count: a cycle of types is still a cycle of meaning);
//  2. no relative import from one workspace package into another (packages use each other's public entries,
//     e.g. `webmoe/model`, `@webmoe/converter/presets`);
//  3. inside the engine library, folders depend in one direction: the lower layer never imports a higher one.
// Exit status 1 with every violation listed; silence and 0 when the graph is clean.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SCAN = ['packages', 'e2e', 'demo', 'scripts'];
const SKIP = new Set(['node_modules', 'dist', 'test-results', 'public']);

// Engine folders from the bottom up; a folder may import its own layer and those listed before it.
const LIB = 'packages/webmoe/src/';
const LAYERS = [
  ['errors.ts', 'util', 'wgsl.d.ts'],
  ['model'],
  ['gpu'],
  ['kernels'],
  ['executor'],
  ['text'],
  ['runtime'],
  ['index.ts'],
];

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (SKIP.has(name)) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (/\.(ts|mts|mjs|js)$/.test(name) && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'"`;]*?\sfrom\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function specifiers(file) {
  const text = readFileSync(file, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"])\/\/.*$/gm, '$1');
  const out = [];
  for (const m of text.matchAll(IMPORT)) out.push(m[1] ?? m[2]);
  return out;
}

function resolveRelative(from, spec) {
  const base = resolve(dirname(from), spec.replace(/\?.*$/, ''));
  for (const c of [base, `${base}.ts`, join(base, 'index.ts'), base.replace(/\.js$/, '.ts')]) {
    if (existsSync(c) && statSync(c).isFile()) return c;
  }
  return null;
}

/** 'packages/<name>' for a file inside a workspace package, else the top folder ('e2e', 'demo', ...). */
function unit(file) {
  const parts = relative(root, file).split(sep);
  return parts[0] === 'packages' ? `packages/${parts[1]}` : parts[0];
}

function layerOf(file) {
  const rel = relative(root, file).split(sep).join('/');
  if (!rel.startsWith(LIB)) return -1;
  const head = rel.slice(LIB.length).split('/')[0];
  return LAYERS.findIndex((l) => l.includes(head));
}

const files = SCAN.flatMap((d) => (existsSync(join(root, d)) ? walk(join(root, d), []) : []));
const graph = new Map();
const problems = [];
for (const f of files) {
  const deps = [];
  for (const spec of specifiers(f)) {
    if (!spec.startsWith('.')) continue;
    const target = resolveRelative(f, spec);
    if (!target) continue;
    const [from, to] = [unit(f), unit(target)];
    if (from !== to && to.startsWith('packages/') && from.startsWith('packages/')) {
      problems.push(`${relative(root, f)}: imports ${spec} inside another package (${to}); use its public entry`);
    }
    if (from !== to && to.startsWith('packages/') && relative(root, target).includes(`${sep}src${sep}`) && !from.startsWith('packages/')) {
      problems.push(`${relative(root, f)}: imports ${spec}, a package's src/ by path; use its public entry`);
    }
    const [lf, lt] = [layerOf(f), layerOf(target)];
    if (lf >= 0 && lt > lf) {
      problems.push(`${relative(root, f)}: imports ${spec}, a higher layer (${LAYERS[lt].join('/')} above ${LAYERS[lf].join('/')})`);
    }
    if (target.endsWith('.ts') || target.endsWith('.mjs') || target.endsWith('.js')) deps.push(target);
  }
  graph.set(f, deps);
}

// Tarjan's strongly connected components: any component of more than one module (or a self-import) is a cycle.
let index = 0;
const idx = new Map(), low = new Map(), stack = [], on = new Set();
function strong(v) {
  idx.set(v, index); low.set(v, index); index++;
  stack.push(v); on.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!idx.has(w)) { strong(w); low.set(v, Math.min(low.get(v), low.get(w))); }
    else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
  }
  if (low.get(v) === idx.get(v)) {
    const comp = [];
    let w;
    do { w = stack.pop(); on.delete(w); comp.push(w); } while (w !== v);
    if (comp.length > 1 || (graph.get(v) ?? []).includes(v)) {
      problems.push(`import cycle: ${comp.map((c) => relative(root, c)).sort().join(' ↔ ')}`);
    }
  }
}
for (const f of graph.keys()) if (!idx.has(f)) strong(f);

if (problems.length) {
  console.error(`check-imports: ${problems.length} problem(s)\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`check-imports: ${files.length} modules, no cycle, no cross-package path, engine layers in order`);
