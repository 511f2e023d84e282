/* sparse_attn_avx512.c - sparse_attn_simd.c on AVX-512 F, BW, DQ, VL (16 fp32 lanes, 32 registers). */
#if defined(__x86_64__)
#define DSV4_VEC_AVX512
#include "sparse_attn_simd.c"
#endif
