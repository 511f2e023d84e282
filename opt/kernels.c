/* kernels.c - the kernel tables of each ISA (kernels.h). */
#include "kernels.h"

static const dsv4_kernels tables[DSV4_ISA_COUNT] = {
    [DSV4_ISA_SCALAR] = {&dsv4_fmt_kernels_scalar, &dsv4_mhc_kernels_scalar,
                         &dsv4_gemm_kernels_scalar, &dsv4_adamw_kernels_scalar,
                         &dsv4_elementary_kernels_scalar, &dsv4_attn_kernels_scalar},
#if defined(__x86_64__)
    [DSV4_ISA_AVX2] = {&dsv4_fmt_kernels_avx2, &dsv4_mhc_kernels_avx2, &dsv4_gemm_kernels_avx2,
                       &dsv4_adamw_kernels_avx2, &dsv4_elementary_kernels_avx2,
                       &dsv4_attn_kernels_avx2},
    [DSV4_ISA_AVX512] = {&dsv4_fmt_kernels_avx512, &dsv4_mhc_kernels_avx512,
                         &dsv4_gemm_kernels_avx512, &dsv4_adamw_kernels_avx512,
                         &dsv4_elementary_kernels_avx512, &dsv4_attn_kernels_avx512},
#endif
};

const dsv4_kernels *dsv4_kernels_for(dsv4_isa isa) {
    if ((unsigned)isa >= DSV4_ISA_COUNT || !tables[isa].formats) return &tables[DSV4_ISA_SCALAR];
    return &tables[isa];
}
