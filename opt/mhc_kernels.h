/* mhc_kernels.h - the kernel table of mHC in opt/ (one instance per ISA:
 * mhc_scalar.c, mhc_avx2.c, mhc_avx512.c; opt/mhc.c picks one per call) and
 * the vector expf of elementary_avx2.c / elementary_avx512.c.
 *
 * What is bit-exact with ref/mhc.c and what is not (spec/mhc.md §7):
 *  - sinkhorn, weighted_sum, post, expf: the operations of ref, in ref's
 *    order, one rounding each (no FMA), lane by lane.  The SIMD files put one
 *    token (Sinkhorn) or one channel i (weighted_sum, post) in each lane.
 *  - sumsq and mixes: sums with FMA in an order of their own, which depends
 *    only on K (never on the number of tokens of a call or the thread
 *    count): within the spec's tolerance of ref.
 * A NULL entry means "no kernel of this ISA": opt/mhc.c then runs ref's code
 * for the stage (sinkhorn, weighted_sum, post) or dsv4_opt_sgemm (mixes). */
#ifndef DSV4_MHC_KERNELS_H
#define DSV4_MHC_KERNELS_H

#include "opt.h"

#include <stddef.h>

/* Sum of x_k^2 over one token x [K]. */
typedef float (*dsv4_sumsq_fn)(const float *x, size_t K);

/* raw[t, m] = sum_k x[t, k] * fn[m, k] for t < ntok, m < rows.
 * x [ntok, K], fn [rows, K], raw [ntok, rows].  ntok <= DSV4_MHC_MIX_TOKENS.
 * sumsq: NULL, or [ntok] receiving the same bits as the sumsq kernel gives
 * (computed on the way, while x streams through).  scratch: ntok *
 * mixes_scratch floats at a 64-byte boundary, where the partial sums wait
 * between k-blocks. */
typedef void (*dsv4_mixes_fn)(const float *x, size_t ntok, size_t K, const float *fn,
                              size_t rows, float *raw, float *sumsq, float *scratch);

/* Sinkhorn on ntok matrices [n, n]: when `softmax`, first the row softmax
 * (S1) and one column step (S2); then `rounds` (row step, column step)
 * rounds (S3).  in, out [ntok, n, n]; out may equal in.  scratch holds
 * (n*n + n) * lanes floats. */
typedef void (*dsv4_sinkhorn_fn)(size_t n, int softmax, int rounds, float eps, size_t ntok,
                                 const float *in, float *out, float *scratch);

/* One token: y [d] = bf16(sum_j w_j x[j]); x [hc, d], w [hc]. */
typedef void (*dsv4_wsum_fn)(const float *x, const float *w, size_t hc, size_t d, float *y);

/* One token: out[k][i] = bf16(post_k f_i + sum_j comb[j][k] x[j][i]).
 * f [d], x [hc, d], post [hc], comb [hc, hc], out [hc, d]. */
typedef void (*dsv4_post_fn)(const float *f, const float *x, const float *post,
                             const float *comb, size_t hc, size_t d, float *out);

/* y[i] = dsv4_expf(x[i]) for i < n (y may equal x). */
typedef void (*dsv4_expf_array_fn)(const float *x, float *y, size_t n);

typedef struct dsv4_mhc_kernels {
    dsv4_sumsq_fn sumsq;
    dsv4_mixes_fn mixes;        /* NULL: dsv4_opt_sgemm */
    size_t mixes_scratch;       /* floats of mixes scratch per token */
    dsv4_sinkhorn_fn sinkhorn;  /* NULL: ref */
    size_t sinkhorn_lanes;      /* tokens per vector (scratch size) */
    dsv4_wsum_fn weighted_sum;  /* NULL: ref */
    dsv4_post_fn post;          /* NULL: ref */
    dsv4_expf_array_fn expf_array;
} dsv4_mhc_kernels;

/* Tokens the driver hands a mixes kernel at most (one pool task).  Each
 * call reads all of fn (1.5 MiB at V4-Flash sizes), so fewer, larger calls
 * read less: at T = 128 and 256 on two threads, 64 tokens a call ran hc_pre
 * 3-5% faster than 32 (128 was no faster).  The partial sums live in the
 * driver's scratch (100 KiB per call of 64 tokens with AVX-512), not on the
 * stack of whichever thread runs the task. */
enum { DSV4_MHC_MIX_TOKENS = 64 };

extern const dsv4_mhc_kernels dsv4_mhc_kernels_scalar;
#if defined(__x86_64__)
extern const dsv4_mhc_kernels dsv4_mhc_kernels_avx2;
extern const dsv4_mhc_kernels dsv4_mhc_kernels_avx512;
#endif

/* The table of an ISA (the scalar one for an unsupported value). */
const dsv4_mhc_kernels *dsv4_mhc_kernels_for(dsv4_isa isa);

/* ---- vector expf (elementary_avx2.c, elementary_avx512.c) -----------------
 * dsv4_expf lane by lane: spec/elementary.md's steps E0-E4 in double, the
 * same multiplies and adds in the same order (no FMA), so the same bits. */
#if defined(__x86_64__) && defined(__AVX512F__)
#include <immintrin.h>
__m512 dsv4_expf_avx512(__m512 x);
#endif
#if defined(__x86_64__) && defined(__AVX2__)
#include <immintrin.h>
__m256 dsv4_expf_avx2(__m256 x);
#endif
#if defined(__x86_64__)
void dsv4_expf_array_avx2(const float *x, float *y, size_t n);
void dsv4_expf_array_avx512(const float *x, float *y, size_t n);
#endif

#endif
