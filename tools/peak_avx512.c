/* peak_avx512.c - peak_simd.c on AVX-512 (16 fp32 lanes). */
#if defined(__x86_64__)
#define DSV4_VEC_AVX512
#include "peak_simd.c"
#endif
