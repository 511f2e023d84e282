/* mhc_bf16.c - mHC on V4's bf16 storage of the residual stream
 * (spec/mhc.md §2.1): hc_pre, hc_post and hc_head with x, f and the bf16
 * outputs as bf16 codes.  Widening a bf16 code to fp32 is exact and every
 * output these operators round is rounded to bf16 by the operator itself,
 * so each is its fp32 form on the widened inputs with the outputs stored as
 * codes: no new rounding.  ref runs them that way, a block of tokens at a
 * time so the scratch stays small; opt does too when its ISA has no kernels
 * that read the codes directly. */
#include "internal.h"

#include <stdlib.h>

enum { BLOCK_TOKENS = 64 }; /* tokens widened at a time: 4 MiB of x at V4-Flash sizes */

/* Widening codes to fp32 is dsv4_ref_decode (exact); storing the outputs,
 * bf16 values already, is dsv4_ref_encode (exact; NaN 0x7FC0). */

/* Scratch of `per_token` floats for each of the first min(T, BLOCK_TOKENS)
 * tokens; *block gets that token count.  NULL when it cannot be had. */
static float *block_scratch(size_t T, size_t per_token, size_t *block) {
    size_t floats;
    *block = T < BLOCK_TOKENS ? T : BLOCK_TOKENS;
    if (!dsv4_mul_ok(*block, per_token, &floats) || floats > SIZE_MAX / sizeof(float)) return NULL;
    return malloc(floats * sizeof(float));
}

/* stages advanced to token lo (NULL pointers stay NULL). */
static dsv4_hc_pre_stages pre_stages_from(const dsv4_hc_pre_stages *s, size_t lo, size_t hc,
                                          size_t rows) {
    dsv4_hc_pre_stages out = {0};
    if (!s) return out;
    out.r = s->r ? s->r + lo : NULL;
    out.mixes = s->mixes ? s->mixes + lo * rows : NULL;
    out.pre = s->pre ? s->pre + lo * hc : NULL;
    out.logits = s->logits ? s->logits + lo * hc * hc : NULL;
    return out;
}

static dsv4_hc_head_stages head_stages_from(const dsv4_hc_head_stages *s, size_t lo, size_t hc) {
    dsv4_hc_head_stages out = {0};
    if (!s) return out;
    out.r = s->r ? s->r + lo : NULL;
    out.mixes = s->mixes ? s->mixes + lo * hc : NULL;
    out.w = s->w ? s->w + lo * hc : NULL;
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
    size_t hc = cfg->hc, d = cfg->d, rows = (2 + hc) * hc, block;
    float *xf = block_scratch(T, K + d, &block); /* x [block, K], then y [block, d] */
    if (!xf) return DSV4_E_NOMEM;
    float *yf = xf + block * K;
    for (size_t lo = 0; lo < T && st == DSV4_OK; lo += block) {
        size_t n = T - lo < block ? T - lo : block;
        dsv4_hc_pre_stages s = pre_stages_from(stages, lo, hc, rows);
        st = dsv4_ref_decode(DSV4_FMT_BF16, n * K, &x[lo * K], xf);
        if (st == DSV4_OK)
            st = pre(cfg, n, xf, fn, scale, base, yf, &post[lo * hc], &comb[lo * hc * hc],
                     stages ? &s : NULL);
        if (st == DSV4_OK) st = dsv4_ref_encode(DSV4_FMT_BF16, n * d, yf, &y[lo * d]);
    }
    free(xf);
    return st;
}

dsv4_status dsv4_hc_post_bf16_widened(dsv4_hc_post_fn post_op, const dsv4_mhc_cfg *cfg, size_t T,
                                      const uint16_t *f, const uint16_t *x, const float *post,
                                      const float *comb, uint16_t *out) {
    size_t K;
    dsv4_status st = dsv4_mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!f || !x || !post || !comb || !out) return DSV4_E_NULL;
    size_t hc = cfg->hc, d = cfg->d, block;
    float *ff = block_scratch(T, d + 2 * K, &block); /* f [block, d], x and out [block, K] */
    if (!ff) return DSV4_E_NOMEM;
    float *xf = ff + block * d, *of = xf + block * K;
    for (size_t lo = 0; lo < T && st == DSV4_OK; lo += block) {
        size_t n = T - lo < block ? T - lo : block;
        st = dsv4_ref_decode(DSV4_FMT_BF16, n * d, &f[lo * d], ff);
        if (st == DSV4_OK) st = dsv4_ref_decode(DSV4_FMT_BF16, n * K, &x[lo * K], xf);
        if (st == DSV4_OK) st = post_op(cfg, n, ff, xf, &post[lo * hc], &comb[lo * hc * hc], of);
        if (st == DSV4_OK) st = dsv4_ref_encode(DSV4_FMT_BF16, n * K, of, &out[lo * K]);
    }
    free(ff);
    return st;
}

dsv4_status dsv4_hc_head_bf16_widened(dsv4_hc_head_fn head, const dsv4_mhc_cfg *cfg, size_t T,
                                      const uint16_t *x, const float *fn, const float *scale,
                                      const float *base, uint16_t *y,
                                      const dsv4_hc_head_stages *stages) {
    size_t K;
    dsv4_status st = dsv4_mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!x || !fn || !scale || !base || !y) return DSV4_E_NULL;
    size_t hc = cfg->hc, d = cfg->d, block;
    float *xf = block_scratch(T, K + d, &block); /* x [block, K], then y [block, d] */
    if (!xf) return DSV4_E_NOMEM;
    float *yf = xf + block * K;
    for (size_t lo = 0; lo < T && st == DSV4_OK; lo += block) {
        size_t n = T - lo < block ? T - lo : block;
        dsv4_hc_head_stages s = head_stages_from(stages, lo, hc);
        st = dsv4_ref_decode(DSV4_FMT_BF16, n * K, &x[lo * K], xf);
        if (st == DSV4_OK) st = head(cfg, n, xf, fn, scale, base, yf, stages ? &s : NULL);
        if (st == DSV4_OK) st = dsv4_ref_encode(DSV4_FMT_BF16, n * d, yf, &y[lo * d]);
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

dsv4_status dsv4_ref_hc_post_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *f,
                                  const uint16_t *x, const float *post, const float *comb,
                                  uint16_t *out) {
    return dsv4_hc_post_bf16_widened(dsv4_ref_hc_post, cfg, T, f, x, post, comb, out);
}

dsv4_status dsv4_ref_hc_head_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *x,
                                  const float *fn, const float *scale, const float *base,
                                  uint16_t *y, const dsv4_hc_head_stages *stages) {
    return dsv4_hc_head_bf16_widened(dsv4_ref_hc_head, cfg, T, x, fn, scale, base, y, stages);
}
