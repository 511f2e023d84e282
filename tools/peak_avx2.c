/* peak_avx2.c - peak_simd.c on AVX2 + FMA (8 fp32 lanes). */
#if defined(__x86_64__)
#define DSV4_VEC_AVX2
#include "peak_simd.c"
#endif
