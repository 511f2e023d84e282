/* sparse_attn.h - what ref/sparse_attn.c shares with opt/ (not installed):
 * the argument check and the last step of a row (spec/sparse_attn.md), so
 * that both implementations give the same statuses and the same special
 * values. */
#ifndef DSV4_SPARSE_ATTN_H
#define DSV4_SPARSE_ATTN_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* The checks both implementations make, in this order: cfg not NULL
 * (DSV4_E_NULL); n_heads and head_dim >= 1 and a finite scale
 * (DSV4_E_ARG); T*H*D, N*D and T*K elements, and their bytes, within size_t
 * (DSV4_E_OVERFLOW); then, unless T = 0, the pointers the call reads or
 * writes (DSV4_E_NULL): q, sink and o always, kv when N > 0, idx when K > 0. */
dsv4_status dsv4_sparse_attn_check(const dsv4_sparse_attn_cfg *cfg, size_t T, size_t N, size_t K,
                                   const float *q, const float *kv, const float *sink,
                                   const int32_t *idx, const float *o);

/* 1 when entry v of an index list names a row of kv [N, D]. */
static inline int dsv4_sparse_attn_valid(int32_t v, size_t N) {
    return v >= 0 && (uint64_t)v < (uint64_t)N;
}

/* The factor that turns a row's unnormalised output into o (A4 of the
 * spec), given its largest logit m, the sum W of e^(l_j - m) (W >= 1) and
 * the sink s: c / (c W + e^(s - M)) with M = max(m, s) and c = e^(m - M),
 * in double.  NaN for a NaN sink, +0 for s = +Inf. */
double dsv4_sparse_attn_factor(double m, double W, float sink);

#endif
