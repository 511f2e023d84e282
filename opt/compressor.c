/* compressor.c - the optimized KV compressor (spec/compressor.md §8): the
 * projections (C1) by the packed SGEMM, which is where the time goes; the
 * pooling, the state and (C3)-(C5) are ref's shared functions, so opt
 * differs from ref only through the SGEMM's order of summation (within the
 * project tolerance), and never with the thread count. */
#include "opt.h"

#include <stdint.h>

/* kv = x wkv^T and score = x wgate^T + ape[(pos + t) mod r]  (C1a, C1b). */
dsv4_status dsv4_opt_compress_project(const dsv4_compressor_cfg *cfg,
                                      const dsv4_compressor_weights *w, int64_t pos, size_t T,
                                      const float *x, float *kv, float *score) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    dsv4_status st = dsv4_compressor_check(cfg, NULL);
    if (st != DSV4_OK) return st;
    if (pos < 0 || pos > INT32_MAX) return DSV4_E_ARG;
    if (T == 0) return DSV4_OK;
    if (!w || !w->wkv || !w->wgate || !w->ape || !x || !kv || !score) return DSV4_E_NULL;
    size_t cols = (cfg->ratio == 4 ? 2 : 1) * cfg->head_dim, dim = cfg->dim;
    st = dsv4_opt_sgemm(0, 1, T, cols, dim, 1.0f, x, dim, w->wkv, dim, 0.0f, kv, cols);
    if (st == DSV4_OK)
        st = dsv4_opt_sgemm(0, 1, T, cols, dim, 1.0f, x, dim, w->wgate, dim, 0.0f, score, cols);
    for (size_t t = 0; st == DSV4_OK && t < T; t++) {
        const float *ape = w->ape + ((uint64_t)pos + t) % cfg->ratio * cols; /* [cols] */
        for (size_t o = 0; o < cols; o++) score[t * cols + o] = score[t * cols + o] + ape[o];
    }
    return st;
}

dsv4_status dsv4_opt_compress(const dsv4_compressor_cfg *cfg, const dsv4_compressor_weights *w,
                              size_t T, const float *x, dsv4_compressor_state *state,
                              float *entries) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    return dsv4_compress_with(dsv4_opt_compress_project, cfg, w, T, x, state, entries);
}
