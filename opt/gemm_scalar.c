/* gemm_scalar.c - the portable SGEMM micro-kernel (any architecture).
 *
 * Plain multiply then add, as ref does, not fmaf(): a libm fmaf may be a slow
 * software routine on targets without a fused instruction.  The product and
 * the sum are separate statements so that no compiler contracts them into an
 * FMA (contraction only happens inside one expression).  With the blocking of
 * opt/gemm.c keeping ref's order, this kernel gives ref's bits exactly. */
#include "gemm_kernels.h"

enum { MR = 4, NR = 8 };

/* acc [MR, NR] <- 0 or the partial sums w [MR, NR]. */
static void tile_start(float acc[MR][NR], const float *w, int first) {
    for (int r = 0; r < MR; r++)
        for (int c = 0; c < NR; c++) acc[r][c] = first ? 0.0f : w[r * NR + c];
}

/* The partial sums to w, or, after the last k-block, alpha*acc + beta*C to the
 * valid part of the tile (C not read when beta == 0). */
static void tile_finish(float acc[MR][NR], float *w, const dsv4_gemm_tile *t) {
    if (!t->last) {
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++) w[r * NR + c] = acc[r][c];
        return;
    }
    for (size_t r = 0; r < t->rows; r++)
        for (size_t c = 0; c < t->cols; c++) {
            float *cij = &t->c[r * t->ldc + c];
            float out = t->alpha * acc[r][c];
            if (t->beta != 0.0f) {
                float old = t->beta * *cij;
                out = out + old;
            }
            *cij = out;
        }
}

static void micro_scalar(size_t kc, const float *ap, const float *bp, float *w,
                         const dsv4_gemm_tile *t) {
    float acc[MR][NR]; /* [MR, NR] */
    tile_start(acc, w, t->first);
    for (size_t p = 0; p < kc; p++) {
        const float *a = ap + p * MR; /* [MR] */
        const float *b = bp + p * NR; /* [NR] */
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++) {
                float prod = a[r] * b[c];
                acc[r][c] = acc[r][c] + prod;
            }
    }
    tile_finish(acc, w, t);
}

const dsv4_gemm_kernels dsv4_gemm_kernels_scalar = {MR, NR, 64, 256, 256, micro_scalar, dsv4_gemm_pack};
