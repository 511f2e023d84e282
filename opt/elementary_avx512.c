/* elementary_avx512.c - dsv4_expf on 16 fp32 lanes (spec/elementary.md).
 *
 * Each half of the vector is widened to 8 doubles and goes through ref's
 * steps E1-E4 with the same constants and the same separate multiplies,
 * adds and subtracts, in the same order (GCC in ISO C mode does not fuse
 * them; the intrinsics are explicit anyway), then is rounded once to fp32 by
 * the conversion, as ref's cast does.  E0 (NaN, x <= -150, x >= 128) is
 * applied afterwards by blends, so the lanes computed on those inputs are
 * simply discarded.  2^k is built from the bits of x/ln2 + 1.5*2^52, whose
 * low mantissa bits hold k: the same integer ref obtains by (int)kd. */
#if defined(__x86_64__)
#include "mhc_kernels.h"

#include <immintrin.h>

/* The doubles of ref/elementary.c, by bit pattern or exact value. */
static const double LN2_HI = 6.93147180369123816490e-01;
static const double LN2_LO = 1.90821492927058770002e-10;
static const double INV_LN2 = 1.44269504088896338700e+00;
static const double ROUND_SHIFTER = 6755399441055744.0;
static const double INV_FACT[14] = {
    1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0,
    1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0,
    1.0 / 6227020800.0,
};

/* E1-E4 on 8 doubles (exact widenings of fp32 inputs). */
static inline __m256 exp_half(__m256 xf) {
    const __m512d shifter = _mm512_set1_pd(ROUND_SHIFTER);
    __m512d xd = _mm512_cvtps_pd(xf);
    __m512d shifted = _mm512_add_pd(_mm512_mul_pd(xd, _mm512_set1_pd(INV_LN2)), shifter);
    __m512d kd = _mm512_sub_pd(shifted, shifter);                                   /* E1 */
    __m512d r = _mm512_sub_pd(_mm512_sub_pd(xd, _mm512_mul_pd(kd, _mm512_set1_pd(LN2_HI))),
                              _mm512_mul_pd(kd, _mm512_set1_pd(LN2_LO)));          /* E2 */
    __m512d p = _mm512_set1_pd(INV_FACT[13]);                                       /* E3 */
    for (int n = 12; n >= 0; n--)
        p = _mm512_add_pd(_mm512_mul_pd(p, r), _mm512_set1_pd(INV_FACT[n]));
    /* k = bits(shifted) - bits(shifter); 2^k has the bits (k + 1023) << 52 */
    __m512i k = _mm512_sub_epi64(_mm512_castpd_si512(shifted), _mm512_castpd_si512(shifter));
    __m512i pow2 = _mm512_slli_epi64(_mm512_add_epi64(k, _mm512_set1_epi64(1023)), 52);
    return _mm512_cvtpd_ps(_mm512_mul_pd(p, _mm512_castsi512_pd(pow2)));          /* E4 */
}

__m512 dsv4_expf_avx512(__m512 x) {
    __m256 lo = exp_half(_mm512_castps512_ps256(x));
    __m256 hi = exp_half(_mm512_extractf32x8_ps(x, 1));
    __m512 y = _mm512_insertf32x8(_mm512_castps256_ps512(lo), hi, 1);
    /* E0, in ref's order: NaN first (quieted), then the two range ends */
    __m512i u = _mm512_castps_si512(x);
    __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
    __mmask16 low = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-150.0f), _CMP_LE_OQ);
    __mmask16 high = _mm512_cmp_ps_mask(x, _mm512_set1_ps(128.0f), _CMP_GE_OQ);
    y = _mm512_mask_mov_ps(y, low, _mm512_setzero_ps());
    y = _mm512_mask_mov_ps(y, high, _mm512_castsi512_ps(_mm512_set1_epi32(0x7F800000)));
    __m512i quiet = _mm512_or_si512(u, _mm512_set1_epi32(0x00400000));
    return _mm512_mask_mov_ps(y, nan, _mm512_castsi512_ps(quiet));
}

void dsv4_expf_array_avx512(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        size_t m = n - i < 16 ? n - i : 16;
        __mmask16 k = (__mmask16)((1u << m) - 1u);
        __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        _mm512_mask_storeu_ps(y + i, k, dsv4_expf_avx512(v));
    }
}
#endif
