// The kernel families the GPU harness runs. A plain list, so the Node side (Playwright) can name one
// test per family without importing browser code; the harness checks it against its registry.
export const KERNEL_FAMILIES = ['rmsnorm', 'matmul', 'matmul-gguf', 'matmul-normed', 'matmul-subgroup', 'matmul-gemm', 'matmul-gemm-f16', 'wgsl-fallback', 'router', 'moe', 'rope', 'mla', 'mla-cache', 'sample', 'quant-sim', 'v4-kv', 'sparse-attention', 'mhc', 'indexer', 'speculative'] as const;
export type KernelFamilyName = (typeof KERNEL_FAMILIES)[number];

/**
 * Families that need a device feature: on an adapter without it they are skipped and reported as skipped
 * (their cases would fail, not pass on another path). No adapter on the CI machine has shader-f16.
 */
export const FAMILY_FEATURES: Partial<Record<KernelFamilyName, GPUFeatureName>> = { 'matmul-gemm-f16': 'shader-f16' };
