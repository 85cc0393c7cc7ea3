// Every source a launcher can compose, for every weight format: the composer refuses two declarations of
// one name, so this catches a library piece that clashes with a role's names before any GPU compiles it.
import { describe, expect, it } from 'vitest';
import { composeWgsl } from '../gpu/wgsl-compose';
import { PRODUCT_FORMATS } from '../model/formats';
import { DEQUANT, dequant } from './wgsl-lib';
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
});
