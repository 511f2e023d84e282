/* mhc.c - the optimized mHC operators (spec/mhc.md): argument checks (ref's,
 * in ref's order, so the same bad input gives the same status), the kernel
 * table of the active ISA, and the split of the work into pool tasks.
 *
 * A phase runs one pool task per thread, a "slot" with scratch of its own;
 * each slot takes chunks of tokens in turn from a shared counter until none
 * are left.  Scratch therefore grows with the thread count, not with T, and
 * a thread keeps reusing the same scratch lines.
 *
 * Every stage is a phase over all T tokens, cut into chunks of tokens.  The
 * gates (split + Sinkhorn) take chunks of GATE_CHUNK tokens.  The chunks of
 * the element-wise phases (rms, weighted sum, hc_post; elem_tokens) and of
 * the mixes (mix_tokens; a chunk reads all of fn, 1.5 MiB at V4 sizes, so
 * it holds at most DSV4_MHC_MIX_TOKENS) spread T evenly over the threads:
 * their size depends on T, K and the thread count.  The bits depend on
 * neither: each token's results are computed from that token alone by the
 * same sequence of operations whatever chunk it falls in, and the mixes'
 * sums keep an order that depends on K only, not on which tokens share a
 * chunk nor on which thread sums which segment of k (mhc_kernels.h).
 *
 * With a mixes kernel, hc_pre is one pass: a slot takes each chunk through
 * rms + mixes (the kernel sums the squares of x while it streams through),
 * split + Sinkhorn and the weighted sum, and the pool runs once; a thread
 * left without a chunk takes segments of a chunk still running (see
 * "sharing").  Without a kernel, it runs those stages as phases over all
 * tokens.  Both go through scratch arrays and copy the optional stage
 * outputs at the end.
 *
 * Stages a kernel table leaves NULL run ref's code on each chunk (public
 * ref entry points with the chunk's token count), or dsv4_opt_sgemm for the
 * mixes. */
#include "kernels.h"

#include <math.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum {
    ELEM_CHUNK = 1 << 19,     /* at most this many x elements per chunk (rms, wsum,
                                 post), or one token if a token holds more */
    ELEM_CHUNK_MIN = 1 << 16, /* and at least this many, or all T tokens */
    GATE_CHUNK = 256,         /* tokens per chunk of split + Sinkhorn */
};

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }

typedef struct mhc_job mhc_job;
typedef void (*chunk_fn)(mhc_job *j, size_t lo, size_t n, size_t slot);

/* Everything a phase may need; each phase reads the fields it uses. */
struct mhc_job {
    const dsv4_mhc_kernels *k;
    const dsv4_elementary_kernels *elem; /* expf for the gates */
    const dsv4_mhc_cfg *cfg;
    size_t K, hc, d, rows;
    size_t T, per_chunk;      /* tokens, tokens per chunk of the current phase */
    size_t slots;             /* pool tasks at most: one per thread, with its own scratch */
    int fuse_rms;             /* the mixes phase computes r as well */
    chunk_fn chunk;           /* the current phase */
    const float *x;           /* [T, hc, d] */
    const uint16_t *xb;       /* [T, hc, d] bf16 codes (the *_bf16 operators; x is NULL then) */
    const float *fn;          /* [rows, K] */
    const float *scale, *base;
    const float *f;           /* [T, d] (hc_post) */
    const uint16_t *fb;       /* [T, d] bf16 codes (hc_post_bf16; f is NULL then) */
    const float *w;           /* [T, hc] weights of weighted_sum / post gates */
    const float *comb_in;     /* [T, hc, hc] (hc_post) */
    float *r;                 /* [T] */
    float *mixes;             /* [T, rows] */
    float *pre, *post;        /* [T, hc] */
    float *logits, *comb;     /* [T, hc, hc] */
    float *y;                 /* [T, d] or [T, hc, d] (hc_post) */
    uint16_t *yb;             /* y as bf16 codes (the *_bf16 operators; y is NULL then) */
    /* Sinkhorn */
    size_t n;
    int softmax, rounds;
    float eps;
    const float *s_in;        /* [T, n, n] */
    float *s_out;             /* [T, n, n] */
    float *scratch;           /* [slots, (n*n + n) * lanes] */
    float *mix_scratch;       /* [slots, mix_slot_stride] accumulators (mixes kernel) */
    /* sharing the segments of hc_pre's chunks (NULL cs: no sharing) */
    struct chunk_state *cs;   /* [chunks] */
    float *parts;             /* [chunks, nseg, mix_scratch_floats] segments done by helpers */
    size_t nseg;              /* segments of K (DSV4_MHC_SEG terms each) */
    atomic_size_t next_chunk; /* the next chunk of the current phase to hand out */
    atomic_size_t started;    /* chunks of hc_pre begun */
    atomic_int status;        /* first failure of a ref call inside a task */
};

static void fail(mhc_job *j, dsv4_status st) {
    int ok = DSV4_OK;
    if (st != DSV4_OK) atomic_compare_exchange_strong(&j->status, &ok, (int)st);
}

/* Pool task `slot`: chunks one after another, as long as there are any
 * left, each with the slot's scratch.  A thread runs one slot at a time, so
 * the slot's scratch is never used by two chunks at once. */
static void slot_fn(void *ctx, size_t slot) {
    mhc_job *j = ctx;
    size_t chunks = ceil_div(j->T, j->per_chunk), c;
    while ((c = atomic_fetch_add(&j->next_chunk, 1)) < chunks) {
        size_t lo = c * j->per_chunk;
        j->chunk(j, lo, min_sz(j->per_chunk, j->T - lo), slot);
    }
}

/* Run one phase over the job's T tokens (T >= 1) in chunks of per_chunk
 * tokens, on at most j->slots pool tasks. */
static dsv4_status run_phase(mhc_job *j, chunk_fn chunk, size_t per_chunk) {
    j->chunk = chunk;
    j->per_chunk = per_chunk;
    atomic_store(&j->next_chunk, 0);
    dsv4_status st = dsv4_pool_run(min_sz(j->slots, ceil_div(j->T, per_chunk)), slot_fn, j);
    return st != DSV4_OK ? st : (dsv4_status)atomic_load(&j->status);
}

/* Tokens per chunk of the element-wise phases (rms, weighted sum,
 * hc_post): chunks of at most ELEM_CHUNK elements of x (2 MiB of fp32),
 * spread evenly over the threads (a few large pieces each: threads writing
 * many small interleaved pieces of the output run slower), but none below
 * ELEM_CHUNK_MIN elements, so that a tiny call stays on one thread, which
 * is faster than waking another. */
static size_t elem_tokens(const mhc_job *j) {
    size_t most = j->K >= ELEM_CHUNK ? 1 : ELEM_CHUNK / j->K;
    size_t least = j->K >= ELEM_CHUNK_MIN ? 1 : ELEM_CHUNK_MIN / j->K;
    return dsv4_task_units(j->T, j->slots, 1, least, most);
}

/* A job over T tokens with the active ISA's kernels and one slot per
 * thread (the thread count is read once, here). */
static void job_base_init(mhc_job *j, size_t T) {
    memset(j, 0, sizeof *j);
    const dsv4_kernels *kernels = dsv4_kernels_for(dsv4_isa_active());
    j->k = kernels->mhc;
    j->elem = kernels->elementary;
    j->T = T;
    j->slots = (size_t)dsv4_threads_get();
    atomic_init(&j->next_chunk, 0);
    atomic_init(&j->started, 0);
    atomic_init(&j->status, DSV4_OK);
}

static void job_init(mhc_job *j, const dsv4_mhc_cfg *cfg, size_t T, size_t K) {
    job_base_init(j, T);
    j->cfg = cfg;
    j->K = K;
    j->hc = cfg->hc;
    j->d = cfg->d;
    j->nseg = ceil_div(K, DSV4_MHC_SEG);
}

/* ---- per-slot scratch ---------------------------------------------------------------- */
/* Floats rounded up to whole 64-byte cache lines: each slot's part of a
 * scratch array then starts on its own line, so slots running at once on
 * different cores never write to the same line (no false sharing), and
 * vector stores of the kernels are aligned.  Scratch is per slot, not per
 * chunk, so it does not grow with T, and a thread keeps reusing the same
 * lines. */
static size_t whole_lines(size_t floats) { return (floats + 15) / 16 * 16; }

/* *out = one part of `per_slot` floats (whole_lines) for each of the job's
 * slots. */
static dsv4_status alloc_slot_scratch(const mhc_job *j, size_t per_slot, float **out) {
    size_t total;
    if (!dsv4_mul_ok(j->slots, per_slot, &total) || !dsv4_mul_ok(total, sizeof(float), &total))
        return DSV4_E_NOMEM;
    *out = aligned_alloc(64, total ? total : 64); /* a multiple of 64 bytes */
    return *out ? DSV4_OK : DSV4_E_NOMEM;
}

/* ---- NaN bits ------------------------------------------------------------------ */
/* v, or the quiet NaN 0x7FC00000 for any NaN (spec/mhc.md §6).  When two
 * NaNs meet (x's own and one made by Inf - Inf or 0 * Inf), x86 passes on
 * the payload of one operand, picked by operand order; the compiler orders
 * the operands of each kernel variant in its own way (a token in a 4-token
 * tile or alone, a helper's segment or the owner's), and which variant a
 * token meets depends on the chunking and so on the thread count.  Giving
 * r and mixes this one NaN keeps every output bit independent of them. */
static float canonical_nan(float v) {
    if (v == v) return v;
    const uint32_t q = 0x7FC00000u;
    float nan;
    memcpy(&nan, &q, sizeof nan);
    return nan;
}

/* ---- (H1) rms ------------------------------------------------------------------ */
/* r from the sum of squares: ref's divide, add, sqrt, divide (IEEE div and
 * sqrt, no reciprocal estimates). */
static float rms_factor(const mhc_job *j, float ss) {
    float ms = ss / (float)j->K;
    return canonical_nan(1.0f / sqrtf(ms + j->cfg->norm_eps));
}

static void rms_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    (void)slot;
    for (size_t t = lo; t < lo + n; t++)
        j->r[t] = rms_factor(j, j->k->sumsq(&j->x[t * j->K], j->K));
}

static dsv4_status phase_rms(mhc_job *j) { return run_phase(j, rms_chunk, elem_tokens(j)); }

/* ---- (H2) mixes ------------------------------------------------------------------ */
static void scale_by_r(mhc_job *j, size_t lo, size_t n) {
    for (size_t t = lo; t < lo + n; t++)
        for (size_t m = 0; m < j->rows; m++)
            j->mixes[t * j->rows + m] = canonical_nan(j->mixes[t * j->rows + m] * j->r[t]);
}

/* Tokens per chunk of the mixes, and of the fused hc_pre: the fewest
 * chunks (each reads all of fn) that are a multiple of the slot (thread)
 * count and take at most DSV4_MHC_MIX_TOKENS tokens each (mhc_kernels.h),
 * the job's T spread evenly over them. */
static size_t mix_tokens(const mhc_job *j) {
    return dsv4_task_units(j->T, j->slots, 1, 1, DSV4_MHC_MIX_TOKENS);
}

/* Floats of one chunk's mixes accumulators, for chunks of `chunk` tokens. */
static size_t mix_scratch_floats(const mhc_job *j, size_t chunk) {
    const dsv4_mhc_kernels *k = j->k;
    return whole_lines(chunk * dsv4_mhc_acc_rows(j->rows, k->mixes_tile_rows) * k->mixes_lanes);
}

/* Distance in floats from one slot's accumulators to the next one's
 * (dsv4_thread_stride, opt.h): slots run at once on different cores, each
 * adding to its own accumulators token after token. */
static size_t mix_slot_stride(const mhc_job *j, size_t chunk) {
    return dsv4_thread_stride(mix_scratch_floats(j, chunk));
}

static dsv4_status alloc_mix_scratch(mhc_job *j, size_t chunk) {
    return alloc_slot_scratch(j, mix_slot_stride(j, chunk), &j->mix_scratch);
}

static float *slot_acc(const mhc_job *j, size_t slot) {
    return &j->mix_scratch[slot * mix_slot_stride(j, j->per_chunk)];
}

/* Segment seg of tokens [lo, lo + n) into acc (added when fold). */
static void mixes_segment(const mhc_job *j, size_t lo, size_t n, size_t seg, int fold,
                          float *acc) {
    if (j->xb)
        j->k->mixes_seg_bf16(&j->xb[lo * j->K], n, j->K, j->fn, j->rows, seg, fold, j->fuse_rms,
                             acc);
    else
        j->k->mixes_seg(&j->x[lo * j->K], n, j->K, j->fn, j->rows, seg, fold, j->fuse_rms, acc);
}

/* mixes (and with fuse_rms r) of tokens [lo, lo + n) from their summed
 * accumulators. */
static void mixes_finish(mhc_job *j, size_t lo, size_t n, const float *acc) {
    float ss[DSV4_MHC_MIX_TOKENS];
    j->k->mixes_reduce(acc, n, j->rows, &j->mixes[lo * j->rows], j->fuse_rms ? ss : NULL);
    for (size_t t = 0; t < n && j->fuse_rms; t++) j->r[lo + t] = rms_factor(j, ss[t]);
    scale_by_r(j, lo, n);
}

/* The mixes kernel over all segments in order; with fuse_rms it also gives
 * the sums of squares, and r. */
static void mixes_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    float *acc = slot_acc(j, slot);
    for (size_t s = 0; s < j->nseg; s++) mixes_segment(j, lo, n, s, s > 0, acc);
    mixes_finish(j, lo, n, acc);
}

static void scale_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    (void)slot;
    scale_by_r(j, lo, n);
}

/* mixes [T, rows] = (x [T, K] . fn [rows, K]^T) * r, one GEMM-like pass over
 * all tokens: the ISA's kernel, or dsv4_opt_sgemm.  With fuse_rms, r [T] is
 * computed here too (H1 + H2), by the kernel on the way or by its own phase
 * before the GEMM. */
static dsv4_status phase_mixes(mhc_job *j) {
    if (j->k->mixes_seg) {
        size_t per_chunk = mix_tokens(j);
        dsv4_status st = alloc_mix_scratch(j, per_chunk);
        if (st == DSV4_OK) st = run_phase(j, mixes_chunk, per_chunk);
        free(j->mix_scratch);
        j->mix_scratch = NULL;
        return st;
    }
    if (j->fuse_rms) {
        dsv4_status st = phase_rms(j);
        if (st != DSV4_OK) return st;
    }
    dsv4_status st = dsv4_opt_sgemm(0, 1, j->T, j->rows, j->K, 1.0f, j->x, j->K, j->fn, j->K, 0.0f,
                                    j->mixes, j->rows);
    return st != DSV4_OK ? st : run_phase(j, scale_chunk, GATE_CHUNK);
}

/* ---- (S) Sinkhorn on a chunk ------------------------------------------------------ */
/* Floats of one slot's Sinkhorn scratch. */
static size_t sinkhorn_scratch_floats(const mhc_job *j) {
    return whole_lines((j->n * j->n + j->n) * j->k->sinkhorn_lanes);
}

/* j->s_in -> j->s_out for tokens [lo, lo + cnt). */
static void sinkhorn_range(mhc_job *j, size_t lo, size_t cnt, size_t slot) {
    size_t nn = j->n * j->n;
    const float *in = &j->s_in[lo * nn];
    float *out = &j->s_out[lo * nn];
    if (j->k->sinkhorn) {
        float *scratch = &j->scratch[slot * sinkhorn_scratch_floats(j)];
        j->k->sinkhorn(j->n, j->softmax, j->rounds, j->eps, cnt, in, out, scratch);
    } else { /* ref: the whole procedure with iters = rounds + 1, or those rounds alone */
        const dsv4_sinkhorn_cfg cfg = {j->n, j->rounds + 1, j->eps};
        fail(j, (j->softmax ? dsv4_ref_sinkhorn : dsv4_ref_sinkhorn_iterate)(&cfg, cnt, in, out));
    }
}

static void sinkhorn_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    sinkhorn_range(j, lo, n, slot);
}

/* Scratch for the Sinkhorn kernel, one part per slot. */
static dsv4_status alloc_sinkhorn_scratch(mhc_job *j) {
    return alloc_slot_scratch(j, sinkhorn_scratch_floats(j), &j->scratch);
}

/* ---- (H3)+(H4) split and Sinkhorn (hc_pre), weights (hc_head) -------------------- */
/* out[t * count + q] = sigmoid(mixes[lo + t][first + q] * scale + base[first + q])
 * for t < n, q < count: ref's operations in ref's order (multiply, add,
 * negate, exp, 1 + t, 1 / that), with the exponentials of the whole block
 * taken by one call of the ISA's expf kernel (bit-exact with dsv4_expf), so
 * the same bits as ref's dsv4_sigmoidf.  out [n, count]. */
static void gate_sigmoids(const mhc_job *j, size_t lo, size_t n, size_t first, size_t count,
                          float scale, float *out) {
    size_t total = n * count;
    for (size_t i = 0; i < total; i++) {
        size_t t = i / count, q = i % count;
        out[i] = -(j->mixes[(lo + t) * j->rows + first + q] * scale + j->base[first + q]);
    }
    j->elem->expf(out, out, total);
    for (size_t i = 0; i < total; i++) out[i] = 1.0f / (1.0f + out[i]);
}

/* pre (hc_pre) or w (hc_head) = sigmoid(mixes * scale[0] + base) + hc_eps
 * for tokens [lo, lo + n), from mixes columns 0..hc-1.  out [n, hc]. */
static void eps_gates(const mhc_job *j, size_t lo, size_t n, float *out) {
    gate_sigmoids(j, lo, n, 0, j->hc, j->scale[0], out);
    for (size_t i = 0; i < n * j->hc; i++) out[i] = out[i] + j->cfg->hc_eps;
}

/* (H3) pre = sigmoid + hc_eps, post = 2 * sigmoid, logits = mixes * scale[2]
 * + base (spec/mhc.md): the bits of dsv4_hc_split. */
static void split_chunk(mhc_job *j, size_t lo, size_t n) {
    size_t hc = j->hc, nn = hc * hc;
    float *post = &j->post[lo * hc];
    eps_gates(j, lo, n, &j->pre[lo * hc]);
    gate_sigmoids(j, lo, n, hc, hc, j->scale[1], post);
    for (size_t i = 0; i < n * hc; i++) post[i] = 2.0f * post[i];
    for (size_t t = lo; t < lo + n; t++) {
        const float *m = &j->mixes[t * j->rows + 2 * hc];
        for (size_t q = 0; q < nn; q++)
            j->logits[t * nn + q] = m[q] * j->scale[2] + j->base[2 * hc + q];
    }
}

static void gates_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    split_chunk(j, lo, n);
    sinkhorn_range(j, lo, n, slot);
}

/* hc_head: w = sigmoid + hc_eps (no factor 2, no Sinkhorn). */
static void head_weights_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    (void)slot;
    eps_gates(j, lo, n, &j->pre[lo * j->hc]);
}

/* ---- (H5) weighted sum and hc_post ---------------------------------------------------- */
static void wsum_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    (void)slot;
    if (j->xb) { /* hc_pre_bf16, hc_head_bf16: only with the kernels */
        for (size_t t = lo; t < lo + n; t++)
            j->k->weighted_sum_bf16(&j->xb[t * j->K], &j->w[t * j->hc], j->hc, j->d,
                                    &j->yb[t * j->d]);
        return;
    }
    const float *x = &j->x[lo * j->K], *w = &j->w[lo * j->hc];
    float *y = &j->y[lo * j->d];
    if (!j->k->weighted_sum) {
        fail(j, dsv4_ref_hc_weighted_sum(j->cfg, n, x, w, y));
        return;
    }
    for (size_t t = 0; t < n; t++)
        j->k->weighted_sum(&x[t * j->K], &w[t * j->hc], j->hc, j->d, &y[t * j->d]);
}

static dsv4_status phase_wsum(mhc_job *j) { return run_phase(j, wsum_chunk, elem_tokens(j)); }

/* ---- sharing a chunk's segments (hc_pre) -------------------------------------------
 * The owner of a chunk (the slot that took it) takes the chunk's segments
 * from the front, one by one, and adds each to its accumulators.  A thread
 * that finds its own segments taken and no chunk left to start helps a chunk
 * still running: it takes segments from the back, sums each into a part of
 * its own (stored, not added) and marks it done.  When the front meets the
 * back, the owner waits for those parts and adds them in order.  Each segment
 * is added once, in ascending order, whoever summed it (mhc_kernels.h), so
 * the bits do not depend on who helped.  This evens out threads that run at
 * different speeds (on a shared machine one CPU may be slow for a while).
 * The parts cost memory (a chunk's accumulators per segment), so sharing is
 * on only while there are at most 2 chunks per slot; with more, the
 * chunk-by-chunk hand-out balances most of the work. */
typedef struct chunk_state {
    _Alignas(64) atomic_ullong free_segs; /* free segments [front, back): front | back << 32 */
    atomic_int owned;                     /* the owner took segment 0: helpers may come */
    atomic_size_t helped;                 /* segments done by helpers */
} chunk_state;

enum { SHARE_CHUNKS_PER_THREAD = 2 };

/* Take the front (owner) or back (helper) free segment of c into *seg. */
static int take_segment(chunk_state *c, int back, size_t *seg) {
    unsigned long long w = atomic_load(&c->free_segs);
    for (;;) {
        unsigned long long front = w & 0xFFFFFFFFu, end = w >> 32;
        if (front >= end) return 0;
        unsigned long long next = back ? w - (1ull << 32) : w + 1;
        if (atomic_compare_exchange_weak(&c->free_segs, &w, next)) {
            *seg = (size_t)(back ? end - 1 : front);
            return 1;
        }
    }
}

static float *part_of(const mhc_job *j, size_t chunk, size_t seg) {
    return &j->parts[(chunk * j->nseg + seg) * mix_scratch_floats(j, j->per_chunk)];
}

/* Wait (spinning, yielding now and then) until helpers finished `count`
 * segments of c. */
static void wait_helped(chunk_state *c, size_t count) {
    for (unsigned i = 1; atomic_load_explicit(&c->helped, memory_order_acquire) < count; i++)
        if (i % 256 == 0) sched_yield();
}

/* Helper: once every chunk has begun, take back segments of the others. */
static void help_chunks(mhc_job *j, size_t self) {
    size_t chunks = ceil_div(j->T, j->per_chunk);
    if (atomic_load(&j->started) < chunks) return; /* chunks still to hand out */
    for (size_t t = 0; t < chunks; t++) {
        chunk_state *c = &j->cs[t];
        size_t seg, lo = t * j->per_chunk;
        if (t == self || !atomic_load_explicit(&c->owned, memory_order_acquire)) continue;
        while (take_segment(c, 1, &seg)) {
            mixes_segment(j, lo, min_sz(j->per_chunk, j->T - lo), seg, 0, part_of(j, t, seg));
            atomic_fetch_add_explicit(&c->helped, 1, memory_order_release);
        }
    }
}

/* Owner: segments from the front, then the helpers' parts in order. */
static void owned_mixes(mhc_job *j, size_t lo, size_t n, size_t slot) {
    size_t chunk = lo / j->per_chunk;
    chunk_state *c = &j->cs[chunk];
    float *acc = slot_acc(j, slot);
    size_t seg;
    int more = take_segment(c, 0, &seg); /* segment 0: nobody helps before `owned` */
    atomic_store_explicit(&c->owned, 1, memory_order_release);
    for (; more; more = take_segment(c, 0, &seg)) mixes_segment(j, lo, n, seg, seg > 0, acc);
    help_chunks(j, chunk);
    size_t end = (size_t)(atomic_load(&c->free_segs) >> 32);
    wait_helped(c, j->nseg - end);
    size_t floats = mix_scratch_floats(j, j->per_chunk);
    for (size_t s = end; s < j->nseg; s++) {
        const float *part = part_of(j, chunk, s);
        for (size_t i = 0; i < floats; i++) acc[i] = acc[i] + part[i];
    }
    mixes_finish(j, lo, n, acc);
}

/* Chunk states and parts for sharing, when it is on (else cs stays NULL). */
static dsv4_status alloc_sharing(mhc_job *j, size_t chunk) {
    size_t chunks = ceil_div(j->T, chunk), parts, bytes;
    if (chunks < 2 || chunks > SHARE_CHUNKS_PER_THREAD * j->slots ||
        j->nseg > 0xFFFFFFFFu || !dsv4_mul_ok(chunks, j->nseg, &parts) ||
        !dsv4_mul_ok(parts, mix_scratch_floats(j, chunk) * sizeof(float), &bytes))
        return DSV4_OK; /* no sharing */
    j->cs = aligned_alloc(64, chunks * sizeof *j->cs);
    j->parts = aligned_alloc(64, bytes); /* whole lines: a multiple of 64 bytes */
    if (!j->cs || !j->parts) return DSV4_E_NOMEM;
    for (size_t t = 0; t < chunks; t++) {
        atomic_init(&j->cs[t].free_segs, (unsigned long long)j->nseg << 32);
        atomic_init(&j->cs[t].owned, 0);
        atomic_init(&j->cs[t].helped, 0);
    }
    return DSV4_OK;
}

/* ---- hc_pre in one pass: H1-H5 on each chunk of mix_tokens(T) tokens --------------
 * Right after a chunk's mixes, the same slot splits, runs Sinkhorn and forms
 * the weighted sum while the end of the chunk's x is still in this core's
 * cache, and the pool runs once.  Each token's operations are those of the
 * separate phases, so the bits are the same. */
static void pre_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    atomic_fetch_add(&j->started, 1);
    if (j->cs) owned_mixes(j, lo, n, slot);
    else mixes_chunk(j, lo, n, slot);
    gates_chunk(j, lo, n, slot);
    wsum_chunk(j, lo, n, slot);
}

static void post_chunk(mhc_job *j, size_t lo, size_t n, size_t slot) {
    (void)slot;
    size_t hc = j->hc, K = j->K, d = j->d;
    if (j->xb) { /* hc_post_bf16: only with the kernel */
        for (size_t t = lo; t < lo + n; t++)
            j->k->post_bf16(&j->fb[t * d], &j->xb[t * K], &j->w[t * hc], &j->comb_in[t * hc * hc],
                            hc, d, &j->yb[t * K]);
        return;
    }
    const float *f = &j->f[lo * d], *x = &j->x[lo * K], *post = &j->w[lo * hc];
    const float *comb = &j->comb_in[lo * hc * hc];
    float *out = &j->y[lo * K];
    if (!j->k->post) {
        fail(j, dsv4_ref_hc_post(j->cfg, n, f, x, post, comb, out));
        return;
    }
    for (size_t t = 0; t < n; t++)
        j->k->post(&f[t * d], &x[t * K], &post[t * hc], &comb[t * hc * hc], hc, d, &out[t * K]);
}

/* ---- argument checks ------------------------------------------------------------------ */

/* The dispatcher's state, then dsv4_mhc_check (as every ref entry point). */
static dsv4_status opt_check(const dsv4_mhc_cfg *cfg, size_t T, size_t *K) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    return dsv4_mhc_check(cfg, T, K);
}

/* ---- public stage entry points ------------------------------------------------------- */
dsv4_status dsv4_opt_hc_rms(const dsv4_mhc_cfg *cfg, size_t T, const float *x, float *r) {
    size_t K;
    dsv4_status st = opt_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!x || !r) return DSV4_E_NULL;
    mhc_job j;
    job_init(&j, cfg, T, K);
    j.x = x;
    j.r = r;
    return phase_rms(&j);
}

dsv4_status dsv4_opt_hc_mixes(const dsv4_mhc_cfg *cfg, size_t T, size_t rows, const float *x,
                              const float *fn, const float *r, float *mixes) {
    size_t K, rk, tr;
    dsv4_status st = opt_check(cfg, T, &K);
    if (st != DSV4_OK) return st;
    if (rows == 0) return DSV4_E_ARG;
    if (!dsv4_mul_ok(rows, K, &rk) || !dsv4_mul_ok(T, rows, &tr)) return DSV4_E_OVERFLOW;
    if (T == 0) return DSV4_OK;
    if (!x || !fn || !r || !mixes) return DSV4_E_NULL;
    mhc_job j;
    job_init(&j, cfg, T, K);
    j.rows = rows;
    j.x = x;
    j.fn = fn;
    j.r = (float *)r; /* only read by the mixes phase */
    j.mixes = mixes;
    return phase_mixes(&j);
}

dsv4_status dsv4_opt_hc_weighted_sum(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                     const float *w, float *y) {
    size_t K;
    dsv4_status st = opt_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!x || !w || !y) return DSV4_E_NULL;
    mhc_job j;
    job_init(&j, cfg, T, K);
    j.x = x;
    j.w = w;
    j.y = y;
    return phase_wsum(&j);
}

/* The job's Sinkhorn: with softmax, S1 and S2 and then `rounds` rounds
 * (the whole procedure when rounds = cfg->iters - 1); without, `rounds`
 * rounds alone. */
static void set_sinkhorn(mhc_job *j, const dsv4_sinkhorn_cfg *cfg, int softmax, int rounds) {
    j->n = cfg->n;
    j->eps = cfg->eps;
    j->softmax = softmax;
    j->rounds = rounds;
}

/* What of Sinkhorn an entry point runs: the whole of it, S1 + S2, or S3. */
typedef enum sinkhorn_part { SINKHORN_WHOLE, SINKHORN_INIT, SINKHORN_ITERATE } sinkhorn_part;

/* Sinkhorn over T matrices, ref's checks in ref's order. */
static dsv4_status run_sinkhorn(const dsv4_sinkhorn_cfg *cfg, sinkhorn_part part, size_t T,
                                const float *in, float *out) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    dsv4_status st = dsv4_sinkhorn_check(cfg, T);
    if (st != DSV4_OK || T == 0) return st;
    if (!in || !out) return DSV4_E_NULL;
    mhc_job j;
    job_base_init(&j, T);
    set_sinkhorn(&j, cfg, part != SINKHORN_ITERATE, part == SINKHORN_INIT ? 0 : cfg->iters - 1);
    j.s_in = in;
    j.s_out = out;
    st = alloc_sinkhorn_scratch(&j);
    if (st == DSV4_OK) st = run_phase(&j, sinkhorn_chunk, GATE_CHUNK);
    free(j.scratch);
    return st;
}

dsv4_status dsv4_opt_sinkhorn(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                              float *out) {
    return run_sinkhorn(cfg, SINKHORN_WHOLE, T, logits, out);
}

dsv4_status dsv4_opt_sinkhorn_init(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                                   float *out) {
    return run_sinkhorn(cfg, SINKHORN_INIT, T, logits, out);
}

dsv4_status dsv4_opt_sinkhorn_iterate(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *c,
                                      float *out) {
    return run_sinkhorn(cfg, SINKHORN_ITERATE, T, c, out);
}

/* hc_post's checks in ref's order, then the job; f, x and out of either
 * form are set by the caller.  DSV4_OK with T == 0: an empty call. */
static dsv4_status post_job(mhc_job *j, const dsv4_mhc_cfg *cfg, size_t T, const void *f,
                            const void *x, const float *post, const float *comb, const void *out) {
    size_t K;
    dsv4_status st = opt_check(cfg, T, &K);
    if (st != DSV4_OK || T == 0) return st;
    if (!f || !x || !post || !comb || !out) return DSV4_E_NULL;
    job_init(j, cfg, T, K);
    j->w = post;
    j->comb_in = comb;
    return DSV4_OK;
}

dsv4_status dsv4_opt_hc_post(const dsv4_mhc_cfg *cfg, size_t T, const float *f, const float *x,
                             const float *post, const float *comb, float *out) {
    mhc_job j;
    dsv4_status st = post_job(&j, cfg, T, f, x, post, comb, out);
    if (st != DSV4_OK || T == 0) return st;
    j.f = f;
    j.x = x;
    j.y = out;
    return run_phase(&j, post_chunk, elem_tokens(&j));
}

/* The codes read and written directly when the ISA has the kernel; else
 * blocks widened, as ref does. */
dsv4_status dsv4_opt_hc_post_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *f,
                                  const uint16_t *x, const float *post, const float *comb,
                                  uint16_t *out) {
    mhc_job j;
    dsv4_status st = post_job(&j, cfg, T, f, x, post, comb, out);
    if (st != DSV4_OK || T == 0) return st;
    if (!j.k->post_bf16)
        return dsv4_hc_post_bf16_widened(dsv4_opt_hc_post, cfg, T, f, x, post, comb, out);
    j.fb = f;
    j.xb = x;
    j.yb = out;
    return run_phase(&j, post_chunk, elem_tokens(&j));
}

/* ---- whole operators ---------------------------------------------------------------- */
/* Scratch of hc_pre / hc_head: r [T], mixes [T, rows], pre [T, hc],
 * logits [T, hc, hc] (hc_pre only), in one allocation. */
static dsv4_status alloc_token_scratch(mhc_job *j, size_t logits_per_token, float **block) {
    size_t per = 1 + j->rows + j->hc + logits_per_token, total;
    if (!dsv4_mul_ok(j->T, per, &total) || !dsv4_mul_ok(total, sizeof(float), &total))
        return DSV4_E_NOMEM;
    *block = malloc(total);
    if (!*block) return DSV4_E_NOMEM;
    j->r = *block;
    j->mixes = j->r + j->T;
    j->pre = j->mixes + j->T * j->rows;
    j->logits = j->pre + j->T * j->hc;
    return DSV4_OK;
}

static void copy_stage(float *dst, const float *src, size_t n) {
    if (dst) memcpy(dst, src, n * sizeof(float));
}

/* hc_pre on a job whose x (or xb) and y (or yb) are set; arguments checked.
 * With xb, the job's kernels have the bf16 variants. */
static dsv4_status run_hc_pre(mhc_job *j, const float *fn, const float *scale, const float *base,
                              float *post, float *comb, const dsv4_hc_pre_stages *stages) {
    const dsv4_mhc_cfg *cfg = j->cfg;
    size_t T = j->T, hc = j->hc;
    dsv4_status st;
    j->rows = (2 + hc) * hc;
    j->fn = fn;
    j->scale = scale;
    j->base = base;
    j->post = post;
    j->comb = comb;
    /* Sinkhorn of the gates phase, the whole of it: logits -> comb */
    const dsv4_sinkhorn_cfg sk = {hc, cfg->sinkhorn_iters, cfg->hc_eps};
    set_sinkhorn(j, &sk, 1, sk.iters - 1);
    float *block = NULL;
    /* with a mixes kernel, one fused pass; else the phases one by one */
    size_t chunk = j->k->mixes_seg ? mix_tokens(j) : GATE_CHUNK;
    st = alloc_token_scratch(j, hc * hc, &block);
    if (st == DSV4_OK) st = alloc_sinkhorn_scratch(j);
    if (st == DSV4_OK && j->k->mixes_seg) st = alloc_mix_scratch(j, chunk);
    if (st == DSV4_OK && j->k->mixes_seg) st = alloc_sharing(j, chunk);
    j->s_in = j->logits;
    j->s_out = comb;
    j->w = j->pre;
    j->fuse_rms = 1;
    if (st == DSV4_OK && j->k->mixes_seg) {
        st = run_phase(j, pre_chunk, chunk);                           /* H1-H5 */
    } else {
        if (st == DSV4_OK) st = phase_mixes(j);                        /* H1, H2 */
        if (st == DSV4_OK) st = run_phase(j, gates_chunk, GATE_CHUNK); /* H3, H4 */
        if (st == DSV4_OK) st = phase_wsum(j);                         /* H5 */
    }
    if (st == DSV4_OK && stages) {
        copy_stage(stages->r, j->r, T);
        copy_stage(stages->mixes, j->mixes, T * j->rows);
        copy_stage(stages->pre, j->pre, T * hc);
        copy_stage(stages->logits, j->logits, T * hc * hc);
    }
    free(j->mix_scratch);
    free(j->cs);
    free(j->parts);
    free(j->scratch);
    free(block);
    return st;
}

/* hc_pre's checks, in ref's order; x and y of either form.  DSV4_OK with
 * T == 0 means an empty call. */
static dsv4_status pre_check(const dsv4_mhc_cfg *cfg, size_t T, const void *x, const float *fn,
                             const float *scale, const float *base, const void *y,
                             const float *post, const float *comb, size_t *K) {
    dsv4_status st = opt_check(cfg, T, K);
    if (st != DSV4_OK || T == 0) return st;
    return x && fn && scale && base && y && post && comb ? DSV4_OK : DSV4_E_NULL;
}

dsv4_status dsv4_opt_hc_pre(const dsv4_mhc_cfg *cfg, size_t T, const float *x, const float *fn,
                            const float *scale, const float *base, float *y, float *post,
                            float *comb, const dsv4_hc_pre_stages *stages) {
    size_t K;
    dsv4_status st = pre_check(cfg, T, x, fn, scale, base, y, post, comb, &K);
    if (st != DSV4_OK || T == 0) return st;
    mhc_job j;
    job_init(&j, cfg, T, K);
    j.x = x;
    j.y = y;
    return run_hc_pre(&j, fn, scale, base, post, comb, stages);
}

/* The kernels that let hc_pre_bf16 and hc_head_bf16 read x's codes
 * directly (else they widen blocks of x, as ref does). */
static int reads_bf16_x(const dsv4_mhc_kernels *k) {
    return k->mixes_seg && k->mixes_seg_bf16 && k->weighted_sum_bf16;
}

/* The codes read and written directly when the ISA's kernels can (the
 * fused one-pass hc_pre); else blocks of x widened, as ref does. */
dsv4_status dsv4_opt_hc_pre_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *x,
                                 const float *fn, const float *scale, const float *base,
                                 uint16_t *y, float *post, float *comb,
                                 const dsv4_hc_pre_stages *stages) {
    size_t K;
    dsv4_status st = pre_check(cfg, T, x, fn, scale, base, y, post, comb, &K);
    if (st != DSV4_OK || T == 0) return st;
    mhc_job j;
    job_init(&j, cfg, T, K);
    if (!reads_bf16_x(j.k))
        return dsv4_hc_pre_bf16_widened(dsv4_opt_hc_pre, cfg, T, x, fn, scale, base, y, post,
                                        comb, stages);
    j.xb = x;
    j.yb = y;
    return run_hc_pre(&j, fn, scale, base, post, comb, stages);
}

/* hc_head's checks in ref's order; x and y of either form.  DSV4_OK with
 * T == 0 means an empty call. */
static dsv4_status head_check(const dsv4_mhc_cfg *cfg, size_t T, const void *x, const float *fn,
                              const float *scale, const float *base, const void *y, size_t *K) {
    dsv4_status st = opt_check(cfg, T, K);
    if (st != DSV4_OK || T == 0) return st;
    return x && fn && scale && base && y ? DSV4_OK : DSV4_E_NULL;
}

/* hc_head on a job whose x (or xb) and y (or yb) are set; arguments checked.
 * With xb, the job's kernels have the bf16 variants. */
static dsv4_status run_hc_head(mhc_job *j, const float *fn, const float *scale,
                               const float *base, const dsv4_hc_head_stages *stages) {
    size_t T = j->T;
    dsv4_status st;
    j->rows = j->hc;
    j->fn = fn;
    j->scale = scale;
    j->base = base;
    float *block = NULL;
    st = alloc_token_scratch(j, 0, &block);
    j->w = j->pre;
    j->fuse_rms = 1;
    if (st == DSV4_OK) st = phase_mixes(j);
    if (st == DSV4_OK) st = run_phase(j, head_weights_chunk, GATE_CHUNK);
    if (st == DSV4_OK) st = phase_wsum(j);
    if (st == DSV4_OK && stages) {
        copy_stage(stages->r, j->r, T);
        copy_stage(stages->mixes, j->mixes, T * j->hc);
        copy_stage(stages->w, j->pre, T * j->hc);
    }
    free(block);
    return st;
}

dsv4_status dsv4_opt_hc_head(const dsv4_mhc_cfg *cfg, size_t T, const float *x, const float *fn,
                             const float *scale, const float *base, float *y,
                             const dsv4_hc_head_stages *stages) {
    size_t K;
    dsv4_status st = head_check(cfg, T, x, fn, scale, base, y, &K);
    if (st != DSV4_OK || T == 0) return st;
    mhc_job j;
    job_init(&j, cfg, T, K);
    j.x = x;
    j.y = y;
    return run_hc_head(&j, fn, scale, base, stages);
}

/* The codes read and written directly when the ISA's kernels can; else
 * blocks of x widened, as ref does. */
dsv4_status dsv4_opt_hc_head_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *x,
                                  const float *fn, const float *scale, const float *base,
                                  uint16_t *y, const dsv4_hc_head_stages *stages) {
    size_t K;
    dsv4_status st = head_check(cfg, T, x, fn, scale, base, y, &K);
    if (st != DSV4_OK || T == 0) return st;
    mhc_job j;
    job_init(&j, cfg, T, K);
    if (!reads_bf16_x(j.k))
        return dsv4_hc_head_bf16_widened(dsv4_opt_hc_head, cfg, T, x, fn, scale, base, y, stages);
    j.xb = x;
    j.yb = y;
    return run_hc_head(&j, fn, scale, base, stages);
}
