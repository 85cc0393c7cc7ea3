// Every source a launcher can compose, for every weight format: the composer refuses two declarations of
// one name, so this catches a library piece that clashes with a role's names before any GPU compiles it.
import { describe, expect, it } from 'vitest';
import { composeWgsl, wgslPiece } from '../gpu/wgsl-compose';
import { lowerWgsl } from '../gpu/wgsl-lower';
import { PRODUCT_FORMATS } from '../model/formats';
import { DEQUANT, PRODUCT_GEMM, PRODUCT_SUBGROUP, RMS, WORKGROUP_REDUCE, dequant } from './wgsl-lib';
import { MATMUL_DENSE } from './matmul-dense';
import { MATMUL_EXPERTS } from './matmul-experts';
import { MATMUL_GROUPED } from './matmul-grouped';
import { MATMUL_TRANSPOSED } from './matmul-transposed';
import { GATHER_ROWS } from './gather-rows';

const mains = [MATMUL_DENSE, MATMUL_EXPERTS, MATMUL_GROUPED, MATMUL_TRANSPOSED, GATHER_ROWS];

describe('the WGSL library', () => {
  it('has a dequant8 for every weight format the products read', () => {
    for (const f of PRODUCT_FORMATS) expect(DEQUANT[f]?.code, f).toMatch(/^fn dequant8\(wp: Words, t: Tensor, cols: u32, r: u32, u: u32\) -> Vec8/m);
  });

  it('composes every matrix role with every format without a clash', () => {
    for (const main of mains) {
      for (const f of PRODUCT_FORMATS) {
        const s = composeWgsl(main, [dequant(f)]);
        expect(s.id).toBe(`${main.name}+dequant-${f}`);
        expect(s.code.match(/^fn dequant8\(/gm)).toHaveLength(1);
      }
    }
  });

  it('composes the subgroup rows only where asked, with the enable directive at the top', () => {
    for (const main of [MATMUL_DENSE, MATMUL_EXPERTS]) {
      expect(composeWgsl(main, [dequant('q4')]).code).not.toMatch(/subgroups|product_sg/);
      const s = composeWgsl(main, [dequant('q4'), PRODUCT_SUBGROUP]);
      expect(s.id).toBe(`${main.name}+dequant-q4+product-subgroup`);
      expect(s.code.slice(0, s.code.indexOf('\n\n'))).toMatch(/^enable subgroups;$/m);
      expect(s.code.match(/^fn product_sg\(/gm)).toHaveLength(1);
    }
  });

  it('composes the workgroup tiles into the dense and grouped roles with every format', () => {
    for (const main of [MATMUL_DENSE, MATMUL_GROUPED]) {
      expect(composeWgsl(main, [dequant('q4')]).code).not.toMatch(/^(fn product_gemm|var<workgroup> gemm_w)/m);
      for (const f of PRODUCT_FORMATS) {
        const s = composeWgsl(main, [dequant(f), PRODUCT_GEMM]);
        expect(s.id).toBe(`${main.name}+dequant-${f}+product-gemm`);
        expect(s.code.match(/^fn product_gemm\(/gm)).toHaveLength(1);
      }
    }
  });

  it('lowers every matrix source for a runtime without the language features', () => {
    const none = new Set<string>();
    const sources = [
      ...mains.flatMap((main) => PRODUCT_FORMATS.map((f) => composeWgsl(main, [dequant(f)]))),
      composeWgsl(MATMUL_DENSE, [dequant('q8'), PRODUCT_SUBGROUP]),
      ...PRODUCT_FORMATS.map((f) => composeWgsl(MATMUL_GROUPED, [dequant(f), PRODUCT_GEMM])),
      composeWgsl(wgslPiece('norm-test', 'fn f() -> f32 { return 0.0; }', [WORKGROUP_REDUCE, RMS])),
    ];
    for (const s of sources) {
      const out = lowerWgsl(s.code, none);
      expect(out, s.id).not.toMatch(/^requires|ptr<|\b(unpack4xI8|dot4I8Packed)\(/m);
      expect(out.match(/^fn (dequant8|weight8)\(/gm), s.id).toBeNull();
    }
  });
});
