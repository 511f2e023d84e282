/* adamw.c - the AdamW step of spec/muon.md §3 (PyTorch's single-tensor
 * order, decoupled weight decay, bias correction, eps added after the
 * bias-corrected square root). */
#include "internal.h"

#include <math.h>

/* x^t for t >= 1 by repeated double multiplication (no libm pow). */
static double power(double x, long t) {
    double p = 1.0;
    for (long i = 0; i < t; i++) p = p * x;
    return p;
}

dsv4_adamw_scalars dsv4_adamw_scalars_of(const dsv4_adamw_cfg *cfg, long t) {
    dsv4_adamw_scalars s;
    s.decay = (float)(1.0 - cfg->lr * cfg->weight_decay);
    s.w1 = (float)(1.0 - cfg->beta1);
    s.beta2 = (float)cfg->beta2;
    s.w2 = (float)(1.0 - cfg->beta2);
    s.step = (float)(cfg->lr / (1.0 - power(cfg->beta1, t)));
    s.bc2_sqrt = (float)sqrt(1.0 - power(cfg->beta2, t));
    s.eps = (float)cfg->eps;
    return s;
}

dsv4_status dsv4_adamw_check(const dsv4_adamw_cfg *cfg, long step, size_t n, const float *g,
                             const float *p, const float *m, const float *v) {
    if (!cfg) return DSV4_E_NULL;
    if (step < 1 || !isfinite(cfg->lr) || !(cfg->beta1 >= 0.0 && cfg->beta1 < 1.0) ||
        !(cfg->beta2 >= 0.0 && cfg->beta2 < 1.0) || !(cfg->eps >= 0.0) || !isfinite(cfg->eps) ||
        !isfinite(cfg->weight_decay))
        return DSV4_E_ARG;
    if (n != 0 && (!p || !m || !v || !g)) return DSV4_E_NULL;
    return DSV4_OK;
}

/* A1-A5 on elements [0, n). */
void dsv4_adamw_range(const dsv4_adamw_scalars *s, float *p, float *m, float *v, const float *g,
                      size_t n) {
    for (size_t i = 0; i < n; i++) {
        p[i] = p[i] * s->decay;                                 /* A1 */
        m[i] = m[i] + s->w1 * (g[i] - m[i]);                    /* A2 */
        v[i] = v[i] * s->beta2 + (s->w2 * g[i]) * g[i];         /* A3 */
        float denom = sqrtf(v[i]) / s->bc2_sqrt + s->eps;       /* A5 */
        p[i] = p[i] - s->step * (m[i] / denom);
    }
}

dsv4_status dsv4_ref_adamw_step(const dsv4_adamw_cfg *cfg, long step, size_t n, const float *g,
                                float *p, float *m, float *v) {
    dsv4_status st = dsv4_adamw_check(cfg, step, n, g, p, m, v);
    if (st != DSV4_OK || n == 0) return st;
    dsv4_adamw_scalars s = dsv4_adamw_scalars_of(cfg, step);
    dsv4_adamw_range(&s, p, m, v, g, n);
    return DSV4_OK;
}
