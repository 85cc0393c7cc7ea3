// The kernel families the GPU harness runs. A plain list, so the Node side (Playwright) can name one
// test per family without importing browser code; the harness checks it against its registry.
export const KERNEL_FAMILIES = ['rmsnorm', 'matmul', 'matmul-gguf', 'matmul-normed', 'matmul-subgroup', 'matmul-gemm', 'wgsl-fallback', 'router', 'moe', 'rope', 'mla', 'mla-cache', 'sample', 'quant-sim', 'v4-kv', 'sparse-attention', 'mhc', 'indexer', 'speculative'] as const;
export type KernelFamilyName = (typeof KERNEL_FAMILIES)[number];
