/* gemm_simd.c - the SGEMM micro-kernel and panel packer written once over
 * the vector layer (vec.h), compiled once per ISA by gemm_avx2.c and
 * gemm_avx512.c (layout: gemm_kernels.h).
 *
 * Micro-tile MR x NR with NR = two vectors: MR x 2 accumulators, the two
 * vectors of the B row and one broadcast of A, sized to the register file
 * (12 x 2 + 3 of 32 registers, 6 x 2 + 3 of 16).  Per term: 2 loads of B,
 * MR broadcasts of A, 2 MR FMAs, independent chains enough to keep both FMA
 * pipes busy.  Each accumulator lane is one C element's sum, over p
 * ascending, one fused multiply-add per term; alpha and beta are applied
 * after the last term as a multiply and an add, each rounded (ref's
 * epilogue). */
#include "vec.h"

#include "gemm_kernels.h"

enum { W = VEC_W, NV = 2, NR = NV * W, KC = 256 };
#if VEC_REGS >= 32
enum { MR = 12, MC = 480, NC = 1024 };
#else
enum { MR = 6, MC = 120, NC = 512 };
#endif

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* Lanes of vector v of a row (columns v*W ..) inside the tile's `cols`. */
static inline size_t cols_in(size_t cols, int v) {
    size_t lo = (size_t)v * W;
    return cols <= lo ? 0 : min_sz(W, cols - lo);
}

/* One row of the tile to C: alpha*acc + beta*C (C not read when beta == 0),
 * only the lanes inside the tile's columns touched. */
static inline void store_row(const vf acc[NV], float *c, const dsv4_gemm_tile *t) {
    const vf alpha = vf_set1(t->alpha), beta = vf_set1(t->beta);
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
        size_t n = cols_in(t->cols, v);
        if (n == 0) continue;
        vf out = vf_mul(alpha, acc[v]);
        if (t->beta != 0.0f) out = vf_add(out, vf_mul(beta, vf_load_n(c + v * W, n)));
        vf_store_n(c + v * W, out, n);
    }
}

static void micro(size_t kc, const float *ap, const float *bp, float *w, const dsv4_gemm_tile *t) {
    vf acc[MR][NV]; /* [MR, NR] */
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++) acc[r][v] = t->first ? vf_zero() : vf_load(w + r * NR + v * W);

    for (size_t p = 0; p < kc; p++) {
        const vf b0 = vf_load(bp), b1 = vf_load(bp + W);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            const vf a = vf_set1(ap[r]);
            acc[r][0] = vf_fmadd(a, b0, acc[r][0]);
            acc[r][1] = vf_fmadd(a, b1, acc[r][1]);
        }
        ap += MR;
        bp += NR;
    }

    if (!t->last) {
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) vf_store(w + r * NR + v * W, acc[r][v]);
        return;
    }
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        if ((size_t)r < t->rows) store_row(acc[r], t->c + (size_t)r * t->ldc, t);
}

/* ---- packing ------------------------------------------------------------------ */

/* X stored transposed, so the values of one term are contiguous across all
 * the slivers: term by term, each sliver's `width` values are a partial load
 * (zeros past the last row) and a store.  Term-major, so the source is read
 * as one stream of rows rather than once per sliver at a stride of ld floats
 * (which, for ld a large power of two, maps every row to the same few cache
 * sets and refetches it from memory for each sliver).  width <= 2 VEC_W. */
static void pack_rows_contiguous(const dsv4_gemm_view *x, size_t r0, size_t rows, size_t p0,
                                 size_t kc, size_t width, float *out) {
    for (size_t p = 0; p < kc; p++) {
        const float *src = x->p + (p0 + p) * x->ld + r0; /* [rows] */
        for (size_t s = 0; s * width < rows; s++) {
            size_t valid = min_sz(width, rows - s * width);
            float *d = out + (s * kc + p) * width;
            const float *from = src + s * width;
            vf_store_n(d, vf_load_n(from, min_sz(valid, W)), min_sz(width, W));
            if (width > W)
                vf_store_n(d + W, vf_load_n(from + W, valid > W ? valid - W : 0), width - W);
        }
    }
}

/* X stored as is: the sliver row of term p takes one value from each of
 * `valid` rows.  Blocks of VEC_W rows x VEC_W terms are loaded row-wise and
 * transposed in registers; rows past valid are zeros.  A sliver narrower
 * than a vector (the A sliver, MR wide) is stored with whole vectors: the
 * lanes past `width` land on the start of the next term's row, which the
 * next store (terms go in increasing order) overwrites; only the sliver's
 * last term is stored partially, so as not to write past the sliver. */
static void pack_terms_strided(const dsv4_gemm_view *x, size_t r, size_t valid, size_t p0,
                               size_t kc, size_t width, float *dst) {
    for (size_t h = 0; h * W < width; h++) {
        size_t rows_here = valid > h * W ? min_sz(W, valid - h * W) : 0;
        size_t store = min_sz(W, width - h * W), spill = width <= W ? W : store;
        for (size_t p = 0; p < kc; p += W) {
            size_t terms = min_sz(W, kc - p);
            vf blk[W]; /* [W rows, W terms], then [W terms, W rows] */
#pragma GCC unroll 16
            for (size_t i = 0; i < W; i++)
                blk[i] = i < rows_here ? vf_load_n(x->p + (r + h * W + i) * x->ld + p0 + p, terms)
                                       : vf_zero();
            vf_transpose(blk);
#pragma GCC unroll 16
            for (size_t j = 0; j < W; j++)
                if (j < terms) {
                    float *to = dst + (p + j) * width + h * W;
                    vf_store_n(to, blk[j], p + j + 1 < kc ? spill : store);
                }
        }
    }
}

static void pack(const dsv4_gemm_view *x, size_t r0, size_t rows, size_t p0, size_t kc,
                 size_t width, float *out) {
    if (width > 2 * W) {
        dsv4_gemm_pack(x, r0, rows, p0, kc, width, out);
        return;
    }
    if (x->trans) {
        pack_rows_contiguous(x, r0, rows, p0, kc, width, out);
        return;
    }
    for (size_t s = 0; s * width < rows; s++) {
        size_t valid = min_sz(width, rows - s * width);
        pack_terms_strided(x, r0 + s * width, valid, p0, kc, width, out + s * kc * width);
    }
}

const dsv4_gemm_kernels VEC_NAME(dsv4_gemm_kernels) = {MR, NR, MC, NC, KC, micro, pack};
