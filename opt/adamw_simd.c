/* adamw_simd.c - the AdamW kernel written once over the vector layer
 * (vec.h), compiled once per ISA by adamw_avx2.c and adamw_avx512.c: ref's
 * operations in ref's order (plain multiplies, adds and subtracts, IEEE sqrt
 * and division, no FMA), lane by lane, so the bits equal ref's. */
#include "vec.h"

#include "adamw_kernels.h"

/* The step's scalars, broadcast once per call. */
typedef struct vscalars {
    vf decay, w1, beta2, w2, step, bc2_sqrt, eps;
} vscalars;

/* Steps A1-A5 on elements [0, n) of the arrays, n <= VEC_W. */
VEC_INLINE void adamw_vec(const vscalars *s, float *p, float *m, float *v, const float *g,
                          size_t n) {
    vf pv = vf_load_n(p, n), mv = vf_load_n(m, n), vv = vf_load_n(v, n), gv = vf_load_n(g, n);
    pv = vf_mul(pv, s->decay);                                                /* A1 */
    mv = vf_add(mv, vf_mul(s->w1, vf_sub(gv, mv)));                           /* A2 */
    vv = vf_add(vf_mul(vv, s->beta2), vf_mul(vf_mul(s->w2, gv), gv));         /* A3 */
    vf denom = vf_add(vf_div(vf_sqrt(vv), s->bc2_sqrt), s->eps);              /* A5 */
    pv = vf_sub(pv, vf_mul(s->step, vf_div(mv, denom)));
    vf_store_n(p, pv, n);
    vf_store_n(m, mv, n);
    vf_store_n(v, vv, n);
}

static void adamw(const dsv4_adamw_scalars *s, float *p, float *m, float *v, const float *g,
                  size_t n) {
    const vscalars c = {vf_set1(s->decay), vf_set1(s->w1),   vf_set1(s->beta2),
                        vf_set1(s->w2),    vf_set1(s->step), vf_set1(s->bc2_sqrt),
                        vf_set1(s->eps)};
    size_t i = 0;
    for (; i + VEC_W <= n; i += VEC_W) adamw_vec(&c, p + i, m + i, v + i, g + i, VEC_W);
    if (i < n) adamw_vec(&c, p + i, m + i, v + i, g + i, n - i);
}

const dsv4_adamw_kernels VEC_NAME(dsv4_adamw_kernels) = {adamw};
