// Every kernel family the harness knows, by the names in lib/families.ts.
import type { KernelFamily } from '../lib/cases';
import type { KernelFamilyName } from '../lib/families';
import { rmsnormFamily } from './rmsnorm';
import { matmulFamily, matmulGgufFamily } from './matmul';
import { matmulNormedFamily } from './matmul-normed';
import { matmulGemmF16Family, matmulGemmFamily, matmulSubgroupFamily, wgslFallbackFamily } from './matmul-variants';
import { ropeFamily } from './rope';
import { mlaFamily } from './mla';
import { mlaCacheFamily } from './mla-cache';
import { sampleFamily } from './sample';
import { routerFamily } from './router';
import { moeFamily } from './moe';
import { quantSimFamily } from './quant-sim';
import { mhcFamily } from './mhc';
import { indexerFamily } from './indexer';
import { v4KvFamily } from './v4-kv';
import { sparseAttentionFamily } from './sparse-attention';
import { speculativeFamily } from './speculative';

export const registry: Record<KernelFamilyName, KernelFamily> = {
  rmsnorm: rmsnormFamily,
  matmul: matmulFamily,
  'matmul-gguf': matmulGgufFamily,
  'matmul-normed': matmulNormedFamily,
  'matmul-subgroup': matmulSubgroupFamily,
  'matmul-gemm': matmulGemmFamily,
  'matmul-gemm-f16': matmulGemmF16Family,
  'wgsl-fallback': wgslFallbackFamily,
  rope: ropeFamily,
  mla: mlaFamily,
  'mla-cache': mlaCacheFamily,
  sample: sampleFamily,
  router: routerFamily,
  moe: moeFamily,
  'quant-sim': quantSimFamily,
  mhc: mhcFamily,
  indexer: indexerFamily,
  'v4-kv': v4KvFamily,
  'sparse-attention': sparseAttentionFamily,
  speculative: speculativeFamily,
};
