import { describe, expect, it } from 'vitest';
import { composeWgsl, wgslPiece } from './wgsl-compose';

const base = wgslPiece('base', 'requires unrestricted_pointer_parameters;\n\nstruct Unit {\n  v: f32,\n}\n');
const dq = wgslPiece('dq', 'requires packed_4x8_integer_dot_product;\nfn dequant(u: u32) -> Unit { return Unit(f32(u)); }\n', [base]);
const main = wgslPiece('main', '@group(0) @binding(0) var<storage, read> w: array<u32>;\n\n@compute @workgroup_size(1)\nfn entry() { _ = dequant(w[0]); }\n', [base]);

describe('composeWgsl', () => {
  it('merges the directives at the top and puts each piece once, after what it needs, the main source last', () => {
    const s = composeWgsl(main, [dq]);
    expect(s.id).toBe('main+dq');
    expect(s.code.startsWith('requires unrestricted_pointer_parameters, packed_4x8_integer_dot_product;\n')).toBe(true);
    expect(s.code.match(/struct Unit/g)).toHaveLength(1);
    expect(s.code.indexOf('struct Unit')).toBeLessThan(s.code.indexOf('fn dequant'));
    expect(s.code.indexOf('fn dequant')).toBeLessThan(s.code.indexOf('fn entry'));
    expect(s.code.match(/^requires/gm)).toHaveLength(1);
  });

  it('names a declaration two pieces both make', () => {
    const clash = wgslPiece('clash', 'const Unit = 1u;\n');
    expect(() => composeWgsl(main, [clash])).toThrow(/Unit is declared by both clash and base|Unit is declared by both base and clash/);
    const twice = wgslPiece('twice', '@group(0) @binding(1) var<storage, read> w: array<u32>;\n');
    expect(() => composeWgsl(main, [twice])).toThrow(/w is declared by both twice and main/);
  });

  it('refuses two different pieces under one name and cycles', () => {
    const other = wgslPiece('base', 'fn other() {}\n');
    expect(() => composeWgsl(main, [other])).toThrow(/two different pieces are named base/);
    const a: { name: string; code: string; needs: unknown[] } = { name: 'a', code: '', needs: [] };
    const b = wgslPiece('b', '', [a as never]);
    a.needs.push(b);
    expect(() => composeWgsl(main, [b])).toThrow(/b → a → b is a cycle/);
  });
});
