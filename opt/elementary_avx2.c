/* elementary_avx2.c - dsv4_expf on 8 fp32 lanes (spec/elementary.md); the
 * method of elementary_avx512.c on two groups of 4 doubles: ref's steps
 * E1-E4 with the same separate operations in the same order, then E0 by
 * blends. */
#if defined(__x86_64__)
#include "mhc_kernels.h"

#include <immintrin.h>

static const double LN2_HI = 6.93147180369123816490e-01;
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;
static const double ROUND_SHIFTER = 6755399441055744.0;
static const double INV_FACT[14] = {
    1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0,
    1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0,
    1.0 / 6227020800.0,
};

/* E1-E4 on 4 doubles. */
static inline __m128 exp_quarter(__m128 xf) {
    const __m256d shifter = _mm256_set1_pd(ROUND_SHIFTER);
    __m256d xd = _mm256_cvtps_pd(xf);
    __m256d shifted = _mm256_add_pd(_mm256_mul_pd(xd, _mm256_set1_pd(INV_LN2)), shifter);
    __m256d kd = _mm256_sub_pd(shifted, shifter);                                   /* E1 */
    __m256d r = _mm256_sub_pd(_mm256_sub_pd(xd, _mm256_mul_pd(kd, _mm256_set1_pd(LN2_HI))),
                              _mm256_mul_pd(kd, _mm256_set1_pd(LN2_LO)));          /* E2 */
    __m256d p = _mm256_set1_pd(INV_FACT[13]);                                       /* E3 */
    for (int n = 12; n >= 0; n--)
        p = _mm256_add_pd(_mm256_mul_pd(p, r), _mm256_set1_pd(INV_FACT[n]));
    __m256i k = _mm256_sub_epi64(_mm256_castpd_si256(shifted), _mm256_castpd_si256(shifter));
    __m256i pow2 = _mm256_slli_epi64(_mm256_add_epi64(k, _mm256_set1_epi64x(1023)), 52);
    return _mm256_cvtpd_ps(_mm256_mul_pd(p, _mm256_castsi256_pd(pow2)));          /* E4 */
}

__m256 dsv4_expf_avx2(__m256 x) {
    __m128 lo = exp_quarter(_mm256_castps256_ps128(x));
    __m128 hi = exp_quarter(_mm256_extractf128_ps(x, 1));
    __m256 y = _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
    __m256 low = _mm256_cmp_ps(x, _mm256_set1_ps(-150.0f), _CMP_LE_OQ);
    __m256 high = _mm256_cmp_ps(x, _mm256_set1_ps(128.0f), _CMP_GE_OQ);
    __m256 nan = _mm256_cmp_ps(x, x, _CMP_UNORD_Q);
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), low);
    y = _mm256_blendv_ps(y, _mm256_castsi256_ps(_mm256_set1_epi32(0x7F800000)), high);
    __m256 quiet = _mm256_or_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x00400000)));
    return _mm256_blendv_ps(y, quiet, nan);
}

/* Lanes [0, m) of a mask for maskload/maskstore (m <= 8). */
static __m256i first_lanes(size_t m) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)m), idx);
}

void dsv4_expf_array_avx2(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i += 8) {
        size_t m = n - i < 8 ? n - i : 8;
        __m256i k = first_lanes(m);
        _mm256_maskstore_ps(y + i, k, dsv4_expf_avx2(_mm256_maskload_ps(x + i, k)));
    }
}
#endif
