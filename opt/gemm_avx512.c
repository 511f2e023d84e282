/* gemm_avx512.c - gemm_simd.c on AVX-512 F, BW, DQ, VL: 16 fp32 lanes, a
 * 12 x 32 tile. */
#if defined(__x86_64__)
#define DSV4_VEC_AVX512
#include "gemm_simd.c"
#endif
