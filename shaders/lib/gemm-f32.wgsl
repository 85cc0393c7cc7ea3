// product_gemm's arithmetic type (product-gemm.wgsl): f32 slabs and partial sums, for every device.
alias gemm_t = f32;
