/* sparse_attn.c - the optimized sparse attention (spec/sparse_attn.md §4):
 * argument checks (ref's), the kernel table of the active ISA, and the
 * split of the work over the pool.
 *
 * The work is cut into units, a unit being one token and a group of its
 * heads.  With at least as many tokens as threads a unit holds all the
 * heads of its token; with fewer (a decode step: T = 1) the heads are
 * split into as many groups as it takes to give every thread one, each a
 * whole number of vectors of heads.  Each pool task is a "slot" with
 * scratch of its own, which takes units from a shared counter until none
 * are left.  A unit:
 *
 *   1. collects the valid entries of its token's index list, in order, as
 *      row pointers into kv (followed by pointers to a row of zeros, which
 *      the kernels may read past the last key);
 *   2. transposes the group's queries, so that heads sit in lanes;
 *   3. for each block of 64 valid keys: the logits of every head, the
 *      block's online-softmax step, and the output sums (sparse_attn_kernels.h);
 *   4. per head, lse and the factor F of A4 in double, then o = bf16(O F).
 *
 * Each head's numbers come from its own lane or row by a fixed sequence of
 * operations, so neither the group a head falls in, nor the thread, nor the
 * other tokens of the call change a bit; every kernel of every ISA computes
 * that same sequence. */
#include "kernels.h"
#include "policy.h"
#include "sparse_attn.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }
static size_t ceil_div(size_t a, size_t b) { return (a + b - 1) / b; }
static size_t round_up(size_t a, size_t b) { return ceil_div(a, b) * b; }

typedef struct attn_job {
    const dsv4_attn_kernels *k;
    const dsv4_sparse_attn_cfg *cfg;
    size_t T, N, K, H, D;
    const float *q, *kv, *sink;
    const int32_t *idx;
    float *o, *lse;
    size_t group, groups; /* heads per unit (the last may have fewer), units per token */
    size_t hp;            /* columns of a unit's arrays: group rounded up to the lanes */
    float *scratch;       /* [slots, slot_floats] */
    size_t slot_floats;
    const float **rows;   /* [slots, K + DSV4_ATTN_ROW_PAD] */
    atomic_size_t next;   /* the next unit to hand out */
} attn_job;

/* A slot's scratch, carved out of its part of job->scratch. */
typedef struct attn_scratch {
    float *qt;    /* [D, hp] */
    float *s;     /* [DSV4_ATTN_BLOCK + DSV4_ATTN_ROW_PAD, hp]: logits, then p */
    float *O;     /* [hp, D] */
    float *m, *w, *bad, *alpha; /* [hp] each */
    float *zero;  /* [D] zeros */
    const float **rows;
} attn_scratch;

/* Floats of one slot's scratch, from one slot's part to the next. */
static size_t slot_size(size_t D, size_t hp) {
    size_t floats = D * hp + (DSV4_ATTN_BLOCK + DSV4_ATTN_ROW_PAD) * hp + hp * D + 4 * hp + D;
    return dsv4_thread_stride(round_up(floats, 16));
}

static attn_scratch scratch_of(const attn_job *j, size_t slot) {
    attn_scratch s;
    size_t D = j->D, hp = j->hp;
    s.qt = j->scratch + slot * j->slot_floats;
    s.s = s.qt + D * hp;
    s.O = s.s + (DSV4_ATTN_BLOCK + DSV4_ATTN_ROW_PAD) * hp;
    s.m = s.O + hp * D;
    s.w = s.m + hp;
    s.bad = s.w + hp;
    s.alpha = s.bad + hp;
    s.zero = s.alpha + hp;
    s.rows = j->rows + slot * (j->K + DSV4_ATTN_ROW_PAD);
    return s;
}

/* Step 1: the valid rows of token t in order; returns their number. */
static size_t collect_rows(const attn_job *j, size_t t, const attn_scratch *s) {
    size_t n = 0;
    for (size_t e = 0; e < j->K; e++) {
        int32_t v = j->idx[t * j->K + e];
        if (dsv4_sparse_attn_valid(v, j->N)) s->rows[n++] = j->kv + (size_t)v * j->D;
    }
    for (size_t e = 0; e < DSV4_ATTN_ROW_PAD; e++) s->rows[n + e] = s->zero;
    return n;
}

/* Step 4 for head h of the unit (global head hg): o row, lse. */
static void finish_head(const attn_job *j, const attn_scratch *s, size_t n, size_t h,
                        size_t hg, float *o, float *lse) {
    size_t D = j->D;
    if (n == 0) { /* nothing to attend to: o = 0 whatever the sink */
        for (size_t i = 0; i < D; i++) o[i] = 0.0f;
        *lse = -INFINITY;
        return;
    }
    if (isnan(s->bad[h])) { /* a NaN or infinite logit */
        float nan = dsv4_f32_from_bits(DSV4_POLICY_BF16_NAN << 16);
        for (size_t i = 0; i < D; i++) o[i] = nan;
        *lse = nan;
        return;
    }
    double m = (double)s->m[h], W = (double)s->w[h];
    *lse = (float)(m + dsv4_log_d(W));
    j->k->finish(s->O + h * D, D, (float)dsv4_sparse_attn_factor(m, W, j->sink[hg]), o);
}

static void run_unit(const attn_job *j, size_t unit, const attn_scratch *s) {
    const dsv4_attn_kernels *k = j->k;
    size_t t = unit / j->groups, h0 = unit % j->groups * j->group;
    size_t nh = min_sz(j->group, j->H - h0), hp = round_up(nh, k->lanes), D = j->D;
    size_t n = collect_rows(j, t, s);
    if (n > 0) {
        k->transpose_q(j->q + (t * j->H + h0) * D, D, nh, D, hp, s->qt);
        for (size_t h = 0; h < hp; h++) {
            s->m[h] = -INFINITY;
            s->w[h] = 0.0f;
            s->bad[h] = 0.0f;
        }
        for (size_t b = 0; b < n; b += DSV4_ATTN_BLOCK) {
            size_t nk = min_sz(DSV4_ATTN_BLOCK, n - b);
            k->logits(s->qt, hp, s->rows + b, nk, D, j->cfg->scale, s->s);
            k->softmax(s->s, nk, hp, s->m, s->w, s->bad, s->alpha);
            k->accumulate(s->O, nh, D, s->s, hp, s->alpha, b == 0, s->rows + b, nk);
        }
    }
    for (size_t h = 0; h < nh; h++) {
        float row_lse;
        finish_head(j, s, n, h, h0 + h, j->o + (t * j->H + h0 + h) * D, &row_lse);
        if (j->lse) j->lse[t * j->H + h0 + h] = row_lse;
    }
}

/* Pool task `slot`: units one after another while any are left. */
static void slot_fn(void *ctx, size_t slot) {
    attn_job *j = ctx;
    attn_scratch s = scratch_of(j, slot);
    for (size_t i = 0; i < j->D; i++) s.zero[i] = 0.0f;
    size_t units = j->T * j->groups, u;
    while ((u = atomic_fetch_add(&j->next, 1)) < units) run_unit(j, u, &s);
}

/* Heads per unit: all of them, or, with fewer tokens than threads, groups
 * of whole vectors enough for every thread to have one. */
static void plan(attn_job *j, size_t threads) {
    size_t lanes = j->k->lanes, want = j->T >= threads ? 1 : ceil_div(threads, j->T);
    j->group = round_up(ceil_div(j->H, want), lanes);
    if (j->group > j->H) j->group = j->H;
    j->groups = ceil_div(j->H, j->group);
    j->hp = round_up(j->group, lanes);
}

dsv4_status dsv4_opt_sparse_attn(const dsv4_sparse_attn_cfg *cfg, size_t T, size_t N, size_t K,
                                 const float *q, const float *kv, const float *sink,
                                 const int32_t *idx, float *o, float *lse) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    dsv4_status st = dsv4_sparse_attn_check(cfg, T, N, K, q, kv, sink, idx, o);
    if (st != DSV4_OK || T == 0) return st;
    attn_job j = {.k = dsv4_kernels_for(dsv4_isa_active())->attn,
                  .cfg = cfg,
                  .T = T, .N = N, .K = K, .H = cfg->n_heads, .D = cfg->head_dim,
                  .q = q, .kv = kv, .sink = sink, .idx = idx, .o = o, .lse = lse};
    size_t threads = (size_t)dsv4_threads_get();
    plan(&j, threads);
    size_t slots = min_sz(threads, T * j.groups);
    j.slot_floats = slot_size(j.D, j.hp);
    size_t floats, ptrs;
    if (!dsv4_mul_ok(slots, j.slot_floats, &floats) || floats > SIZE_MAX / sizeof(float) ||
        !dsv4_mul_ok(slots, K + DSV4_ATTN_ROW_PAD, &ptrs) || ptrs > SIZE_MAX / sizeof(float *))
        return DSV4_E_NOMEM;
    j.scratch = aligned_alloc(64, floats * sizeof(float));
    j.rows = malloc(ptrs * sizeof(float *));
    if (!j.scratch || !j.rows) {
        free(j.scratch);
        free(j.rows);
        return DSV4_E_NOMEM;
    }
    atomic_init(&j.next, 0);
    st = dsv4_pool_run(slots, slot_fn, &j);
    free(j.scratch);
    free(j.rows);
    return st;
}
