/* adamw_avx512.c - AdamW, 16 lanes: ref's operations in ref's order (plain
 * mul/add/sub, IEEE sqrt and division), so the bits equal ref's. */
#include "adamw_kernels.h"

#if defined(__x86_64__)
#include <immintrin.h>

static void adamw_avx512(const dsv4_adamw_scalars *s, float *p, float *m, float *v,
                       const float *g, size_t n) {
    const __m512 decay = _mm512_set1_ps(s->decay), w1 = _mm512_set1_ps(s->w1);
    const __m512 beta2 = _mm512_set1_ps(s->beta2), w2 = _mm512_set1_ps(s->w2);
    const __m512 step = _mm512_set1_ps(s->step), bc2 = _mm512_set1_ps(s->bc2_sqrt);
    const __m512 eps = _mm512_set1_ps(s->eps);
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 k = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        __m512 pv = _mm512_maskz_loadu_ps(k, p + i), mv = _mm512_maskz_loadu_ps(k, m + i);
        __m512 vv = _mm512_maskz_loadu_ps(k, v + i), gv = _mm512_maskz_loadu_ps(k, g + i);
        pv = _mm512_mul_ps(pv, decay);                                              /* A1 */
        mv = _mm512_add_ps(mv, _mm512_mul_ps(w1, _mm512_sub_ps(gv, mv)));           /* A2 */
        vv = _mm512_add_ps(_mm512_mul_ps(vv, beta2),
                           _mm512_mul_ps(_mm512_mul_ps(w2, gv), gv));               /* A3 */
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vv), bc2), eps);  /* A5 */
        pv = _mm512_sub_ps(pv, _mm512_mul_ps(step, _mm512_div_ps(mv, denom)));
        _mm512_mask_storeu_ps(p + i, k, pv);
        _mm512_mask_storeu_ps(m + i, k, mv);
        _mm512_mask_storeu_ps(v + i, k, vv);
    }
}
const dsv4_adamw_kernels dsv4_adamw_kernels_avx512 = {adamw_avx512};
#endif
