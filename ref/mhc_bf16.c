/* mhc_bf16.c - hc_pre on V4's bf16 storage of the residual stream
 * (spec/mhc.md §2.1): x and y as bf16 codes.  Widening a bf16 code to fp32
 * is exact and y is rounded to bf16 by hc_pre itself, so the operator is
 * hc_pre on the widened x with y stored as codes: no new rounding.  ref
 * runs it that way, a block of tokens at a time so the scratch stays small;
 * opt does too when its ISA has no kernels that read the codes directly. */
#include "internal.h"

#include <stdlib.h>

enum { BLOCK_TOKENS = 64 }; /* tokens widened at a time: 4 MiB of x at V4-Flash sizes */

/* stages advanced to token lo (NULL pointers stay NULL). */
static dsv4_hc_pre_stages stages_from(const dsv4_hc_pre_stages *s, size_t lo, size_t hc,
                                      size_t rows) {
    dsv4_hc_pre_stages out = {0};
    if (!s) return out;
    out.r = s->r ? s->r + lo : NULL;
    out.mixes = s->mixes ? s->mixes + lo * rows : NULL;
    out.pre = s->pre ? s->pre + lo * hc : NULL;
    out.logits = s->logits ? s->logits + lo * hc * hc : NULL;
    return out;
}

dsv4_status dsv4_hc_pre_bf16_widened(dsv4_hc_pre_fn pre, const dsv4_mhc_cfg *cfg, size_t T,
                                     const uint16_t *x, const float *fn, const float *scale,
                                     const float *base, uint16_t *y, float *post, float *comb,
                                     const dsv4_hc_pre_stages *stages) {
    size_t K;
    dsv4_status st = dsv4_mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!x || !fn || !scale || !base || !y || !post || !comb) return DSV4_E_NULL;
    size_t hc = cfg->hc, d = cfg->d, rows = (2 + hc) * hc;
    size_t block = T < BLOCK_TOKENS ? T : BLOCK_TOKENS, xn, yn;
    if (!dsv4_mul_ok(block, K, &xn) || !dsv4_mul_ok(block, d, &yn) ||
        xn > SIZE_MAX / sizeof(float) - yn)
        return DSV4_E_NOMEM;
    float *xf = malloc((xn + yn) * sizeof(float)); /* x [block, K], then y [block, d] */
    if (!xf) return DSV4_E_NOMEM;
    float *yf = xf + xn;
    for (size_t lo = 0; lo < T && st == DSV4_OK; lo += block) {
        size_t n = T - lo < block ? T - lo : block;
        for (size_t i = 0; i < n * K; i++) xf[i] = dsv4_bf16_decode(x[lo * K + i]); /* exact */
        dsv4_hc_pre_stages s = stages_from(stages, lo, hc, rows);
        st = pre(cfg, n, xf, fn, scale, base, yf, &post[lo * hc], &comb[lo * hc * hc],
                 stages ? &s : NULL);
        for (size_t i = 0; i < n * d && st == DSV4_OK; i++)
            y[lo * d + i] = dsv4_bf16_encode(yf[i]); /* yf is bf16 already: exact */
    }
    free(xf);
    return st;
}

dsv4_status dsv4_ref_hc_pre_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *x,
                                 const float *fn, const float *scale, const float *base,
                                 uint16_t *y, float *post, float *comb,
                                 const dsv4_hc_pre_stages *stages) {
    return dsv4_hc_pre_bf16_widened(dsv4_ref_hc_pre, cfg, T, x, fn, scale, base, y, post, comb,
                                    stages);
}
