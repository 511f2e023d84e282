/* sparse_attn_avx2.c - sparse_attn_simd.c on AVX2 + FMA (8 fp32 lanes, 16 registers). */
#if defined(__x86_64__)
#define DSV4_VEC_AVX2
#include "sparse_attn_simd.c"
#endif
