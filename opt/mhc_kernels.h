/* mhc_kernels.h - the kernel table of mHC in opt/ (one instance per ISA:
 * mhc_scalar.c, and mhc_simd.c compiled for AVX2 and AVX-512; opt/mhc.c
 * runs the active ISA's).
 *
 * What is bit-exact with ref/mhc.c and what is not (spec/mhc.md §7):
 *  - sinkhorn, weighted_sum, post: the operations of ref, in ref's
 *    order, one rounding each (no FMA), lane by lane.  mhc_simd.c puts one
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
#include <stdint.h>

/* The mixes GEMM goes by segments of DSV4_MHC_SEG terms of k.  A kernel
 * call sums one segment for every (token, row) in lane form, each lane over
 * its terms of the segment in ascending order, from zero; the segments are
 * then added lane by lane in ascending order (acc = seg 0, acc = acc +
 * seg 1, ...), and a fixed reduction of the lanes gives raw[t][m].  The sum
 * of squares of each token (hc_pre's rms) goes the same way, and the sumsq
 * kernel gives the same bits.  That order depends on K only: never on the
 * tokens of a call, the thread count, or which thread computed which
 * segment (opt/mhc.c lets an idle thread take the last segments of a busy
 * thread's chunk). */
enum { DSV4_MHC_SEG = 1024 };

/* Vectors per token in a mixes accumulator: rows rounded up to whole row
 * groups of the kernel's register tile (tile_rows), then one for the sum of
 * squares. */
static inline size_t dsv4_mhc_acc_rows(size_t rows, size_t tile_rows) {
    return (rows + tile_rows - 1) / tile_rows * tile_rows + 1;
}

/* The token tiles of one row group of a mixes segment: ntok / tt whole
 * tiles of tt tokens, then the last ntok % tt tokens one at a time, so
 * dsv4_mhc_tile_count(ntok, tt) tiles in all.  The i-th tile visited
 * starts at token *first and holds the returned number of tokens; with
 * `backward` the tiles are visited from the last to the first.  The
 * kernels go forward in even row groups and backward in odd ones, so each
 * group starts on the x lines the previous one read last, which are still
 * in L1 or L2.  Every (token, row) sum is its own, so the visiting order
 * changes no bit. */
static inline size_t dsv4_mhc_tile_count(size_t ntok, size_t tt) {
    return ntok / tt + ntok % tt;
}

static inline size_t dsv4_mhc_tile_at(size_t i, size_t ntok, size_t tt, int backward,
                                      size_t *first) {
    size_t full = ntok / tt, tile = backward ? dsv4_mhc_tile_count(ntok, tt) - 1 - i : i;
    *first = tile < full ? tile * tt : full * tt + (tile - full);
    return tile < full ? tt : 1;
}

/* Sum of x_k^2 over one token x [K]. */
typedef float (*dsv4_sumsq_fn)(const float *x, size_t K);

/* Segment `seg` (terms [seg * DSV4_MHC_SEG, min(K, (seg + 1) * DSV4_MHC_SEG)))
 * of x [ntok, K] . fn [rows, K]^T into acc [ntok][acc_rows] vectors of
 * mixes_lanes floats (acc_rows = dsv4_mhc_acc_rows(rows, mixes_tile_rows),
 * 64-byte aligned): with `fold` acc = acc + the segment's sums, else acc =
 * the segment's sums.  sq: also each token's sum of squares, in the last
 * vector of its row of acc.  ntok <= DSV4_MHC_MIX_TOKENS. */
typedef void (*dsv4_mixes_seg_fn)(const float *x, size_t ntok, size_t K, const float *fn,
                                  size_t rows, size_t seg, int fold, int sq, float *acc);

/* The same with x [ntok, K] given as bf16 codes (hc_pre_bf16): each code is
 * widened to fp32 exactly as it is loaded, so the sums are those of
 * mixes_seg on the widened x, bit for bit. */
typedef void (*dsv4_mixes_seg_bf16_fn)(const uint16_t *x, size_t ntok, size_t K, const float *fn,
                                       size_t rows, size_t seg, int fold, int sq, float *acc);

/* raw [ntok, rows] and, when sumsq is not NULL, sumsq [ntok]: the lanes of
 * acc (as above) reduced in the kernel's fixed order. */
typedef void (*dsv4_mixes_reduce_fn)(const float *acc, size_t ntok, size_t rows, float *raw,
                                     float *sumsq);

/* Sinkhorn on ntok matrices [n, n]: when `softmax`, first the row softmax
 * (S1) and one column step (S2); then `rounds` (row step, column step)
 * rounds (S3).  in, out [ntok, n, n]; out may equal in.  scratch holds
 * (n*n + n) * lanes floats. */
typedef void (*dsv4_sinkhorn_fn)(size_t n, int softmax, int rounds, float eps, size_t ntok,
                                 const float *in, float *out, float *scratch);

/* One token: y [d] = bf16(sum_j w_j x[j]); x [hc, d], w [hc]. */
typedef void (*dsv4_wsum_fn)(const float *x, const float *w, size_t hc, size_t d, float *y);

/* The same with x and y as bf16 codes: y holds the codes of weighted_sum's
 * result on the widened x (that result is bf16-rounded already, so taking
 * its upper 16 bits is exact). */
typedef void (*dsv4_wsum_bf16_fn)(const uint16_t *x, const float *w, size_t hc, size_t d,
                                  uint16_t *y);

/* One token: out[k][i] = bf16(post_k f_i + sum_j comb[j][k] x[j][i]).
 * f [d], x [hc, d], post [hc], comb [hc, hc], out [hc, d]. */
typedef void (*dsv4_post_fn)(const float *f, const float *x, const float *post,
                             const float *comb, size_t hc, size_t d, float *out);

/* The same with f, x and out as bf16 codes (hc_post_bf16). */
typedef void (*dsv4_post_bf16_fn)(const uint16_t *f, const uint16_t *x, const float *post,
                                  const float *comb, size_t hc, size_t d, uint16_t *out);

typedef struct dsv4_mhc_kernels {
    dsv4_sumsq_fn sumsq;
    dsv4_mixes_seg_fn mixes_seg; /* NULL: dsv4_opt_sgemm */
    dsv4_mixes_seg_bf16_fn mixes_seg_bf16; /* NULL (or weighted_sum_bf16 NULL): hc_pre_bf16
                                              and hc_head_bf16 widen x and run the fp32
                                              operator */
    dsv4_mixes_reduce_fn mixes_reduce;
    size_t mixes_lanes;          /* floats per accumulator vector */
    size_t mixes_tile_rows;      /* fn rows per register tile */
    dsv4_sinkhorn_fn sinkhorn;  /* NULL: ref */
    size_t sinkhorn_lanes;      /* tokens per vector (scratch size) */
    dsv4_wsum_fn weighted_sum;  /* NULL: ref */
    dsv4_wsum_bf16_fn weighted_sum_bf16;
    dsv4_post_fn post;          /* NULL: ref */
    dsv4_post_bf16_fn post_bf16; /* NULL: hc_post_bf16 widens and runs the fp32 operator */
} dsv4_mhc_kernels;

/* Tokens per chunk of the mixes at most.  A chunk's segments read all of
 * fn (1.5 MiB at V4-Flash sizes), so fewer, larger chunks read less of it;
 * the accumulators live in the driver's per-thread scratch (100 KiB for 64
 * tokens with AVX-512). */
enum { DSV4_MHC_MIX_TOKENS = 64 };

extern const dsv4_mhc_kernels dsv4_mhc_kernels_scalar;
#if defined(__x86_64__)
extern const dsv4_mhc_kernels dsv4_mhc_kernels_avx2;
extern const dsv4_mhc_kernels dsv4_mhc_kernels_avx512;
#endif

#endif
