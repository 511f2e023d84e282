/* mhc.c - Manifold-Constrained Hyper-Connections (spec/mhc.md): hc_pre,
 * Sinkhorn-Knopp, hc_post, hc_head.  One function per stage, in the spec's
 * order; every sum runs left to right; ref is compiled with
 * -ffp-contract=off, so each * and + is rounded to fp32 on its own.  The RMS
 * factor (H1) is RMSNorm's, dsv4_rms_factor of ref/norm.c. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- argument checks ------------------------------------------------------ */
static int eps_ok(float e) { return e >= 0.0f && e < INFINITY; } /* also rejects NaN */

/* Validates cfg and T; gives K = hc*d and T*K (both overflow-checked). */
static dsv4_status mhc_check(const dsv4_mhc_cfg *cfg, size_t T, size_t *K) {
    size_t tk;
    if (!cfg) return DSV4_E_NULL;
    if (cfg->hc == 0 || cfg->d == 0 || cfg->sinkhorn_iters < 1) return DSV4_E_ARG;
    if (!eps_ok(cfg->hc_eps) || !eps_ok(cfg->norm_eps)) return DSV4_E_ARG;
    if (!dsv4_mul_ok(cfg->hc, cfg->d, K) || !dsv4_mul_ok(T, *K, &tk)) return DSV4_E_OVERFLOW;
    size_t m = (2 + cfg->hc), mk;
    if (!dsv4_mul_ok(m, cfg->hc, &m) || !dsv4_mul_ok(m, *K, &mk)) return DSV4_E_OVERFLOW;
    return DSV4_OK;
}

dsv4_status dsv4_mhc_check(const dsv4_mhc_cfg *cfg, size_t T, size_t *K) {
    return mhc_check(cfg, T, K);
}

dsv4_status dsv4_sinkhorn_check(const dsv4_sinkhorn_cfg *cfg, size_t T) {
    size_t nn, tnn;
    if (!cfg) return DSV4_E_NULL;
    if (cfg->n == 0 || cfg->iters < 1 || !eps_ok(cfg->eps)) return DSV4_E_ARG;
    if (!dsv4_mul_ok(cfg->n, cfg->n, &nn) || !dsv4_mul_ok(T, nn, &tnn)) return DSV4_E_OVERFLOW;
    return DSV4_OK;
}

/* ---- (H2) mixes ------------------------------------------------------------- */
/* x: [K], fn: [rows, K], mixes: [rows].  mixes_m = (sum_k x_k fn[m][k]) * r. */
static void hc_mixes_token(const float *x, const float *fn, size_t rows, size_t K, float r,
                           float *mixes) {
    for (size_t m = 0; m < rows; m++) {
        float raw = 0.0f;
        for (size_t k = 0; k < K; k++) raw = raw + x[k] * fn[m * K + k];
        mixes[m] = raw * r;
    }
}

/* ---- (H3) split ------------------------------------------------------------- */
/* mixes: [(2+hc)*hc] -> pre [hc], post [hc], logits [hc, hc]. */
static void hc_split_token(const float *mixes, const float *scale, const float *base, size_t hc,
                           float hc_eps, float *pre, float *post, float *logits) {
    for (size_t j = 0; j < hc; j++) {
        pre[j] = dsv4_sigmoidf(mixes[j] * scale[0] + base[j]) + hc_eps;
        post[j] = 2.0f * dsv4_sigmoidf(mixes[hc + j] * scale[1] + base[hc + j]);
    }
    for (size_t q = 0; q < hc * hc; q++)
        logits[q] = mixes[2 * hc + q] * scale[2] + base[2 * hc + q];
}

/* hc_head's gates: w_j = sigmoid(mixes_j * scale + base_j) + hc_eps.  [hc] */
static void hc_head_weights_token(const float *mixes, float scale, const float *base, size_t hc,
                                  float hc_eps, float *w) {
    for (size_t j = 0; j < hc; j++) w[j] = dsv4_sigmoidf(mixes[j] * scale + base[j]) + hc_eps;
}

/* ---- (S1)-(S3) Sinkhorn-Knopp on one n x n matrix ---------------------------- */
/* (S1) row softmax with the row maximum subtracted, then + eps.  L, c: [n, n]. */
static void sinkhorn_softmax_rows(const float *L, size_t n, float eps, float *c) {
    for (size_t j = 0; j < n; j++) {
        const float *row = &L[j * n];
        float mx = row[0];
        for (size_t k = 1; k < n; k++) mx = row[k] > mx ? row[k] : mx;
        float s = 0.0f;
        for (size_t k = 0; k < n; k++) {
            c[j * n + k] = dsv4_expf(row[k] - mx);
            s = s + c[j * n + k];
        }
        for (size_t k = 0; k < n; k++) c[j * n + k] = c[j * n + k] / s + eps;
    }
}

/* Row step: every row divided by (its sum + eps).  c: [n, n]. */
static void sinkhorn_normalize_rows(float *c, size_t n, float eps) {
    for (size_t j = 0; j < n; j++) {
        float s = 0.0f;
        for (size_t k = 0; k < n; k++) s = s + c[j * n + k];
        float div = s + eps;
        for (size_t k = 0; k < n; k++) c[j * n + k] = c[j * n + k] / div;
    }
}

/* Column step: every column divided by (its sum + eps); all n sums are
 * taken before any division.  c: [n, n], colsum: [n] scratch. */
static void sinkhorn_normalize_cols(float *c, size_t n, float eps, float *colsum) {
    for (size_t k = 0; k < n; k++) {
        float s = 0.0f;
        for (size_t j = 0; j < n; j++) s = s + c[j * n + k];
        colsum[k] = s + eps;
    }
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < n; k++) c[j * n + k] = c[j * n + k] / colsum[k];
}

/* (S1), (S2): the row softmax and the first column step, L -> c [n, n]. */
static void sinkhorn_init_matrix(const float *L, const dsv4_sinkhorn_cfg *cfg, float *c,
                                 float *colsum) {
    sinkhorn_softmax_rows(L, cfg->n, cfg->eps, c);
    sinkhorn_normalize_cols(c, cfg->n, cfg->eps, colsum);
}

/* (S3) the iters - 1 further rounds of (row step, column step), in place on
 * c [n, n]. */
static void sinkhorn_iterate_matrix(float *c, const dsv4_sinkhorn_cfg *cfg, float *colsum) {
    for (int t = 1; t < cfg->iters; t++) {
        sinkhorn_normalize_rows(c, cfg->n, cfg->eps);
        sinkhorn_normalize_cols(c, cfg->n, cfg->eps, colsum);
    }
}

/* The whole procedure: S1, S2, then S3. */
static void sinkhorn_matrix(const float *L, const dsv4_sinkhorn_cfg *cfg, float *c,
                            float *colsum) {
    sinkhorn_init_matrix(L, cfg, c, colsum);
    sinkhorn_iterate_matrix(c, cfg, colsum);
}

/* ---- (H5) weighted sum -------------------------------------------------------- */

/* x: [hc, d], w: [hc] -> y: [d] = bf16(sum_j w_j x[j]). */
static void hc_weighted_sum_token(const float *x, const float *w, size_t hc, size_t d, float *y) {
    for (size_t i = 0; i < d; i++) {
        float acc = 0.0f;
        for (size_t j = 0; j < hc; j++) acc = acc + w[j] * x[j * d + i];
        y[i] = dsv4_round_bf16(acc);
    }
}

/* ---- public stage entry points ------------------------------------------------ */
dsv4_status dsv4_ref_hc_rms(const dsv4_mhc_cfg *cfg, size_t T, const float *x, float *r) {
    size_t K;
    dsv4_status st = mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!x || !r) return DSV4_E_NULL;
    for (size_t t = 0; t < T; t++)
        r[t] = dsv4_rms_factor(&x[t * K], K, cfg->norm_eps); /* H1 */
    return DSV4_OK;
}

dsv4_status dsv4_ref_hc_mixes(const dsv4_mhc_cfg *cfg, size_t T, size_t rows, const float *x,
                              const float *fn, const float *r, float *mixes) {
    size_t K, rk, tr;
    dsv4_status st = mhc_check(cfg, T, &K);
    if (st != DSV4_OK) return st;
    if (rows == 0) return DSV4_E_ARG;
    if (!dsv4_mul_ok(rows, K, &rk) || !dsv4_mul_ok(T, rows, &tr)) return DSV4_E_OVERFLOW;
    if (T == 0) return DSV4_OK;
    if (!x || !fn || !r || !mixes) return DSV4_E_NULL;
    for (size_t t = 0; t < T; t++) hc_mixes_token(&x[t * K], fn, rows, K, r[t], &mixes[t * rows]);
    return DSV4_OK;
}

dsv4_status dsv4_hc_split(const dsv4_mhc_cfg *cfg, size_t T, const float *mixes,
                          const float *scale, const float *base, float *pre, float *post,
                          float *logits) {
    size_t K, hc;
    dsv4_status st = mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!mixes || !scale || !base || !pre || !post || !logits) return DSV4_E_NULL;
    hc = cfg->hc;
    size_t rows = (2 + hc) * hc;
    for (size_t t = 0; t < T; t++)
        hc_split_token(&mixes[t * rows], scale, base, hc, cfg->hc_eps, &pre[t * hc], &post[t * hc],
                       &logits[t * hc * hc]);
    return DSV4_OK;
}

dsv4_status dsv4_hc_head_weights(const dsv4_mhc_cfg *cfg, size_t T, const float *mixes,
                                 const float *scale, const float *base, float *w) {
    size_t K, hc;
    dsv4_status st = mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!mixes || !scale || !base || !w) return DSV4_E_NULL;
    hc = cfg->hc;
    for (size_t t = 0; t < T; t++)
        hc_head_weights_token(&mixes[t * hc], scale[0], base, hc, cfg->hc_eps, &w[t * hc]);
    return DSV4_OK;
}

dsv4_status dsv4_ref_hc_weighted_sum(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                     const float *w, float *y) {
    size_t K;
    dsv4_status st = mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!x || !w || !y) return DSV4_E_NULL;
    for (size_t t = 0; t < T; t++)
        hc_weighted_sum_token(&x[t * K], &w[t * cfg->hc], cfg->hc, cfg->d, &y[t * cfg->d]);
    return DSV4_OK;
}

/* Sinkhorn (whole, or its first stage) on T matrices; out may equal logits
 * (each matrix is finished in scratch before it is stored). */
static dsv4_status sinkhorn_each(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                                 float *out, int whole) {
    dsv4_status st = dsv4_sinkhorn_check(cfg, T);
    if (st != DSV4_OK || T == 0) return st;
    if (!logits || !out) return DSV4_E_NULL;
    size_t n = cfg->n, nn = n * n;
    float *scratch = malloc(sizeof(float) * (nn + n)); /* one matrix + column sums */
    if (!scratch) return DSV4_E_NOMEM;
    for (size_t t = 0; t < T; t++) {
        sinkhorn_init_matrix(&logits[t * nn], cfg, scratch, scratch + nn);
        if (whole) sinkhorn_iterate_matrix(scratch, cfg, scratch + nn);
        memcpy(&out[t * nn], scratch, sizeof(float) * nn);
    }
    free(scratch);
    return DSV4_OK;
}

dsv4_status dsv4_ref_sinkhorn(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                              float *out) {
    return sinkhorn_each(cfg, T, logits, out, 1);
}

dsv4_status dsv4_ref_sinkhorn_init(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                                   float *out) {
    return sinkhorn_each(cfg, T, logits, out, 0);
}

dsv4_status dsv4_ref_sinkhorn_iterate(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *c,
                                      float *out) {
    dsv4_status st = dsv4_sinkhorn_check(cfg, T);
    if (st != DSV4_OK || T == 0) return st;
    if (!c || !out) return DSV4_E_NULL;
    size_t n = cfg->n, nn = n * n;
    float *colsum = malloc(sizeof(float) * n);
    if (!colsum) return DSV4_E_NOMEM;
    if (out != c) memmove(out, c, sizeof(float) * nn * T);
    for (size_t t = 0; t < T; t++) sinkhorn_iterate_matrix(&out[t * nn], cfg, colsum);
    free(colsum);
    return DSV4_OK;
}

/* ---- whole operators ------------------------------------------------------------ */
dsv4_status dsv4_ref_hc_pre(const dsv4_mhc_cfg *cfg, size_t T, const float *x, const float *fn,
                            const float *scale, const float *base, float *y, float *post,
                            float *comb, const dsv4_hc_pre_stages *stages) {
    size_t K;
    dsv4_status st = mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!x || !fn || !scale || !base || !y || !post || !comb) return DSV4_E_NULL;
    size_t hc = cfg->hc, rows = (2 + hc) * hc;
    const dsv4_sinkhorn_cfg sk = {hc, cfg->sinkhorn_iters, cfg->hc_eps};
    /* per-token scratch: mixes [rows], pre [hc], logits [hc*hc], column sums [hc] */
    float *scratch = malloc(sizeof(float) * (rows + hc + hc * hc + hc));
    if (!scratch) return DSV4_E_NOMEM;
    float *mixes = scratch, *pre = mixes + rows, *logits = pre + hc, *colsum = logits + hc * hc;
    for (size_t t = 0; t < T; t++) {
        const float *xt = &x[t * K];
        float r = dsv4_rms_factor(xt, K, cfg->norm_eps);                          /* H1 */
        hc_mixes_token(xt, fn, rows, K, r, mixes);                             /* H2 */
        hc_split_token(mixes, scale, base, hc, cfg->hc_eps, pre, &post[t * hc], logits); /* H3 */
        sinkhorn_matrix(logits, &sk, &comb[t * hc * hc], colsum);              /* H4 */
        hc_weighted_sum_token(xt, pre, hc, cfg->d, &y[t * cfg->d]);            /* H5 */
        if (stages) {
            if (stages->r) stages->r[t] = r;
            if (stages->mixes) memcpy(&stages->mixes[t * rows], mixes, sizeof(float) * rows);
            if (stages->pre) memcpy(&stages->pre[t * hc], pre, sizeof(float) * hc);
            if (stages->logits) memcpy(&stages->logits[t * hc * hc], logits, sizeof(float) * hc * hc);
        }
    }
    free(scratch);
    return DSV4_OK;
}

/* out[k][i] = bf16(post_k f_i + sum_j comb[j][k] x[j][i]).  Per token:
 * f [d], x [hc, d], post [hc], comb [hc, hc], out [hc, d]. */
static void hc_post_token(const float *f, const float *x, const float *post, const float *comb,
                          size_t hc, size_t d, float *out) {
    for (size_t k = 0; k < hc; k++)
        for (size_t i = 0; i < d; i++) {
            float mix = 0.0f;
            for (size_t j = 0; j < hc; j++) mix = mix + comb[j * hc + k] * x[j * d + i];
            out[k * d + i] = dsv4_round_bf16(post[k] * f[i] + mix);
        }
}

dsv4_status dsv4_ref_hc_post(const dsv4_mhc_cfg *cfg, size_t T, const float *f, const float *x,
                             const float *post, const float *comb, float *out) {
    size_t K;
    dsv4_status st = mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!f || !x || !post || !comb || !out) return DSV4_E_NULL;
    size_t hc = cfg->hc, d = cfg->d;
    for (size_t t = 0; t < T; t++)
        hc_post_token(&f[t * d], &x[t * K], &post[t * hc], &comb[t * hc * hc], hc, d, &out[t * K]);
    return DSV4_OK;
}

dsv4_status dsv4_ref_hc_head(const dsv4_mhc_cfg *cfg, size_t T, const float *x, const float *fn,
                             const float *scale, const float *base, float *y,
                             const dsv4_hc_head_stages *stages) {
    size_t K;
    dsv4_status st = mhc_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!x || !fn || !scale || !base || !y) return DSV4_E_NULL;
    size_t hc = cfg->hc;
    float *scratch = malloc(sizeof(float) * 2 * hc); /* mixes [hc], w [hc] */
    if (!scratch) return DSV4_E_NOMEM;
    float *mixes = scratch, *w = scratch + hc;
    for (size_t t = 0; t < T; t++) {
        const float *xt = &x[t * K];
        float r = dsv4_rms_factor(xt, K, cfg->norm_eps);                          /* H1 */
        hc_mixes_token(xt, fn, hc, K, r, mixes);
        hc_head_weights_token(mixes, scale[0], base, hc, cfg->hc_eps, w);
        hc_weighted_sum_token(xt, w, hc, cfg->d, &y[t * cfg->d]);
        if (stages) {
            if (stages->r) stages->r[t] = r;
            if (stages->mixes) memcpy(&stages->mixes[t * hc], mixes, sizeof(float) * hc);
            if (stages->w) memcpy(&stages->w[t * hc], w, sizeof(float) * hc);
        }
    }
    free(scratch);
    return DSV4_OK;
}
