/* gemm.c - the optimized SGEMM driver (spec/gemm.md): argument check shared
 * with ref, the kernel table of the active ISA, panel packing, cache
 * blocking and the split over threads.
 *
 * Loop structure, Goto/BLIS style, with one change that keeps the rounding
 * of ref's order: C is cut into blocks of at most mc x nc; a block is one
 * unit of work for one thread, and inside it
 *
 *   for each k-block [p0, p0 + kc)            (ascending)
 *       pack op(A)[block rows, k-block]  -> ap   (mr-row slivers)
 *       pack op(B)[k-block, block cols]  -> bp   (nr-column slivers)
 *       for each nr sliver of columns, for each mr sliver of rows:
 *           micro-kernel: the tile's sums continue over this k-block
 *
 * The sums of a tile are carried from one k-block to the next in w, exactly
 * as fp32 values, and C is touched only after the last k-block
 * (C = alpha*sum + beta*C), so every C element sees the same sequence of
 * operations whatever the blocking, and no C element is ever split over
 * threads (threads only share out whole blocks).  Block sizes depend only on
 * the shapes and the ISA, never on the thread count, and even so they could
 * not change a result: that is why results are bit-identical for any
 * DSV4_THREADS.
 *
 * Sizes: blocks are evened out (m = 300 with mc = 240 gives two blocks of
 * 156 rows, rounded up to mr, rather than 240 + 60) so that two threads get
 * similar work and no k-block is a sliver of a few terms. */
#include "gemm_kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

const dsv4_gemm_kernels *dsv4_gemm_kernels_for(dsv4_isa isa) {
#if defined(__x86_64__)
    switch (isa) {
    case DSV4_ISA_AVX512: return &dsv4_gemm_kernels_avx512;
    case DSV4_ISA_AVX2: return &dsv4_gemm_kernels_avx2;
    default: break;
    }
#else
    (void)isa;
#endif
    return &dsv4_gemm_kernels_scalar;
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }
static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* ---- packing --------------------------------------------------------------- */

/* X[r, p] contiguous in r (X stored transposed): copy `valid` values per term
 * and zero the rest of the sliver's row. */
static void pack_sliver_rows_contiguous(const dsv4_gemm_view *x, size_t r, size_t valid,
                                        size_t p0, size_t kc, size_t width, float *dst) {
    for (size_t p = 0; p < kc; p++) {
        const float *src = x->p + (p0 + p) * x->ld + r;
        float *d = dst + p * width;
        /* A loop, not memcpy: `valid` is a few dozen floats, too short for a
         * library call to pay off; the compiler vectorizes this. */
        for (size_t i = 0; i < valid; i++) d[i] = src[i];
        for (size_t i = valid; i < width; i++) d[i] = 0.0f;
    }
}

/* X[r, p] contiguous in p: each row of X becomes one strided column of the
 * sliver. */
static void pack_sliver_terms_contiguous(const dsv4_gemm_view *x, size_t r, size_t valid,
                                         size_t p0, size_t kc, size_t width, float *dst) {
    for (size_t i = 0; i < width; i++) {
        if (i < valid) {
            const float *src = x->p + (r + i) * x->ld + p0;
            for (size_t p = 0; p < kc; p++) dst[p * width + i] = src[p];
        } else {
            for (size_t p = 0; p < kc; p++) dst[p * width + i] = 0.0f;
        }
    }
}

void dsv4_gemm_pack(const dsv4_gemm_view *x, size_t r0, size_t rows, size_t p0, size_t kc,
                    size_t width, float *out) {
    for (size_t s = 0; s * width < rows; s++) {
        size_t valid = min_size(width, rows - s * width);
        float *dst = out + s * kc * width;
        if (x->trans)
            pack_sliver_rows_contiguous(x, r0 + s * width, valid, p0, kc, width, dst);
        else
            pack_sliver_terms_contiguous(x, r0 + s * width, valid, p0, kc, width, dst);
    }
}

/* ---- blocking and threads ----------------------------------------------------- */

typedef struct gemm_job {
    const dsv4_gemm_kernels *kern;
    dsv4_gemm_view a;   /* op(A) [m, k] */
    dsv4_gemm_view bt;  /* op(B)^T [n, k] */
    float *c;           /* [m, ldc] */
    size_t ldc;
    size_t m, n, k;
    float alpha, beta;
    size_t mc, nc, kc;  /* block sizes of this call (mc, nc multiples of mr, nr) */
    size_t blocks_m, blocks_n;
    atomic_size_t next_block;
    float *work;        /* [workers, worker_floats] */
    size_t ap_floats, bp_floats, w_floats; /* per worker, each a multiple of 16 */
} gemm_job;

/* Even block size: the fewest blocks of at most `cap`, equal up to `unit`;
 * always a multiple of unit (the packed buffers hold whole slivers). */
static size_t even_block(size_t len, size_t cap, size_t unit) {
    cap = cap < unit ? unit : cap / unit * unit;
    size_t blocks = ceil_div(len, cap);
    size_t size = ceil_div(ceil_div(len, blocks), unit) * unit;
    return min_size(size, cap);
}

static size_t round16(size_t n) { return ceil_div(n, 16) * 16; }

/* The micro-tiles of block rows [i0, i0+rows) x cols [j0, j0+cols) for the
 * k-block [p0, p0+kc). */
static void block_kstep(const gemm_job *j, size_t i0, size_t rows, size_t j0, size_t cols,
                        size_t p0, size_t kc, const float *ap, const float *bp, float *w) {
    const dsv4_gemm_kernels *kn = j->kern;
    size_t slivers_m = ceil_div(rows, kn->mr);
    dsv4_gemm_tile t;
    t.ldc = j->ldc;
    t.alpha = j->alpha;
    t.beta = j->beta;
    t.first = p0 == 0;
    t.last = p0 + kc == j->k;
    for (size_t jr = 0; jr < cols; jr += kn->nr) {
        const float *bs = bp + (jr / kn->nr) * kc * kn->nr; /* [kc, nr] */
        t.cols = min_size(kn->nr, cols - jr);
        for (size_t ir = 0; ir < rows; ir += kn->mr) {
            const float *as = ap + (ir / kn->mr) * kc * kn->mr; /* [kc, mr] */
            float *ws = w + ((jr / kn->nr) * slivers_m + ir / kn->mr) * kn->mr * kn->nr;
            t.rows = min_size(kn->mr, rows - ir);
            t.c = j->c + (i0 + ir) * j->ldc + (j0 + jr);
            kn->micro(kc, as, bs, ws, &t);
        }
    }
}

static void run_block(const gemm_job *j, size_t block, float *ap, float *bp, float *w) {
    size_t bi = block % j->blocks_m, bj = block / j->blocks_m;
    size_t i0 = bi * j->mc, j0 = bj * j->nc;
    size_t rows = min_size(j->mc, j->m - i0), cols = min_size(j->nc, j->n - j0);
    for (size_t p0 = 0; p0 < j->k; p0 += j->kc) {
        size_t kc = min_size(j->kc, j->k - p0);
        j->kern->pack(&j->a, i0, rows, p0, kc, j->kern->mr, ap);
        j->kern->pack(&j->bt, j0, cols, p0, kc, j->kern->nr, bp);
        block_kstep(j, i0, rows, j0, cols, p0, kc, ap, bp, w);
    }
}

/* Pool task `worker`: its own packing buffers; blocks are claimed one at a
 * time, so a thread that is slowed down just takes fewer of them. */
static void worker_task(void *ctx, size_t worker) {
    gemm_job *j = ctx;
    float *ap = j->work + worker * (j->ap_floats + j->bp_floats + j->w_floats);
    float *bp = ap + j->ap_floats, *w = bp + j->bp_floats;
    size_t n_blocks = j->blocks_m * j->blocks_n;
    for (;;) {
        size_t block = atomic_fetch_add(&j->next_block, 1);
        if (block >= n_blocks) break;
        run_block(j, block, ap, bp, w);
    }
}

/* Blocks of C to aim for, so that 2 or 3 threads share them out evenly; the
 * smallest block sides that are still worth their packing. */
enum { MIN_BLOCKS = 8, MIN_SLIVERS = 4 };

static void plan(gemm_job *j) {
    const dsv4_gemm_kernels *kn = j->kern;
    size_t cap_m = kn->mc, cap_n = kn->nc;
    for (;;) {
        j->mc = even_block(j->m, cap_m, kn->mr);
        j->nc = even_block(j->n, cap_n, kn->nr);
        size_t blocks = ceil_div(j->m, j->mc) * ceil_div(j->n, j->nc);
        int can_m = j->mc > MIN_SLIVERS * kn->mr, can_n = j->nc > MIN_SLIVERS * kn->nr;
        if (blocks >= MIN_BLOCKS || (!can_m && !can_n)) break;
        /* Halve the longer side (of the two that may still shrink). */
        if (can_n && (!can_m || j->nc >= j->mc))
            cap_n = j->nc / 2;
        else
            cap_m = j->mc / 2;
    }
    j->kc = even_block(j->k, kn->kc, 1);
    j->blocks_m = ceil_div(j->m, j->mc);
    j->blocks_n = ceil_div(j->n, j->nc);
    j->ap_floats = round16(j->mc * j->kc);
    j->bp_floats = round16(j->nc * j->kc);
    j->w_floats = j->k > j->kc ? round16(j->mc * j->nc) : 0;
}

dsv4_status dsv4_opt_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k, float alpha,
                           const float *a, size_t lda, const float *b, size_t ldb, float beta,
                           float *c, size_t ldc) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    dsv4_status st = dsv4_sgemm_check(trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc);
    if (st != DSV4_OK || m == 0 || n == 0) return st;
    /* An empty sum: C = beta*C, a memory-bound loop with nothing to block. */
    if (k == 0) return dsv4_ref_sgemm(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);

    gemm_job j;
    memset(&j, 0, sizeof j);
    j.kern = dsv4_gemm_kernels_for(dsv4_isa_active());
    j.a = (dsv4_gemm_view){a, lda, trans_a != 0};
    j.bt = (dsv4_gemm_view){b, ldb, trans_b == 0};
    j.c = c;
    j.ldc = ldc;
    j.m = m;
    j.n = n;
    j.k = k;
    j.alpha = alpha;
    j.beta = beta;
    plan(&j);
    atomic_init(&j.next_block, 0);

    size_t n_blocks = j.blocks_m * j.blocks_n;
    size_t workers = min_size((size_t)dsv4_threads_get(), n_blocks);
    size_t per_worker = j.ap_floats + j.bp_floats + j.w_floats;
    /* 64-byte aligned: the packed slivers are read with aligned vector loads. */
    j.work = aligned_alloc(64, workers * per_worker * sizeof(float));
    if (!j.work) return DSV4_E_NOMEM;
    st = dsv4_pool_run(workers, worker_task, &j);
    free(j.work);
    return st;
}
