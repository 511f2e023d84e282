/* gemm.c - the optimized SGEMM driver (spec/gemm.md): argument check shared
 * with ref, the kernel table of the active ISA, panel packing, cache
 * blocking and the split over threads.
 *
 * Loop structure, Goto/BLIS style, with one change that keeps the rounding
 * of ref's order.  The columns of C are taken a panel at a time:
 *
 *   for each panel of columns (a few hundred to a few thousand)
 *       all threads: pack op(B)[all k, panel cols] -> bp (nr-column slivers
 *                    per k-block), once, shared (or, for a small panel
 *                    that is a single block column, once per thread into
 *                    its own buffer: see b_mode)
 *       all threads: claim blocks of at most mc x nc of the panel; per block
 *           for each k-block [p0, p0 + kc)            (ascending)
 *               pack op(A)[block rows, k-block] -> ap (mr-row slivers, own)
 *               for each nr sliver of columns, for each mr sliver of rows:
 *                   micro-kernel: the tile's sums continue over this k-block
 *
 * The sums of a tile are carried from one k-block to the next in w, exactly
 * as fp32 values, and C is touched only after the last k-block
 * (C = alpha*sum + beta*C), so every C element sees the same sequence of
 * operations whatever the blocking, and no C element is ever split over
 * threads (threads only share out whole blocks; packing only copies).  Block
 * sizes depend on the thread count (to share a panel out evenly), but they
 * cannot change a result: that is why results are bit-identical for any
 * DSV4_THREADS.
 *
 * Sizes: blocks are evened out (m = 300 with mc = 240 gives two blocks of
 * 156 rows, rounded up to mr, rather than 240 + 60) so that threads get
 * similar work and no k-block is a sliver of a few terms. */
#include "kernels.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }
static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

/* ---- packing --------------------------------------------------------------- */

/* X[r, p] contiguous in r (X stored transposed): term by term, the `width`
 * values of each sliver (zeros past the last row).  Term-major, so X is read
 * as one stream of rows, not once per sliver at a stride of ld floats. */
static void pack_rows_contiguous(const dsv4_gemm_view *x, size_t r0, size_t rows, size_t p0,
                                 size_t kc, size_t width, float *out) {
    for (size_t p = 0; p < kc; p++) {
        const float *src = x->p + (p0 + p) * x->ld + r0; /* [rows] */
        for (size_t s = 0; s * width < rows; s++) {
            size_t valid = min_size(width, rows - s * width);
            float *d = out + (s * kc + p) * width;
            /* A loop, not memcpy: `valid` is a few dozen floats, too short
             * for a library call to pay off; the compiler vectorizes this. */
            for (size_t i = 0; i < valid; i++) d[i] = src[s * width + i];
            for (size_t i = valid; i < width; i++) d[i] = 0.0f;
        }
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
    if (x->trans) {
        pack_rows_contiguous(x, r0, rows, p0, kc, width, out);
        return;
    }
    for (size_t s = 0; s * width < rows; s++) {
        size_t valid = min_size(width, rows - s * width);
        pack_sliver_terms_contiguous(x, r0 + s * width, valid, p0, kc, width,
                                     out + s * kc * width);
    }
}

/* ---- blocking and threads ----------------------------------------------------- */

/* The packed op(B) is shared by all threads: the columns of C are taken a
 * panel at a time, the whole panel (all k) is packed once by all threads
 * together, then the threads share out its blocks of C.  Panels are at most
 * PANEL_FLOATS packed floats (16 MiB: op(B) is read from memory once, the
 * panel is reread from the shared cache), so the buffer stays a fixed size
 * for any k, as long as one nr sliver of all k fits (see plan()). */
enum { PANEL_FLOATS = 4 << 20, PACK_TASK_SLIVERS = 8 };

/* Who packs op(B), and where:
 *  B_SHARED:     all threads together, once per panel, into bp (a pool run
 *                of its own before the blocks);
 *  B_PER_WORKER: with several threads, a panel of one block column (so
 *                every block reads all of it) of at most OWN_PANEL_FLOATS
 *                packed floats.  Each thread packs it into its own buffer
 *                during its first block, one k-block at a time as the block
 *                needs it, and reuses it for its other blocks.  A thread
 *                then packs the whole panel instead of its share, but no
 *                pool run separates packing from computing, and no thread
 *                reads slivers that another core wrote (and holds in its
 *                cache), which for a panel this small costs more than
 *                packing all of it;
 *  B_PER_BLOCK:  not even one sliver of all k fits PANEL_FLOATS: each block
 *                packs its own columns, per k-block. */
typedef enum { B_SHARED, B_PER_WORKER, B_PER_BLOCK } b_mode;

/* B_PER_WORKER panels: at most OWN_PANEL_FLOATS packed floats (1 MiB, so
 * that it stays in one core's L2); the threads' buffers are
 * dsv4_thread_stride apart (opt.h). */
enum { OWN_PANEL_FLOATS = 1 << 18 };

typedef struct gemm_job {
    const dsv4_gemm_kernels *kern;
    dsv4_gemm_view a;   /* op(A) [m, k] */
    dsv4_gemm_view bt;  /* op(B)^T [n, k] */
    float *c;           /* [m, ldc] */
    size_t ldc;
    size_t m, n, k;
    float alpha, beta;
    size_t mc, nc, kc;  /* block sizes of this call (mc, nc multiples of mr, nr);
                           mc is the tallest row block */
    size_t blocks_m;    /* row blocks: mr slivers shared out evenly (see block_rows) */
    size_t panel_max;   /* columns of a full panel, a multiple of nr */
    size_t j_panel, panel_cols; /* the panel being worked on: C columns */
    size_t panel_blocks, pack_tasks; /* of the current panel */
    size_t pack_slivers; /* nr slivers per pack task (of the current panel) */
    b_mode b_mode;      /* who packs op(B) (see b_mode) */
    float *bp;          /* B_SHARED: the packed panel; the k-block at p0 starts
                           at bp + p0 * panel_max, [slivers, kc, nr] */
    atomic_size_t next_block;
    float *work;        /* [workers, worker_floats] */
    size_t ap_floats, w_floats, bp_floats; /* per worker, each a multiple of 16 */
    size_t worker_floats; /* from one worker's buffers to the next's */
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

/* Ask for the partial sums of the next tile (`floats` from w) while this
 * one is computed: they were written a whole k-block ago and have left the
 * core's caches (to L2 only: the kernel's slivers fill L1).  A hint only. */
static void prefetch_tile(const float *w, size_t floats) {
#if defined(__GNUC__)
    for (size_t i = 0; i < floats; i += 16) __builtin_prefetch(w + i, 0, 2);
#else
    (void)w;
    (void)floats;
#endif
}

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
            int more = ir + kn->mr < rows || jr + kn->nr < cols; /* a next tile in w */
            if (!t.first && more) prefetch_tile(ws + kn->mr * kn->nr, kn->mr * kn->nr);
            kn->micro(kc, as, bs, ws, &t);
        }
    }
}

/* Pack task: pack_slivers slivers of the panel for one k-block. */
static void pack_task(void *ctx, size_t task) {
    gemm_job *j = ctx;
    size_t nr = j->kern->nr, chunk = j->pack_slivers * nr;
    size_t chunks = ceil_div(j->panel_cols, chunk);
    size_t p0 = task / chunks * j->kc, c0 = task % chunks * chunk;
    size_t kc = min_size(j->kc, j->k - p0), cols = min_size(chunk, j->panel_cols - c0);
    float *out = j->bp + p0 * j->panel_max + (c0 / nr) * kc * nr;
    j->kern->pack(&j->bt, j->j_panel + c0, cols, p0, kc, nr, out);
}

/* Row block bi: rows [*i0, *i0 + *rows).  The m rows make ceil(m / mr)
 * slivers, shared out so that block sizes differ by one sliver at most (the
 * taller blocks first, so the last ones claimed are the shorter). */
static void block_rows(const gemm_job *j, size_t bi, size_t *i0, size_t *rows) {
    size_t mr = j->kern->mr, slivers = ceil_div(j->m, mr);
    size_t base = slivers / j->blocks_m, extra = slivers % j->blocks_m;
    size_t first = bi * base + min_size(bi, extra), count = base + (bi < extra);
    *i0 = first * mr;
    *rows = min_size(count * mr, j->m - *i0);
}

/* One block of C inside the current panel, all its k-blocks in order.
 * bp_own is the thread's own op(B) buffer: B_PER_BLOCK, [slivers, kc, nr]
 * for the current k-block; B_PER_WORKER, the panel laid out as bp is, and
 * *own_packed says whether it already holds it. */
static void run_block(const gemm_job *j, size_t block, float *ap, float *w, float *bp_own,
                      int *own_packed) {
    size_t bi = block % j->blocks_m, bj = block / j->blocks_m;
    size_t i0, rows, jb = bj * j->nc, cols = min_size(j->nc, j->panel_cols - jb);
    block_rows(j, bi, &i0, &rows);
    for (size_t p0 = 0; p0 < j->k; p0 += j->kc) {
        size_t kc = min_size(j->kc, j->k - p0);
        const float *bp;
        if (j->b_mode == B_PER_BLOCK) {
            j->kern->pack(&j->bt, j->j_panel + jb, cols, p0, kc, j->kern->nr, bp_own);
            bp = bp_own;
        } else {
            float *panel = j->b_mode == B_SHARED ? j->bp : bp_own;
            bp = panel + p0 * j->panel_max + (jb / j->kern->nr) * kc * j->kern->nr;
            if (j->b_mode == B_PER_WORKER && !*own_packed) /* jb = 0: one block column */
                j->kern->pack(&j->bt, j->j_panel, cols, p0, kc, j->kern->nr,
                              panel + p0 * j->panel_max);
        }
        j->kern->pack(&j->a, i0, rows, p0, kc, j->kern->mr, ap);
        block_kstep(j, i0, rows, j->j_panel + jb, cols, p0, kc, ap, bp, w);
    }
    *own_packed = 1;
}

/* Compute task `worker`: its own A buffer and partial sums; blocks are
 * claimed one at a time, so a thread that is slowed down just takes fewer
 * of them. */
static void worker_task(void *ctx, size_t worker) {
    gemm_job *j = ctx;
    float *ap = j->work + worker * j->worker_floats;
    float *w = ap + j->ap_floats, *bp_own = w + j->w_floats;
    int own_packed = 0; /* bp_own holds this panel (B_PER_WORKER) */
    for (;;) {
        size_t block = atomic_fetch_add(&j->next_block, 1);
        if (block >= j->panel_blocks) break;
        run_block(j, block, ap, w, bp_own, &own_packed);
    }
}

/* With several threads, a panel should hold at least UNITS_PER_THREAD blocks
 * per thread (so that a thread slowed down by something else can be made up
 * for), and a multiple of the thread count (so that none idles at the end of
 * a panel); blocks are not cut below MIN_SLIVERS slivers a side. */
enum { UNITS_PER_THREAD = 2, MIN_SLIVERS = 4 };

static int units_ok(size_t units, size_t threads) {
    return units >= UNITS_PER_THREAD * threads && units % threads == 0;
}

/* Row blocks: the fewest with at most `cap` rows each, or with several
 * threads, the fewest from there that make a good share-out of the panel's
 * blocks (row blocks times `blocks_n`). */
static size_t row_blocks(size_t m, size_t cap, size_t mr, size_t blocks_n, size_t threads) {
    size_t slivers = ceil_div(m, mr);
    size_t first = ceil_div(slivers, cap < mr ? 1 : cap / mr);
    if (threads == 1) return first;
    for (size_t bm = first; bm <= first + 4 * threads; bm++) {
        if (slivers / bm < MIN_SLIVERS) break;
        if (units_ok(bm * blocks_n, threads)) return bm;
    }
    return first;
}

/* Panel, then blocks.  The panel is as wide as PANEL_FLOATS allows (op(B) is
 * packed once per call whatever the panel width, but the panels are done one
 * after the other); a block is as wide as the kernel's nc allows, since each
 * block packs its rows of op(A) once per k-block; rows are then cut to
 * share the panel out between the threads, and only if rows alone cannot do
 * it are the columns cut too. */
static void plan(gemm_job *j, size_t threads) {
    const dsv4_gemm_kernels *kn = j->kern;
    j->kc = even_block(j->k, kn->kc, 1);
    /* A panel at least one sliver wide while that fits PANEL_FLOATS; past
     * that (k in the hundred thousands) every block packs its own op(B),
     * one k-block at a time, and the whole of C is one panel. */
    int fits = PANEL_FLOATS / j->k >= kn->nr;
    j->panel_max = fits ? even_block(j->n, PANEL_FLOATS / j->k, kn->nr) : j->n;
    j->nc = even_block(j->panel_max, kn->nc, kn->nr);
    for (;;) {
        size_t blocks_n = ceil_div(j->panel_max, j->nc);
        j->blocks_m = row_blocks(j->m, kn->mc, kn->mr, blocks_n, threads);
        if (threads == 1 || units_ok(j->blocks_m * blocks_n, threads) ||
            j->nc <= MIN_SLIVERS * kn->nr)
            break;
        j->nc = even_block(j->panel_max, j->nc / 2, kn->nr);
    }
    int own = threads > 1 && j->nc >= j->panel_max && j->panel_max * j->k <= OWN_PANEL_FLOATS;
    j->b_mode = !fits ? B_PER_BLOCK : own ? B_PER_WORKER : B_SHARED;
    j->mc = ceil_div(ceil_div(j->m, kn->mr), j->blocks_m) * kn->mr;
    j->ap_floats = round16(j->mc * j->kc);
    j->w_floats = j->k > j->kc ? round16(j->mc * j->nc) : 0;
    j->bp_floats = j->b_mode == B_PER_WORKER ? round16(j->panel_max * j->k)
                   : j->b_mode == B_PER_BLOCK ? round16(j->nc * j->kc)
                                               : 0;
    j->worker_floats = j->ap_floats + j->w_floats + j->bp_floats;
    if (j->b_mode == B_PER_WORKER)
        j->worker_floats = dsv4_thread_stride(j->worker_floats);
}

/* Slivers per pack task: PACK_TASK_SLIVERS, halved while that would leave
 * a worker without a pack task (else a small panel of one k-block would be
 * one task, packed by one thread while the others wait). */
static size_t pack_slivers(size_t slivers, size_t kblocks, size_t workers) {
    size_t per = PACK_TASK_SLIVERS;
    while (per > 1 && kblocks * ceil_div(slivers, per) < workers) per = ceil_div(per, 2);
    return per;
}

/* Pack the panel of C columns [j0, j0 + cols) of op(B), then compute its
 * blocks: two pool runs, the end of the first being the point where the
 * whole panel is packed. */
static dsv4_status run_panel(gemm_job *j, size_t j0, size_t cols, size_t workers) {
    const dsv4_gemm_kernels *kn = j->kern;
    size_t kblocks = ceil_div(j->k, j->kc), slivers = ceil_div(cols, kn->nr);
    j->j_panel = j0;
    j->panel_cols = cols;
    j->pack_slivers = pack_slivers(slivers, kblocks, workers);
    j->pack_tasks = kblocks * ceil_div(slivers, j->pack_slivers);
    dsv4_status st = j->b_mode == B_SHARED ? dsv4_pool_run(j->pack_tasks, pack_task, j) : DSV4_OK;
    if (st != DSV4_OK) return st;
    j->panel_blocks = j->blocks_m * ceil_div(cols, j->nc);
    atomic_store(&j->next_block, 0);
    return dsv4_pool_run(min_size(workers, j->panel_blocks), worker_task, j);
}

/* ---- the work buffer, kept between calls -------------------------------------
 * A fresh multi-MiB allocation is a fresh mmap for the C library, and the
 * page faults of first touching it cost as much as packing the panel several
 * times over.  So one buffer (the largest needed so far, up to CACHE_FLOATS)
 * is kept for the next call.  A call takes it with a try-lock for its whole
 * duration; a call made while another holds it allocates its own.  The
 * buffer only ever holds packed copies and partial sums, fully rewritten
 * before being read, so which buffer a call gets changes nothing. */
enum { CACHE_FLOATS = 16 << 20 };

static atomic_flag cache_busy = ATOMIC_FLAG_INIT;
static float *cache_buf;   /* [cache_floats], 64-byte aligned, or NULL */
static size_t cache_floats;

/* A buffer of `floats` (a multiple of 16); *cached says whether it is the
 * kept one (give it back with work_release). */
static float *work_acquire(size_t floats, int *cached) {
    *cached = 0;
    if (floats > CACHE_FLOATS || atomic_flag_test_and_set(&cache_busy))
        return aligned_alloc(64, floats * sizeof(float));
    if (cache_floats < floats) {
        free(cache_buf);
        cache_buf = aligned_alloc(64, floats * sizeof(float));
        cache_floats = cache_buf ? floats : 0;
    }
    if (!cache_buf) {
        atomic_flag_clear(&cache_busy);
        return NULL;
    }
    *cached = 1;
    return cache_buf;
}

static void work_release(float *buf, int cached) {
    if (cached)
        atomic_flag_clear(&cache_busy);
    else
        free(buf);
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
    j.kern = dsv4_kernels_for(dsv4_isa_active())->gemm;
    j.a = (dsv4_gemm_view){a, lda, trans_a != 0};
    j.bt = (dsv4_gemm_view){b, ldb, trans_b == 0};
    j.c = c;
    j.ldc = ldc;
    j.m = m;
    j.n = n;
    j.k = k;
    j.alpha = alpha;
    j.beta = beta;
    size_t threads = (size_t)dsv4_threads_get();
    plan(&j, threads);
    atomic_init(&j.next_block, 0);

    size_t workers = min_size(threads, j.blocks_m * ceil_div(min_size(n, j.panel_max), j.nc));
    size_t panel_floats = j.b_mode == B_SHARED ? round16(j.panel_max * k) : 0;
    /* 64-byte aligned: the packed slivers are read with aligned vector loads. */
    int cached;
    j.work = work_acquire(panel_floats + workers * j.worker_floats, &cached);
    if (!j.work) return DSV4_E_NOMEM;
    j.bp = j.work + workers * j.worker_floats;
    for (size_t j0 = 0; j0 < n && st == DSV4_OK; j0 += j.panel_max)
        st = run_panel(&j, j0, min_size(j.panel_max, n - j0), workers);
    work_release(j.work, cached);
    return st;
}
