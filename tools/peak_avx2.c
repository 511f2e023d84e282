/* peak_avx2.c - peak FMA loop, AVX2 + FMA: 12 independent 8-lane
 * accumulators (two FMA ports x latency 4-5 needs at least 10 in flight). */
#include "peak.h"

#include <immintrin.h>

enum { ACCS = 12, LANES = 8 };

double dsv4_peak_fma_avx2(uint64_t iters, float *sink) {
    __m256 acc[ACCS]; /* [ACCS] x 8 lanes */
    const __m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-3f);
    for (int k = 0; k < ACCS; k++) acc[k] = _mm256_set1_ps((float)k);
    for (uint64_t i = 0; i < iters; i++)
        /* Fully unrolled, the accumulators live in registers; left as a
         * loop, the compiler keeps the array in memory. */
#pragma GCC unroll 16
        for (int k = 0; k < ACCS; k++) acc[k] = _mm256_fmadd_ps(acc[k], m, a);
    __m256 s = acc[0];
    for (int k = 1; k < ACCS; k++) s = _mm256_add_ps(s, acc[k]);
    float lanes[LANES];
    _mm256_storeu_ps(lanes, s);
    *sink = lanes[0] + lanes[LANES - 1];
    return 2.0 * ACCS * LANES * (double)iters;
}
