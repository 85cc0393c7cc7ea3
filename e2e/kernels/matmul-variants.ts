// The matrix products' variants that depend on what the device offers, through the cases of
// e2e/kernels/matmul.ts (the same float64 references and tolerances) on a changed KernelContext:
//   matmul-subgroup: decode products whose rows are summed by subgroupAdd (product_sg), every weight
//     format, for the roles decode uses it for (dense, heads' W_UV, outputs, experts). Fails on a device
//     without `subgroups` rather than passing on the workgroup path.
//   wgsl-fallback: the kernels compiled as a runtime without the WGSL language features
//     packed_4x8_integer_dot_product and unrestricted_pointer_parameters gets them (gpu/wgsl-lower.ts).
//   matmul-gemm: prefill products by workgroup tiles (product_gemm, docs/kernels.md#prefill-gemm) on a
//     context whose prefill choice is 'gemm', whatever the adapter's shape.
//   matmul-gemm-f16: the same cases in f16 arithmetic ('gemm-f16'), with f16's tolerance; only on a device
//     with shader-f16 (lib/families.ts FAMILY_FEATURES).
// Each case also checks that the variant really ran: the pipelines it built name product_sg or
// product_gemm, or its modules were lowered.
import { PRODUCT_FORMATS, PipelineCache, lowerWgsl, type KernelContext, type PipelineKey } from 'webmoe';
import type { Comparison } from '../lib/compare';
import { grid, type KernelCase, type KernelFamily } from '../lib/cases';
import {
  K_QUANTS, K_SIZES, OUT_SIZES, SIZES, expertsCase, groupedCase, headsCase, outputCase, plainCase, type Arithmetic,
} from './matmul';
import { rmsnormFamily } from './rmsnorm';

/** A context whose pipeline cache records the keys it is asked for. */
function recording(ctx: KernelContext, pipelines: PipelineCache): { ctx: KernelContext; keys: PipelineKey[] } {
  const keys: PipelineKey[] = [];
  const spy = Object.create(pipelines) as PipelineCache;
  spy.get = (key: PipelineKey) => {
    keys.push(key);
    return pipelines.get(key);
  };
  return { ctx: { ...ctx, pipelines: spy }, keys };
}

/** `inner` run on a context from `change`, then `check` on the pipeline keys it used. */
function variant(inner: KernelCase, prefix: string, change: (ctx: KernelContext) => { ctx: KernelContext; keys: PipelineKey[] },
  check: (keys: PipelineKey[]) => string | null): KernelCase {
  return {
    name: `${prefix},${inner.name}`,
    async run(ctx): Promise<Record<string, Comparison>> {
      const v = change(ctx);
      const result = await inner.run(v.ctx);
      const problem = check(v.keys);
      if (problem) throw new Error(problem);
      return result;
    },
  };
}

// ---------------------------------------------------------------------------------------------------
// Subgroup rows
// ---------------------------------------------------------------------------------------------------

function subgroupContext(ctx: KernelContext) {
  if (!ctx.subgroups) throw new Error('the device was created without the subgroups feature: product_sg cannot run here');
  return recording({ ...ctx, matmulReduce: 'subgroup' }, ctx.pipelines);
}

const usedSubgroups = (keys: PipelineKey[]) =>
  keys.some((k) => k.entryPoint === 'product_sg') ? null : `no product_sg pipeline was built (${keys.map((k) => k.entryPoint).join(', ')})`;

function subgroupCases(): KernelCase[] {
  const formats = PRODUCT_FORMATS.filter((f) => !(K_QUANTS as readonly string[]).includes(f));
  // Decode sizes (at most 4 tokens per weight) take product_sg; the others would take matmul_row/tile.
  const decode = SIZES.filter((s) => s.T <= 4);
  const cases = [
    ...grid({ format: formats, size: decode }).map((p) => plainCase(p.format, 'workgroup', 'n', p.size)),
    ...grid({ format: K_QUANTS, size: K_SIZES.filter((s) => s.T <= 4) }).map((p) => plainCase(p.format, 'workgroup', 'n', p.size)),
    ...formats.map((f) => headsCase(f, 'workgroup', 'uv')),
    ...grid({ format: formats, size: OUT_SIZES.filter((s) => s.T <= 4) }).map((p) => outputCase(p.format, 'workgroup', p.size)),
    ...grid({ format: formats, part: ['gate_up', 'down'] as const, shared: [false, true] }).map((p) => expertsCase(p.format, 'workgroup', p.part, p.shared)),
    // One part of a split expert group: skipped slots (docs/paging.md#binding-limit).
    ...(['gate_up', 'down'] as const).map((part) => expertsCase('q4', 'workgroup', part, true, { base: 3, count: 3 })),
  ];
  return cases.map((c) => variant(c, 'reduce=subgroup', subgroupContext, usedSubgroups));
}

export const matmulSubgroupFamily: KernelFamily = { cases: subgroupCases };

// ---------------------------------------------------------------------------------------------------
// Kernels without the WGSL language features
// ---------------------------------------------------------------------------------------------------

/** Per device: a pipeline cache that compiles every module as for a runtime with no language features. */
const bare = new WeakMap<GPUDevice, PipelineCache>();
const NONE: ReadonlySet<string> = new Set();

function fallbackContext(ctx: KernelContext) {
  let pipelines = bare.get(ctx.device);
  if (!pipelines) bare.set(ctx.device, (pipelines = new PipelineCache(ctx.device, NONE)));
  return recording(ctx, pipelines);
}

/** The case must have compiled a module that the lowering changed. */
const wasLowered = (keys: PipelineKey[]) =>
  keys.some((k) => lowerWgsl(k.source.code, NONE) !== k.source.code) ? null : 'no module of this case needed lowering: the case tests nothing';

function fallbackCases(): KernelCase[] {
  const formats = PRODUCT_FORMATS.filter((f) => !(K_QUANTS as readonly string[]).includes(f));
  const cases = [
    ...grid({ format: formats, shape: ['row', 'workgroup'] as const, dir: ['n', 't'] as const, size: [SIZES[1], SIZES[4], SIZES[5]] })
      .map((p) => plainCase(p.format, p.shape, p.dir, p.size)),
    ...grid({ format: K_QUANTS, shape: ['row', 'workgroup'] as const, size: [K_SIZES[1]] }).map((p) => plainCase(p.format, p.shape, 'n', p.size)),
    ...grid({ format: formats, part: ['gate_up', 'down'] as const }).map((p) => expertsCase(p.format, 'workgroup', p.part)),
    // RMSNorm reads its rows through pointer parameters (lib/rms.wgsl).
    ...rmsnormFamily.cases(),
  ];
  return cases.map((c) => variant(c, 'wgsl=bare', fallbackContext, wasLowered));
}

export const wgslFallbackFamily: KernelFamily = { cases: fallbackCases };

// ---------------------------------------------------------------------------------------------------
// Workgroup-tiled prefill
// ---------------------------------------------------------------------------------------------------

const usedGemm = (keys: PipelineKey[]) =>
  keys.some((k) => k.entryPoint === 'product_gemm') ? null : `no product_gemm pipeline was built (${keys.map((k) => k.entryPoint).join(', ')})`;

// At least 64 tokens per weight (GEMM_MIN_TOKENS), with rows not a multiple of a tile's 64, tokens not a
// multiple of its 64 (a second, partial tile), and columns not a multiple of a step's 8 to 64 (1031; 132
// and 36 keep x's rows 4-float aligned, X4). The grouped case gives experts segments of 70 and 66 rows (two
// tiles each), one of 5 and an empty one. Four cases, one per epilogue (write, accumulate, SwiGLU with the
// clamp, grouped SwiGLU): each compiles a pipeline that SwiftShader takes 15–20 s over, and every format
// reads its units through the same dequant8 calls, which the rest of the grid tests (a sixth runs the grouped
// one's pipeline over listed tiles: docs/kernels.md#expert-tiles). A fifth, a short chunk
// of 13 tokens, takes a 16-token tile where gemmMinTokens lets it in (the context's, 5, here for every case;
// the others have at least 64 tokens): the tile's token count is an override, so one case covers 8 and 16.
function gemmCases(arith: Arithmetic): KernelCase[] {
  const cases = [
    plainCase('f32', 'row', 'n', { rows: 67, cols: 132, T: 65 }, arith),
    plainCase('q4', 'workgroup', 'n', { rows: 67, cols: 132, T: 13 }, arith),
    outputCase('q8', 'workgroup', { mode: 'accumulate', rows: 19, cols: 1031, T: 64 }, arith),
    outputCase('bf16', 'workgroup', { mode: 'swiglu-limit', rows: 67, cols: 132, T: 67 }, arith),
    groupedCase('q4', 'workgroup', 'swiglu', { counts: [70, 0, 5, 66], span: 128, cols: 36 }, arith),
    // The same pipeline over listed tiles of 64 rows (the second expert's two, a partial one included),
    // launched as the part from expert 1 on.
    groupedCase('q4', 'workgroup', 'swiglu', { counts: [70, 0, 5, 66], tiles: 64, base: 1, cols: 36 }, arith),
  ];
  const choice = arith === 'f16' ? 'gemm-f16' : 'gemm';
  // The f16 variant must have composed the f16 arithmetic piece, not fallen back to f32.
  const used = (keys: PipelineKey[]) => usedGemm(keys) ?? (arith === 'f16' && !keys.some((k) => k.source.id.includes('gemm-f16'))
    ? `no product_gemm pipeline in f16 arithmetic was built (${keys.map((k) => k.source.id).join(', ')})` : null);
  return cases.map((c) => variant(c, `prefill=${choice}`, (ctx) => recording({ ...ctx, matmulPrefill: choice, gemmMinTokens: 5 }, ctx.pipelines), used));
}

export const matmulGemmFamily: KernelFamily = { cases: () => gemmCases('f32') };
export const matmulGemmF16Family: KernelFamily = { cases: () => gemmCases('f16') };
