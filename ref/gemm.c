/* gemm.c - the reference SGEMM (spec/gemm.md) and the argument check that
 * ref and opt share.
 *
 *   C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C[m, n]
 *
 * Each C element is one dot product taken in the plainest order: acc starts
 * at 0 and, for p = 0, 1, ..., k-1, acc = acc + a_p * b_p with the product
 * rounded to fp32 and then the sum rounded to fp32 (this file is compiled
 * with -ffp-contract=off, so no FMA creeps in).  Only after the whole sum is
 * alpha and beta applied: c = alpha * acc + beta * c, or c = alpha * acc when
 * beta == 0 (C is then not read, so NaN or garbage in C cannot leak out). */
#include "internal.h"

/* One stored matrix: `rows` x `cols` elements, row r starting at p + r*ld. */
typedef struct stored_mat {
    const float *p;
    size_t rows, cols, ld;
} stored_mat;

static int mat_empty(const stored_mat *x) { return x->rows == 0 || x->cols == 0; }

/* Whether the last element's index (rows-1)*ld + cols-1, and its byte offset,
 * fit in size_t: then every index and pointer the kernels form does too. */
static int mat_extent_ok(const stored_mat *x) {
    size_t span, elems, bytes;
    if (!dsv4_mul_ok(x->rows - 1, x->ld, &span)) return 0;
    if (span > SIZE_MAX - x->cols) return 0;
    elems = span + x->cols;
    return dsv4_mul_ok(elems, sizeof(float), &bytes);
}

dsv4_status dsv4_sgemm_check(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                             const float *a, size_t lda, const float *b, size_t ldb,
                             const float *c, size_t ldc) {
    /* Storage shapes: A is [m, k] or, transposed, [k, m]; B is [k, n] or [n, k]. */
    const stored_mat mats[3] = {
        {a, trans_a ? k : m, trans_a ? m : k, lda},
        {b, trans_b ? n : k, trans_b ? k : n, ldb},
        {c, m, n, ldc},
    };
    /* One kind of fault at a time, in the order NULL, size, overflow, so the
     * status does not depend on which matrix is looked at first. */
    for (int i = 0; i < 3; i++)
        if (!mat_empty(&mats[i]) && !mats[i].p) return DSV4_E_NULL;
    for (int i = 0; i < 3; i++)
        if (!mat_empty(&mats[i]) && mats[i].ld < mats[i].cols) return DSV4_E_SIZE;
    for (int i = 0; i < 3; i++)
        if (!mat_empty(&mats[i]) && !mat_extent_ok(&mats[i])) return DSV4_E_OVERFLOW;
    return DSV4_OK;
}

/* op(X)[r, col] for X stored row-major with leading dimension ld. */
static float op_elem(const float *x, size_t ld, int trans, size_t r, size_t col) {
    return trans ? x[col * ld + r] : x[r * ld + col];
}

/* sum_p op(A)[i, p] * op(B)[p, j], p ascending, rounding after each step. */
static float dot_ref(int trans_a, int trans_b, size_t k, const float *a, size_t lda,
                     const float *b, size_t ldb, size_t i, size_t j) {
    float acc = 0.0f;
    for (size_t p = 0; p < k; p++) {
        float prod = op_elem(a, lda, trans_a, i, p) * op_elem(b, ldb, trans_b, p, j);
        acc = acc + prod;
    }
    return acc;
}

/* The final combination of one element; c_old is not read when beta == 0. */
static float combine(float alpha, float acc, float beta, const float *c_old) {
    float scaled = alpha * acc;
    if (beta == 0.0f) return scaled;
    return scaled + beta * *c_old;
}

/* k == 0: the product is empty, C = beta * C (0 when beta == 0). */
static void scale_c(size_t m, size_t n, float beta, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float *cij = &c[i * ldc + j];
            *cij = beta == 0.0f ? 0.0f : beta * *cij;
        }
}

dsv4_status dsv4_ref_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                           const float *a, size_t lda, const float *b, size_t ldb, float beta,
                           float *c, size_t ldc) {
    dsv4_status st = dsv4_sgemm_check(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
    if (st != DSV4_OK || m == 0 || n == 0) return st;
    if (k == 0) {
        scale_c(m, n, beta, c, ldc);
        return DSV4_OK;
    }
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < n; j++) {
            float acc = dot_ref(trans_a, trans_b, k, a, lda, b, ldb, i, j);
            c[i * ldc + j] = combine(alpha, acc, beta, &c[i * ldc + j]);
        }
    return DSV4_OK;
}
