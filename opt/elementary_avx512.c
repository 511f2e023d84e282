/* elementary_avx512.c - elementary_simd.c on AVX-512 F, BW, DQ, VL (16 fp32 lanes). */
#if defined(__x86_64__)
#define DSV4_VEC_AVX512
#include "elementary_simd.c"
#endif
