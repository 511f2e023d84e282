/* indexer.c - the optimized lightning indexer (spec/indexer.md §7): the
 * projections (I1, I5) by the packed SGEMM, then ref's roundings; the query
 * stages (I2-I4) are ref's shared functions; the scores and the selection
 * are exact functions of their inputs, computed here as ref computes them.
 * Results never depend on the thread count. */
#include "opt.h"

#include <stdlib.h>

/* out [T, n] = bf16(a [T, k] . b [n, k]^T), the sums by the packed SGEMM. */
static dsv4_status linear_bf16(size_t T, size_t n, size_t k, const float *a, const float *b,
                               float *out) {
    dsv4_status st = dsv4_opt_sgemm(0, 1, T, n, k, 1.0f, a, k, b, k, 0.0f, out, n);
    for (size_t i = 0; st == DSV4_OK && i < T * n; i++) out[i] = dsv4_round_bf16(out[i]);
    return st;
}

dsv4_status dsv4_opt_indexer_project(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w,
                                     size_t T, const float *qr, float *q) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    dsv4_status st = dsv4_indexer_check(cfg);
    if (st != DSV4_OK) return st;
    if (T == 0) return DSV4_OK;
    if (!w || !w->wq_b || !qr || !q) return DSV4_E_NULL;
    size_t width = cfg->n_heads * cfg->head_dim, n;
    if (!dsv4_mul_ok(T, width, &n) || !dsv4_mul_ok(T, cfg->q_lora, &n)) return DSV4_E_OVERFLOW;
    const float *a;
    float *owned;
    st = dsv4_indexer_activation(cfg, T, qr, &a, &owned);
    if (st == DSV4_OK) st = linear_bf16(T, width, cfg->q_lora, a, w->wq_b, q);   /* (I1) */
    free(owned);
    return st;
}

dsv4_status dsv4_opt_indexer_weights(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w,
                                     size_t T, const float *x, float *wts) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    dsv4_status st = dsv4_indexer_check(cfg);
    if (st != DSV4_OK) return st;
    if (T == 0) return DSV4_OK;
    if (!w || !w->weights_proj || !x || !wts) return DSV4_E_NULL;
    size_t n;
    if (!dsv4_mul_ok(T, cfg->dim, &n) || !dsv4_mul_ok(T, cfg->n_heads, &n)) return DSV4_E_OVERFLOW;
    st = linear_bf16(T, cfg->n_heads, cfg->dim, x, w->weights_proj, wts);
    float c = dsv4_indexer_weight_scale(cfg);
    for (size_t i = 0; st == DSV4_OK && i < T * cfg->n_heads; i++)
        wts[i] = dsv4_round_bf16(wts[i] * c);                                    /* (I5) */
    return st;
}

dsv4_status dsv4_opt_indexer_scores(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t E,
                                    const float *q, const float *k, const float *wts, float *s) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    return dsv4_ref_indexer_scores(cfg, pos, T, E, q, k, wts, s);
}

dsv4_status dsv4_opt_indexer_topk(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t E,
                                  const float *s, int32_t *idx, int32_t *kv) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    return dsv4_ref_indexer_topk(cfg, pos, T, E, s, idx, kv);
}

dsv4_status dsv4_opt_indexer(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w,
                             int64_t pos, size_t T, size_t E, const float *qr, const float *x,
                             const float *k, int32_t *idx, int32_t *kv) {
    static const dsv4_indexer_impl opt = {dsv4_opt_indexer_project, dsv4_opt_indexer_weights,
                                          dsv4_opt_indexer_scores, dsv4_opt_indexer_topk};
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    return dsv4_indexer_with(&opt, cfg, w, pos, T, E, qr, x, k, idx, kv);
}
