// The lowering of WGSL for runtimes without a language feature: the rewritten text, checked without a GPU
// (e2e/kernels/matmul-variants.ts runs the lowered kernels against their float64 references).
import { describe, expect, it } from 'vitest';
import { lowerWgsl } from './wgsl-lower';

const ALL = new Set(['packed_4x8_integer_dot_product', 'unrestricted_pointer_parameters']);
const NONE = new Set<string>();

const MODULE = `requires unrestricted_pointer_parameters, packed_4x8_integer_dot_product;

alias Words = ptr<storage, array<u32>, read>;

@group(0) @binding(0) var<storage, read> w: array<u32>;
@group(0) @binding(1) var<storage, read> w_up: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

/** Word i of wp. (A comment naming word(wp, 1) must not be taken for a call.) */
fn word(wp: Words, i: u32) -> u32 {
  return (*wp)[i];
}

fn value(wp: Words, i: u32, k: array<f32, 2>) -> f32 {
  return f32(unpack4xI8(word(wp, i)).x) * k[1];
}

@compute @workgroup_size(1)
fn main() {
  y[0] = value(&w, 1u, array<f32, 2>(1.0, 2.0)) + value(&w_up, word(&w, 0u), array<f32, 2>(3.0, 4.0));
}
`;

describe('lowerWgsl', () => {
  it('leaves a module alone when the runtime has what it requires', () => {
    expect(lowerWgsl(MODULE, ALL)).toBe(MODULE);
    expect(lowerWgsl('fn f() {}\n', NONE)).toBe('fn f() {}\n');
  });

  it('copies pointer-taking functions per variable passed and replaces the packed builtins', () => {
    const out = lowerWgsl(MODULE, NONE);
    expect(out).not.toMatch(/requires|ptr<|alias Words|\bunpack4xI8\(|\(\*wp\)/);
    expect(out).toContain('fn word__w(i: u32) -> u32 {\n  return w[i];');
    expect(out).toContain('fn word__w_up(i: u32)');
    expect(out).toContain('fn value__w(i: u32, k: array<f32, 2>) -> f32 {\n  return f32(lowered_unpack4xI8(word__w(i)).x) * k[1];');
    expect(out).toContain('y[0] = value__w(1u, array<f32, 2>(1.0, 2.0)) + value__w_up(word__w(0u), array<f32, 2>(3.0, 4.0));');
    expect(out.match(/^fn /gm)).toHaveLength(6); // main, lowered_unpack4xI8, word__w, word__w_up, value__w, value__w_up
  });

  it('keeps the features the runtime has in the requires directive', () => {
    const out = lowerWgsl(MODULE, new Set(['packed_4x8_integer_dot_product']));
    expect(out.startsWith('requires packed_4x8_integer_dot_product;\n')).toBe(true);
    expect(out).toContain('unpack4xI8(word__w(i))');
  });

  it('brings the polyfills a polyfill calls', () => {
    const out = lowerWgsl('requires packed_4x8_integer_dot_product;\nfn f(a: u32) -> i32 { return dot4I8Packed(a, pack4xI8Clamp(vec4<i32>(300))); }\n', NONE);
    for (const f of ['lowered_dot4I8Packed', 'lowered_unpack4xI8', 'lowered_pack4xI8Clamp', 'lowered_pack4xI8', 'lowered_pack4xU8']) {
      expect(out).toMatch(new RegExp(`^fn ${f}\\(`, 'm'));
    }
  });

  it('refuses what it cannot rewrite', () => {
    expect(() => lowerWgsl('requires readonly_and_readwrite_storage_textures;\n', NONE)).toThrow(/readonly_and_readwrite_storage_textures/);
    const viaLet = 'requires unrestricted_pointer_parameters;\nalias P = ptr<storage, array<u32>, read>;\nfn g(p: P) -> u32 { return (*p)[0]; }\nfn f() { let q = &w; _ = g(q); }\n';
    expect(() => lowerWgsl(viaLet, NONE)).toThrow(/f passes q to g's pointer parameter/);
  });
});
