/* sparse_attn_kernels.h - the kernel table of sparse attention in opt/ (one
 * instance per ISA: sparse_attn_scalar.c, and sparse_attn_simd.c compiled
 * for AVX2 and AVX-512; opt/sparse_attn.c drives them).
 *
 * The kernels work on one unit: a token and a group of nh of its heads,
 * whose arrays have hp columns (nh rounded up to `lanes`, the extra columns
 * being padding whose values are never used).  Every result element is
 * formed by one fixed sequence of operations that depends on nothing but
 * its own inputs (spec/sparse_attn.md §4):
 *  - a logit: an FMA chain over d ascending from 0, rounded, then one
 *    product with scale;
 *  - the softmax of a block: the maximum, exponentials with the bits of
 *    dsv4_expf, the running sum W = RN(W * alpha) then + p_j one at a time
 *    in key order;
 *  - an output channel: RN(O * alpha) (or 0 for the first block), then an
 *    FMA chain over the block's keys in order.
 * So the bits do not depend on the ISA, the group a head falls in, its
 * column, or the padding. */
#ifndef DSV4_SPARSE_ATTN_KERNELS_H
#define DSV4_SPARSE_ATTN_KERNELS_H

#include "opt.h"

#include <stddef.h>

enum {
    DSV4_ATTN_BLOCK = 64,   /* valid keys per block of the online softmax */
    DSV4_ATTN_ROW_PAD = 32, /* row pointers (and rows of s) a kernel may read past nk */
};

/* qt [D, hp]: qt[d][h] = q[h][d] for h < nh (q's rows ldq apart), 0 for
 * the padding columns. */
typedef void (*dsv4_attn_transpose_fn)(const float *q, size_t ldq, size_t nh, size_t D, size_t hp,
                                       float *qt);

/* s [nk, hp]: s[j][h] = RN(RN(sum_d rows[j][d] * qt[d][h]) * scale), the sum
 * an FMA chain over d ascending.  The kernel may compute rows nk .. nk +
 * DSV4_ATTN_ROW_PAD - 1 as well: rows[] holds valid pointers there (the
 * driver points them at a row of zeros past the last key) and s has room. */
typedef void (*dsv4_attn_logits_fn)(const float *qt, size_t hp, const float *const *rows,
                                    size_t nk, size_t D, float scale, float *s);

/* One block of the online softmax, per column h < hp: m' = max(m, max_j
 * s[j][h]), alpha[h] = e^(m - m'), s[j][h] = p_j = e^(s[j][h] - m'), w =
 * RN(w * alpha) then w = RN(w + p_j) for j ascending, m = m'; bad[h]
 * becomes NaN once a logit of the column is not finite.  m, w, bad,
 * alpha: [hp]; nk >= 1. */
typedef void (*dsv4_attn_softmax_fn)(float *s, size_t nk, size_t hp, float *m, float *w,
                                     float *bad, float *alpha);

/* O [nh, D] (rows D apart; rows up to hp may be written): for each h < nh
 * and i < D, O[h][i] = (first ? 0 : RN(O[h][i] * alpha[h])), then for j <
 * nk in order O[h][i] = fma(p[j][h], rows[j][i], O[h][i]).  p [nk, hp]. */
typedef void (*dsv4_attn_accumulate_fn)(float *O, size_t nh, size_t D, const float *p, size_t hp,
                                        const float *alpha, int first, const float *const *rows,
                                        size_t nk);

/* out [D] = bf16(RN(O[i] * f)), NaN as bf16's canonical NaN. */
typedef void (*dsv4_attn_finish_fn)(const float *O, size_t D, float f, float *out);

typedef struct dsv4_attn_kernels {
    size_t lanes; /* hp is a multiple of it */
    dsv4_attn_transpose_fn transpose_q;
    dsv4_attn_logits_fn logits;
    dsv4_attn_softmax_fn softmax;
    dsv4_attn_accumulate_fn accumulate;
    dsv4_attn_finish_fn finish;
} dsv4_attn_kernels;

extern const dsv4_attn_kernels dsv4_attn_kernels_scalar;
#if defined(__x86_64__)
extern const dsv4_attn_kernels dsv4_attn_kernels_avx2;
extern const dsv4_attn_kernels dsv4_attn_kernels_avx512;
#endif

#endif
