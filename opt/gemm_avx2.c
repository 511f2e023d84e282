/* gemm_avx2.c - gemm_simd.c on AVX2 + FMA: 8 fp32 lanes, a 6 x 16 tile. */
#if defined(__x86_64__)
#define DSV4_VEC_AVX2
#include "gemm_simd.c"
#endif
