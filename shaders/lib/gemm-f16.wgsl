// product_gemm's arithmetic type (product-gemm.wgsl): f16 slabs and partial sums, half the workgroup memory and
// packed half-precision FMAs where the device has shader-f16 (the module needs it: compose this piece only for
// such a device). Each GK-column step's partial sums are added to f32 accumulators, so f16 rounding never
// accumulates over a whole row (docs/kernels.md#prefill-gemm-in-f16).
enable f16;
alias gemm_t = f16;
