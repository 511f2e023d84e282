/* mhc_avx2.c - mhc_simd.c on AVX2 + FMA (8 fp32 lanes, 16 registers). */
#if defined(__x86_64__)
#define DSV4_VEC_AVX2
#include "mhc_simd.c"
#endif
