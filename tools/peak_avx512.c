/* peak_avx512.c - peak FMA loop, AVX-512F: 16 independent 16-lane
 * accumulators (two FMA ports x latency 4 needs at least 8 in flight; 16
 * leaves margin and still fits the 32 zmm registers). */
#include "peak.h"

#include <immintrin.h>

enum { ACCS = 16, LANES = 16 };

double dsv4_peak_fma_avx512(uint64_t iters, float *sink) {
    __m512 acc[ACCS]; /* [ACCS] x 16 lanes */
    const __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-3f);
    for (int k = 0; k < ACCS; k++) acc[k] = _mm512_set1_ps((float)k);
    for (uint64_t i = 0; i < iters; i++)
        /* Fully unrolled, the accumulators live in registers; left as a
         * loop, the compiler keeps the array in memory. */
#pragma GCC unroll 16
        for (int k = 0; k < ACCS; k++) acc[k] = _mm512_fmadd_ps(acc[k], m, a);
    __m512 s = acc[0];
    for (int k = 1; k < ACCS; k++) s = _mm512_add_ps(s, acc[k]);
    *sink = _mm512_reduce_add_ps(s);
    return 2.0 * ACCS * LANES * (double)iters;
}
