/* adamw_avx2.c - AdamW, 8 lanes: ref's operations in ref's order (plain
 * mul/add/sub, IEEE sqrt and division), so the bits equal ref's; the tail
 * goes through the scalar code. */
#include "adamw_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

static void adamw_avx2(const dsv4_adamw_scalars *s, float *p, float *m, float *v, const float *g,
                     size_t n) {
    const __m256 decay = _mm256_set1_ps(s->decay), w1 = _mm256_set1_ps(s->w1);
    const __m256 beta2 = _mm256_set1_ps(s->beta2), w2 = _mm256_set1_ps(s->w2);
    const __m256 step = _mm256_set1_ps(s->step), bc2 = _mm256_set1_ps(s->bc2_sqrt);
    const __m256 eps = _mm256_set1_ps(s->eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 pv = _mm256_loadu_ps(p + i), mv = _mm256_loadu_ps(m + i);
        __m256 vv = _mm256_loadu_ps(v + i), gv = _mm256_loadu_ps(g + i);
        pv = _mm256_mul_ps(pv, decay);                                              /* A1 */
        mv = _mm256_add_ps(mv, _mm256_mul_ps(w1, _mm256_sub_ps(gv, mv)));           /* A2 */
        vv = _mm256_add_ps(_mm256_mul_ps(vv, beta2),
                           _mm256_mul_ps(_mm256_mul_ps(w2, gv), gv));               /* A3 */
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vv), bc2), eps);  /* A5 */
        pv = _mm256_sub_ps(pv, _mm256_mul_ps(step, _mm256_div_ps(mv, denom)));
        _mm256_storeu_ps(p + i, pv);
        _mm256_storeu_ps(m + i, mv);
        _mm256_storeu_ps(v + i, vv);
    }
    dsv4_adamw_range(s, p + i, m + i, v + i, g + i, n - i);
}
const dsv4_adamw_kernels dsv4_adamw_kernels_avx2 = {adamw_avx2};
#endif
