/* test_opt_mhc.c - opt's mHC against ref (spec/mhc.md §7), on every ISA the
 * machine supports and on 1, 2 and 3 threads:
 *  - bit-exact: Sinkhorn and its stages, weighted_sum, hc_post, and inside
 *    hc_pre / hc_head every stage after the mixes (split, Sinkhorn, weighted
 *    sum and head weights recomputed by ref from opt's own mixes must give
 *    opt's bits), and the vector expf against dsv4_expf;
 *  - within the spec's tolerance: r, mixes, pre/post and y of the whole
 *    operators (opt sums with FMA in another order);
 *  - identical bits for every thread count and on a repeated call;
 *  - the same status as ref for bad arguments. */
#include "dsv4.h"
#include "kernels.h"
#include "sweep.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x243F6A8885A308D3u;
static uint32_t rng32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float uniform(float lo, float hi) { return lo + (hi - lo) * (float)(rng32() >> 8) / 16777216.0f; }
static uint32_t bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static int isa_list(dsv4_isa *out) {
    int n = 0;
    for (int i = 0; i < DSV4_ISA_COUNT; i++)
        if (dsv4_isa_supported((dsv4_isa)i)) out[n++] = (dsv4_isa)i;
    return n;
}

/* Bitwise equality of float arrays; reports the first difference. */
static void same_bits(const char *what, const float *got, const float *want, size_t n,
                      const char *where) {
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(bits(got[i]), bits(want[i]), "%s [%zu] (%s): opt %a (0x%08x), ref %a (0x%08x)",
                     what, i, where, (double)got[i], bits(got[i]), (double)want[i], bits(want[i]));
}

/* A Sinkhorn configuration in an argument list. */
#define SK(n, iters, eps) (&(dsv4_sinkhorn_cfg){(n), (iters), (eps)})

static float *fbuf(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof(float));
    cr_assert_not_null(p);
    return p;
}

/* ---- one random case --------------------------------------------------------------- */
typedef struct mcase {
    dsv4_mhc_cfg cfg;
    size_t T, K, rows;
    float *x, *fn, *scale, *base, *f, *hfn, *hbase;
    float *w, *postw, *comb_in, *L; /* random stage inputs */
} mcase;

static void case_make(mcase *c, size_t hc, size_t d, size_t T, int iters) {
    c->cfg = (dsv4_mhc_cfg){hc, d, iters, 1e-6f, 1e-6f};
    c->T = T;
    c->K = hc * d;
    c->rows = (2 + hc) * hc;
    c->x = fbuf(T * c->K);
    c->fn = fbuf(c->rows * c->K);
    c->scale = fbuf(3);
    c->base = fbuf(c->rows);
    c->f = fbuf(T * d);
    c->hfn = fbuf(hc * c->K);
    c->hbase = fbuf(hc);
    c->w = fbuf(T * hc);
    c->postw = fbuf(T * hc);
    c->comb_in = fbuf(T * hc * hc);
    c->L = fbuf(T * hc * hc);
    for (size_t i = 0; i < T * c->K; i++) c->x[i] = uniform(-2.0f, 2.0f);
    for (size_t i = 0; i < c->rows * c->K; i++) c->fn[i] = uniform(-0.05f, 0.05f);
    for (size_t i = 0; i < hc * c->K; i++) c->hfn[i] = uniform(-0.05f, 0.05f);
    c->scale[0] = uniform(0.1f, 2.0f);
    c->scale[1] = uniform(-2.0f, 2.0f);
    c->scale[2] = uniform(1.0f, 16.0f);
    for (size_t q = 0; q < c->rows; q++) c->base[q] = uniform(-3.0f, 3.0f);
    for (size_t q = 0; q < hc; q++) c->hbase[q] = uniform(-1.0f, 1.0f);
    for (size_t i = 0; i < T * d; i++) c->f[i] = uniform(-4.0f, 4.0f);
    for (size_t i = 0; i < T * hc; i++) {
        c->w[i] = uniform(0.0f, 1.5f);
        c->postw[i] = uniform(0.0f, 2.0f);
    }
    for (size_t i = 0; i < T * hc * hc; i++) {
        c->comb_in[i] = uniform(0.0f, 1.0f);
        /* peaked logits, with now and then a -200 (exp underflow, spec §6) */
        c->L[i] = rng32() % 11 == 0 ? -200.0f : uniform(-30.0f, 30.0f);
    }
    if (T > 2) { /* token 2: x with a NaN and an Inf; its results are NaN, others not */
        c->x[2 * c->K] = f32(0x7FC00000u);
        c->x[2 * c->K + c->K - 1] = INFINITY;
    }
}

static void case_free(mcase *c) {
    float *all[] = {c->x, c->fn, c->scale, c->base, c->f, c->hfn, c->hbase,
                    c->w, c->postw, c->comb_in, c->L};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* Outputs of one implementation on one case. */
typedef struct mout {
    float *y, *post, *comb, *r, *mixes, *pre, *logits;   /* hc_pre */
    float *hy, *hr, *hmixes, *hw;                         /* hc_head */
    float *sk, *skr, *ws, *po;                            /* sinkhorn, rounds, wsum, post */
} mout;

static void out_alloc(mout *o, const mcase *c) {
    size_t T = c->T, hc = c->cfg.hc, d = c->cfg.d;
    o->y = fbuf(T * d); o->post = fbuf(T * hc); o->comb = fbuf(T * hc * hc);
    o->r = fbuf(T); o->mixes = fbuf(T * c->rows); o->pre = fbuf(T * hc);
    o->logits = fbuf(T * hc * hc);
    o->hy = fbuf(T * d); o->hr = fbuf(T); o->hmixes = fbuf(T * hc); o->hw = fbuf(T * hc);
    o->sk = fbuf(T * hc * hc); o->skr = fbuf(T * hc * hc); o->ws = fbuf(T * d);
    o->po = fbuf(T * c->K);
}

static void out_free(mout *o) {
    float *all[] = {o->y, o->post, o->comb, o->r, o->mixes, o->pre, o->logits, o->hy, o->hr,
                    o->hmixes, o->hw, o->sk, o->skr, o->ws, o->po};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

/* Run every operator of one implementation. */
static void run_all(const mcase *c, int opt, mout *o) {
    const dsv4_mhc_cfg *cfg = &c->cfg;
    size_t T = c->T, hc = cfg->hc;
    int it = cfg->sinkhorn_iters;
    dsv4_hc_pre_stages ps = {o->r, o->mixes, o->pre, o->logits};
    dsv4_hc_head_stages hs = {o->hr, o->hmixes, o->hw};
    float hscale = c->scale[0];
    if (opt) {
        cr_assert_eq(dsv4_opt_hc_pre(cfg, T, c->x, c->fn, c->scale, c->base, o->y, o->post, o->comb, &ps), DSV4_OK);
        cr_assert_eq(dsv4_opt_hc_head(cfg, T, c->x, c->hfn, &hscale, c->hbase, o->hy, &hs), DSV4_OK);
        cr_assert_eq(dsv4_opt_sinkhorn(SK(hc, it, 1e-6f), T, c->L, o->sk), DSV4_OK);
        memcpy(o->skr, o->sk, T * hc * hc * sizeof(float));
        cr_assert_eq(dsv4_opt_sinkhorn_iterate(SK(hc, it + 1, 1e-6f), T, o->skr, o->skr), DSV4_OK); /* in place */
        cr_assert_eq(dsv4_opt_hc_weighted_sum(cfg, T, c->x, c->w, o->ws), DSV4_OK);
        cr_assert_eq(dsv4_opt_hc_post(cfg, T, c->f, c->x, c->postw, c->comb_in, o->po), DSV4_OK);
    } else {
        cr_assert_eq(dsv4_ref_hc_pre(cfg, T, c->x, c->fn, c->scale, c->base, o->y, o->post, o->comb, &ps), DSV4_OK);
        cr_assert_eq(dsv4_ref_hc_head(cfg, T, c->x, c->hfn, &hscale, c->hbase, o->hy, &hs), DSV4_OK);
        cr_assert_eq(dsv4_ref_sinkhorn(SK(hc, it, 1e-6f), T, c->L, o->sk), DSV4_OK);
        cr_assert_eq(dsv4_ref_sinkhorn_iterate(SK(hc, it + 1, 1e-6f), T, o->sk, o->skr), DSV4_OK);
        cr_assert_eq(dsv4_ref_hc_weighted_sum(cfg, T, c->x, c->w, o->ws), DSV4_OK);
        cr_assert_eq(dsv4_ref_hc_post(cfg, T, c->f, c->x, c->postw, c->comb_in, o->po), DSV4_OK);
    }
}

/* ---- tolerances (spec/mhc.md §7) ----------------------------------------------------- */
static const double U = 1.0 / 16777216.0;
static double tau(size_t K) { return 8.0 * sqrt((double)K) * U; }

/* |got - want| <= abs + rel*|want|; NaN only matches NaN, Inf only itself. */
static int within(double got, double want, double abs, double rel) {
    if (isnan(want) || isnan(got)) return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got)) return got == want;
    return fabs(got - want) <= abs + rel * fabs(want);
}

/* One bf16 ulp at |v| (v finite). */
static double bf16_ulp(double v) {
    int e;
    frexp(fabs(v) > 1e-38 ? v : 1e-38, &e);
    return ldexp(1.0, e - 8);
}

/* The largest mixes tolerance of token t (abs tau*A + rel (tau + 4u)). */
static double mixes_tol(const mcase *c, const float *fn, size_t rows, const float *ref_r,
                        const float *ref_mixes, size_t t, size_t m) {
    double a = 0.0;
    for (size_t q = 0; q < rows; q++) {
        double s = 0.0;
        for (size_t k = 0; k < c->K; k++) s += fabs((double)c->x[t * c->K + k] * fn[q * c->K + k]);
        s *= ref_r[t];
        if (s > a) a = s;
    }
    return tau(c->K) * a + (tau(c->K) + 4 * U) * fabs(ref_mixes[t * rows + m]);
}

static void check_y(const char *what, const mcase *c, const float *got, const float *want,
                    const float *w_ref, const char *where) {
    size_t d = c->cfg.d, hc = c->cfg.hc;
    for (size_t t = 0; t < c->T; t++)
        for (size_t i = 0; i < d; i++) {
            double mag = 0.0;
            for (size_t j = 0; j < hc; j++) mag += fabs((double)w_ref[t * hc + j] * c->x[t * c->K + j * d + i]);
            double g = got[t * d + i], r = want[t * d + i];
            double tol = 1e-5 * mag + bf16_ulp(fmax(fabs(g), fabs(r)));
            cr_assert(within(g, r, tol, 0.0), "%s t=%zu i=%zu (%s): opt %a ref %a", what, t, i,
                      where, g, r);
        }
}

/* opt vs ref on one case, plus the composition checks on opt's own stages. */
static void compare(const mcase *c, const mout *o, const mout *r, const char *where) {
    size_t T = c->T, hc = c->cfg.hc, d = c->cfg.d, rows = c->rows, K = c->K;
    /* bit-exact stage operators */
    same_bits("sinkhorn", o->sk, r->sk, T * hc * hc, where);
    same_bits("sinkhorn_rounds", o->skr, r->skr, T * hc * hc, where);
    same_bits("weighted_sum", o->ws, r->ws, T * d, where);
    same_bits("hc_post", o->po, r->po, T * K, where);
    /* tolerance: r and mixes of hc_pre and hc_head */
    for (size_t t = 0; t < T; t++) {
        cr_assert(within(o->r[t], r->r[t], 0.0, tau(K)), "r t=%zu (%s): %a vs %a", t, where, (double)o->r[t], (double)r->r[t]);
        cr_assert(within(o->hr[t], r->hr[t], 0.0, tau(K)), "head r t=%zu (%s)", t, where);
        double dm = 0.0;
        for (size_t m = 0; m < rows; m++) {
            double tol = mixes_tol(c, c->fn, rows, r->r, r->mixes, t, m);
            if (tol > dm) dm = tol;
            cr_assert(within(o->mixes[t * rows + m], r->mixes[t * rows + m], tol, 0.0),
                      "mixes t=%zu m=%zu (%s): %a vs %a", t, m, where,
                      (double)o->mixes[t * rows + m], (double)r->mixes[t * rows + m]);
        }
        for (size_t m = 0; m < hc; m++) {
            double tol = mixes_tol(c, c->hfn, hc, r->hr, r->hmixes, t, m);
            cr_assert(within(o->hmixes[t * hc + m], r->hmixes[t * hc + m], tol, 0.0),
                      "head mixes t=%zu m=%zu (%s)", t, m, where);
        }
        double gate = 1e-5 + 0.5 * fmax(fabs(c->scale[0]), fabs(c->scale[1])) * dm;
        for (size_t j = 0; j < hc; j++) {
            cr_assert(within(o->pre[t * hc + j], r->pre[t * hc + j], gate, 0.0), "pre t=%zu (%s)", t, where);
            cr_assert(within(o->post[t * hc + j], r->post[t * hc + j], gate, 0.0), "post t=%zu (%s)", t, where);
        }
    }
    check_y("hc_pre y", c, o->y, r->y, r->pre, where);
    check_y("hc_head y", c, o->hy, r->hy, r->hw, where);
    /* bit-exact composition: ref's split, Sinkhorn, weighted sum and head
     * weights fed with opt's mixes give opt's bits */
    float *pre = fbuf(T * hc), *post = fbuf(T * hc), *logits = fbuf(T * hc * hc);
    float *comb = fbuf(T * hc * hc), *y = fbuf(T * d), *w = fbuf(T * hc);
    cr_assert_eq(dsv4_hc_split(&c->cfg, T, o->mixes, c->scale, c->base, pre, post, logits), DSV4_OK);
    cr_assert_eq(dsv4_ref_sinkhorn(SK(hc, c->cfg.sinkhorn_iters, c->cfg.hc_eps), T, o->logits, comb), DSV4_OK);
    cr_assert_eq(dsv4_ref_hc_weighted_sum(&c->cfg, T, c->x, o->pre, y), DSV4_OK);
    same_bits("split pre", o->pre, pre, T * hc, where);
    same_bits("split post", o->post, post, T * hc, where);
    same_bits("split logits", o->logits, logits, T * hc * hc, where);
    same_bits("hc_pre comb", o->comb, comb, T * hc * hc, where);
    same_bits("hc_pre y", o->y, y, T * d, where);
    float hscale = c->scale[0];
    cr_assert_eq(dsv4_hc_head_weights(&c->cfg, T, o->hmixes, &hscale, c->hbase, w), DSV4_OK);
    cr_assert_eq(dsv4_ref_hc_weighted_sum(&c->cfg, T, c->x, o->hw, y), DSV4_OK);
    same_bits("head weights", o->hw, w, T * hc, where);
    same_bits("hc_head y", o->hy, y, T * d, where);
    /* the stage entry points of the first two stages */
    float *r1 = fbuf(T), *m1 = fbuf(T * rows);
    cr_assert_eq(dsv4_opt_hc_rms(&c->cfg, T, c->x, r1), DSV4_OK);
    cr_assert_eq(dsv4_opt_hc_mixes(&c->cfg, T, rows, c->x, c->fn, r1, m1), DSV4_OK);
    same_bits("hc_rms stage", r1, o->r, T, where);
    same_bits("hc_mixes stage", m1, o->mixes, T * rows, where);
    free(r1); free(m1);
    free(pre); free(post); free(logits); free(comb); free(y); free(w);
}

static void same_outputs(const mout *a, const mout *b, const mcase *c, const char *where) {
    size_t T = c->T, hc = c->cfg.hc, d = c->cfg.d;
    same_bits("y", a->y, b->y, T * d, where);
    same_bits("comb", a->comb, b->comb, T * hc * hc, where);
    same_bits("post", a->post, b->post, T * hc, where);
    same_bits("r", a->r, b->r, T, where);
    same_bits("mixes", a->mixes, b->mixes, T * c->rows, where);
    same_bits("head y", a->hy, b->hy, T * d, where);
    same_bits("head mixes", a->hmixes, b->hmixes, T * hc, where);
}

static void check_case(size_t hc, size_t d, size_t T, int iters) {
    mcase c;
    case_make(&c, hc, d, T, iters);
    mout r, o, first;
    out_alloc(&r, &c);
    out_alloc(&o, &c);
    out_alloc(&first, &c);
    run_all(&c, 0, &r);
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n = isa_list(isas);
    char where[128];
    for (int k = 0; k < n; k++) {
        cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
        for (int th = 1; th <= 3; th++) {
            snprintf(where, sizeof where, "%s x%d hc=%zu d=%zu T=%zu iters=%d",
                     dsv4_isa_name(isas[k]), th, hc, d, T, iters);
            cr_assert_eq(dsv4_threads_set(th), DSV4_OK);
            run_all(&c, 1, &o);
            if (T == 0) continue;
            if (th == 1) {
                compare(&c, &o, &r, where);
                run_all(&c, 1, &first); /* a repeated call */
            }
            same_outputs(&o, &first, &c, where);
        }
    }
    out_free(&r);
    out_free(&o);
    out_free(&first);
    case_free(&c);
}

static void check_all_t(size_t hc, size_t d) {
    static const size_t Ts[] = {0, 1, 3, 17, 64};
    static const int iters[] = {1, 2, 20};
    for (size_t ti = 0; ti < 5; ti++)
        for (size_t ii = 0; ii < 3; ii++) check_case(hc, d, Ts[ti], iters[ii]);
}

/* d = 181 (a prime): the weighted sum and hc_post kernels take whole blocks
 * of 8 vectors (128 channels with AVX-512, 64 with AVX2), then single
 * vectors, then a masked one; 181 reaches all three on both ISAs. */
Test(opt_vs_ref, hc1, .timeout = 600) {
    static const size_t ds[] = {1, 15, 16, 17, 64, 181};
    for (size_t i = 0; i < 6; i++) check_all_t(1, ds[i]);
}
Test(opt_vs_ref, hc2, .timeout = 600) {
    static const size_t ds[] = {1, 15, 16, 17, 64};
    for (size_t i = 0; i < 5; i++) check_all_t(2, ds[i]);
}
Test(opt_vs_ref, hc4, .timeout = 600) {
    static const size_t ds[] = {1, 15, 16, 17, 64, 181};
    for (size_t i = 0; i < 6; i++) check_all_t(4, ds[i]);
}
Test(opt_vs_ref, v4_width_one_token, .timeout = 600) {
    check_case(4, 4096, 1, 20);
    check_case(4, 4096, 3, 20);
}
Test(opt_vs_ref, several_mixes_calls_per_thread, .timeout = 600) {
    /* T = 130: more tokens than one mixes call takes (DSV4_MHC_MIX_TOKENS),
     * so each thread count cuts T into several chunks, each with its own part
     * of the mixes scratch */
    check_case(4, 17, 130, 2);
}
Test(opt_vs_ref, odd_hc_and_rows, .timeout = 600) {
    check_case(3, 33, 17, 20); /* rows = 15: a short row group */
    check_case(5, 7, 18, 3);   /* rows = 35: two row blocks */
}

/* ---- the mixes kernels' segments ----------------------------------------------------
 * hc_pre lets an idle thread sum the last segments of another thread's chunk
 * into parts of its own, which the owner adds afterwards (opt/mhc.c).  That
 * must give the bits of the owner summing every segment itself, wherever
 * the split falls; the fused sums of squares must be the sumsq kernel's
 * bits; and the whole must be the dot products (within the FMA rounding). */
static void check_segments(const dsv4_mhc_kernels *k, size_t ntok, size_t K, size_t rows,
                           const char *isa) {
    size_t nseg = (K + DSV4_MHC_SEG - 1) / DSV4_MHC_SEG;
    size_t per = dsv4_mhc_acc_rows(rows, k->mixes_tile_rows) * k->mixes_lanes * ntok;
    float *x = fbuf(ntok * K), *fn = fbuf(rows * K), *raw = fbuf(ntok * rows);
    float *raw2 = fbuf(ntok * rows), ss[8], ss2[8];
    size_t bytes = (per * sizeof(float) + 63) / 64 * 64; /* aligned_alloc: whole 64s */
    float *acc = aligned_alloc(64, bytes), *acc2 = aligned_alloc(64, bytes);
    float *part = aligned_alloc(64, bytes);
    cr_assert(acc && acc2 && part && ntok <= 8);
    for (size_t i = 0; i < ntok * K; i++) x[i] = uniform(-2.0f, 2.0f);
    for (size_t i = 0; i < rows * K; i++) fn[i] = uniform(-1.0f, 1.0f);
    for (size_t s = 0; s < nseg; s++) k->mixes_seg(x, ntok, K, fn, rows, s, s > 0, 1, acc);
    k->mixes_reduce(acc, ntok, rows, raw, ss);
    for (size_t t = 0; t < ntok; t++) {
        cr_assert_eq(bits(ss[t]), bits(k->sumsq(&x[t * K], K)), "%s sumsq t=%zu K=%zu", isa, t, K);
        for (size_t m = 0; m < rows; m++) {
            double dot = 0.0, mag = 0.0;
            for (size_t i = 0; i < K; i++) {
                dot += (double)x[t * K + i] * fn[m * K + i];
                mag += fabs((double)x[t * K + i] * fn[m * K + i]);
            }
            cr_assert(fabs(raw[t * rows + m] - dot) <= 4e-6 * mag + 1e-30,
                      "%s mixes t=%zu m=%zu: %g, exact %g", isa, t, m,
                      (double)raw[t * rows + m], dot);
        }
    }
    for (size_t b = 1; b < nseg; b++) { /* the owner sums [0, b), helpers [b, nseg) */
        for (size_t s = 0; s < b; s++) k->mixes_seg(x, ntok, K, fn, rows, s, s > 0, 1, acc2);
        for (size_t s = b; s < nseg; s++) {
            k->mixes_seg(x, ntok, K, fn, rows, s, 0, 1, part);
            for (size_t i = 0; i < per; i++) acc2[i] = acc2[i] + part[i];
        }
        k->mixes_reduce(acc2, ntok, rows, raw2, ss2);
        char where[96];
        snprintf(where, sizeof where, "%s helped from segment %zu of %zu, rows %zu", isa, b, nseg,
                 rows);
        same_bits("mixes", raw2, raw, ntok * rows, where);
        same_bits("sumsq", ss2, ss, ntok, where);
    }
    float *all[] = {x, fn, raw, raw2, acc, acc2, part};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

Test(mixes_segments, helped_parts_give_the_same_bits) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n = isa_list(isas);
    for (int i = 0; i < n; i++) {
        const dsv4_mhc_kernels *k = dsv4_kernels_for(isas[i])->mhc;
        if (!k->mixes_seg) continue;
        const char *name = dsv4_isa_name(isas[i]);
        check_segments(k, 5, 4 * DSV4_MHC_SEG + 37, 24, name); /* last segment with a tail */
        check_segments(k, 7, 3 * DSV4_MHC_SEG, 15, name);      /* a short row group */
        check_segments(k, 1, 100, 4, name);                    /* one segment */
    }
}

/* The row groups visit the token tiles forward and backward in turn
 * (dsv4_mhc_tile_at): either way every token must be in exactly one tile,
 * whole tiles first and then single tokens, and backward must be forward
 * reversed. */
Test(mixes_segments, tile_order_covers_each_token_once) {
    for (size_t tt = 2; tt <= 4; tt++) {
        for (size_t ntok = 0; ntok <= 70; ntok++) {
            size_t tiles = dsv4_mhc_tile_count(ntok, tt), first_f[80], size_f[80];
            int seen[80] = {0};
            cr_assert(tiles <= 80);
            for (size_t i = 0; i < tiles; i++) {
                size_t t;
                size_f[i] = dsv4_mhc_tile_at(i, ntok, tt, 0, &t);
                first_f[i] = t;
                cr_assert(size_f[i] == tt || size_f[i] == 1, "tt %zu ntok %zu tile %zu", tt, ntok, i);
                cr_assert(i == 0 || size_f[i] <= size_f[i - 1], "whole tiles first");
                for (size_t q = 0; q < size_f[i]; q++) {
                    cr_assert(t + q < ntok, "tt %zu ntok %zu: token %zu past the end", tt, ntok, t + q);
                    seen[t + q]++;
                }
            }
            for (size_t t = 0; t < ntok; t++)
                cr_assert_eq(seen[t], 1, "tt %zu ntok %zu: token %zu in %d tiles", tt, ntok, t, seen[t]);
            for (size_t i = 0; i < tiles; i++) {
                size_t t, n = dsv4_mhc_tile_at(i, ntok, tt, 1, &t);
                cr_assert(t == first_f[tiles - 1 - i] && n == size_f[tiles - 1 - i],
                          "tt %zu ntok %zu: backward tile %zu is not forward's %zu", tt, ntok, i,
                          tiles - 1 - i);
            }
        }
    }
}

/* ---- NaN/Inf token stays in its token ------------------------------------------------ */
Test(opt_vs_ref, nan_token_is_contained) {
    mcase c;
    case_make(&c, 4, 16, 5, 20); /* token 2 has a NaN and an Inf */
    mout o;
    out_alloc(&o, &c);
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n = isa_list(isas);
    for (int k = 0; k < n; k++) {
        cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
        run_all(&c, 1, &o);
        for (size_t t = 0; t < 5; t++)
            for (size_t q = 0; q < 16; q++)
                cr_assert_eq(isnan(o.comb[t * 16 + q]) != 0, t == 2, "comb t=%zu", t);
    }
    out_free(&o);
    case_free(&c);
}

/* ---- Sinkhorn on many tokens and other n -------------------------------------------- */
/* Tokens whose x holds NaNs with payloads of both signs and infinities of
 * both signs make NaNs of their own inside the sums (Inf - Inf), and x86
 * passes on one NaN's payload by operand order, which differs between the
 * kernel variants a token may meet (4-token tile or alone, owner or helper
 * segment).  opt gives r and mixes the one quiet NaN (spec/mhc.md §6), so
 * every output has the same bits for 1, 2 and 3 threads.  Without that,
 * r of token 37 was 0xffc54321 on one thread and 0x7fc12345 on two (AVX2). */
Test(opt_vs_ref, nan_bits_do_not_depend_on_thread_count, .timeout = 600) {
    mcase c;
    case_make(&c, 4, 1029, 70, 20); /* 70 tokens: chunks and tiles cut differently per count */
    const uint32_t special[4] = {0x7FC12345u, 0xFFC54321u, 0x7F800000u, 0xFF800000u};
    for (size_t t = 1; t < c.T; t += 3)
        for (int q = 0; q < 64; q++) c.x[t * c.K + rng32() % c.K] = f32(special[q % 4]);
    mout one, o;
    out_alloc(&one, &c);
    out_alloc(&o, &c);
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n = isa_list(isas);
    for (int k = 0; k < n; k++) {
        cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
        dsv4_threads_set(1);
        run_all(&c, 1, &one);
        for (int threads = 2; threads <= 3; threads++) {
            dsv4_threads_set(threads);
            run_all(&c, 1, &o);
            char where[64];
            snprintf(where, sizeof where, "%s, %d threads against 1", dsv4_isa_name(isas[k]),
                     threads);
            size_t T = c.T, hc = c.cfg.hc, d = c.cfg.d;
            same_bits("r", o.r, one.r, T, where);
            same_bits("mixes", o.mixes, one.mixes, T * c.rows, where);
            same_bits("pre", o.pre, one.pre, T * hc, where);
            same_bits("logits", o.logits, one.logits, T * hc * hc, where);
            same_bits("post", o.post, one.post, T * hc, where);
            same_bits("comb", o.comb, one.comb, T * hc * hc, where);
            same_bits("y", o.y, one.y, T * d, where);
            same_bits("head r", o.hr, one.hr, T, where);
            same_bits("head mixes", o.hmixes, one.hmixes, T * hc, where);
            same_bits("head w", o.hw, one.hw, T * hc, where);
            same_bits("head y", o.hy, one.hy, T * d, where);
        }
    }
    out_free(&one);
    out_free(&o);
    case_free(&c);
}

Test(sinkhorn, many_tokens_general_n) {
    static const size_t ns[] = {1, 2, 3, 4, 5, 8};
    static const size_t Ts[] = {1, 7, 15, 16, 17, 31, 33, 255, 256, 257, 600};
    dsv4_isa isas[DSV4_ISA_COUNT];
    int ni = isa_list(isas);
    for (size_t a = 0; a < 6; a++)
        for (size_t b = 0; b < 11; b++) {
            size_t n = ns[a], T = Ts[b], nn = n * n;
            float *L = fbuf(T * nn), *want = fbuf(T * nn), *got = fbuf(T * nn + 8);
            for (size_t i = 0; i < T * nn; i++) {
                uint32_t r = rng32() % 40;
                L[i] = r == 0 ? -200.0f : r == 1 ? 200.0f : r == 2 ? f32(0x00000003u) : uniform(-50.0f, 50.0f);
            }
            cr_assert_eq(dsv4_ref_sinkhorn(SK(n, 20, 1e-6f), T, L, want), DSV4_OK);
            for (int k = 0; k < ni; k++)
                for (int th = 1; th <= 3; th += 2) {
                    char where[64];
                    snprintf(where, sizeof where, "%s x%d n=%zu T=%zu", dsv4_isa_name(isas[k]), th, n, T);
                    dsv4_isa_set(isas[k]);
                    dsv4_threads_set(th);
                    for (size_t g = 0; g < 8; g++) got[T * nn + g] = 12345.0f;
                    cr_assert_eq(dsv4_opt_sinkhorn(SK(n, 20, 1e-6f), T, L, got), DSV4_OK);
                    same_bits("sinkhorn", got, want, T * nn, where);
                    for (size_t g = 0; g < 8; g++) cr_assert_eq(got[T * nn + g], 12345.0f, "wrote past the end");
                    /* in place */
                    memcpy(got, L, T * nn * sizeof(float));
                    cr_assert_eq(dsv4_opt_sinkhorn(SK(n, 20, 1e-6f), T, got, got), DSV4_OK);
                    same_bits("sinkhorn in place", got, want, T * nn, where);
                }
            free(L); free(want); free(got);
        }
}

/* Sinkhorn in its two stages gives the bits of the whole, ref and opt, for
 * any iteration count (1: iterate does nothing) and in place. */
Test(sinkhorn, init_then_iterate_is_sinkhorn) {
    static const size_t ns[] = {1, 3, 4, 5};
    static const int iters[] = {1, 2, 20};
    enum { T = 37 };
    dsv4_isa isas[DSV4_ISA_COUNT];
    int ni = isa_list(isas);
    for (size_t a = 0; a < 4; a++)
        for (size_t b = 0; b < 3; b++) {
            size_t n = ns[a], nn = n * n;
            const dsv4_sinkhorn_cfg cfg = {n, iters[b], 1e-6f};
            float *L = fbuf(T * nn), *whole = fbuf(T * nn), *c = fbuf(T * nn), *out = fbuf(T * nn);
            for (size_t i = 0; i < T * nn; i++)
                L[i] = rng32() % 13 == 0 ? -200.0f : uniform(-30.0f, 30.0f);
            for (int k = -1; k < ni; k++) { /* -1: ref */
                char where[64];
                snprintf(where, sizeof where, "%s n=%zu iters=%d", k < 0 ? "ref" : dsv4_isa_name(isas[k]),
                         n, iters[b]);
                if (k >= 0) dsv4_isa_set(isas[k]);
                dsv4_status (*whole_fn)(const dsv4_sinkhorn_cfg *, size_t, const float *, float *) =
                    k < 0 ? dsv4_ref_sinkhorn : dsv4_opt_sinkhorn;
                dsv4_status (*init_fn)(const dsv4_sinkhorn_cfg *, size_t, const float *, float *) =
                    k < 0 ? dsv4_ref_sinkhorn_init : dsv4_opt_sinkhorn_init;
                dsv4_status (*iterate_fn)(const dsv4_sinkhorn_cfg *, size_t, const float *, float *) =
                    k < 0 ? dsv4_ref_sinkhorn_iterate : dsv4_opt_sinkhorn_iterate;
                cr_assert_eq(whole_fn(&cfg, T, L, whole), DSV4_OK);
                cr_assert_eq(init_fn(&cfg, T, L, c), DSV4_OK);
                cr_assert_eq(iterate_fn(&cfg, T, c, out), DSV4_OK);
                same_bits("iterate(init)", out, whole, T * nn, where);
                /* init = the whole procedure with one iteration */
                cr_assert_eq(whole_fn(SK(n, 1, 1e-6f), T, L, out), DSV4_OK);
                same_bits("init", c, out, T * nn, where);
                /* both stages in place */
                memcpy(out, L, T * nn * sizeof(float));
                cr_assert_eq(init_fn(&cfg, T, out, out), DSV4_OK);
                cr_assert_eq(iterate_fn(&cfg, T, out, out), DSV4_OK);
                same_bits("iterate(init) in place", out, whole, T * nn, where);
            }
            free(L); free(whole); free(c); free(out);
        }
    dsv4_isa_set(dsv4_isa_best());
}

/* ---- expf vector kernels ------------------------------------------------------------- */
static void expf_check_array(const float *x, size_t n) {
    float *got = fbuf(n);
    dsv4_isa isas[DSV4_ISA_COUNT];
    int ni = isa_list(isas);
    for (int k = 0; k < ni; k++) {
        dsv4_kernels_for(isas[k])->elementary->expf(x, got, n);
        for (size_t i = 0; i < n; i++) {
            float want = dsv4_expf(x[i]);
            cr_assert_eq(bits(got[i]), bits(want), "expf %s x=%a (0x%08x): %a vs %a", dsv4_isa_name(isas[k]),
                         (double)x[i], bits(x[i]), (double)got[i], (double)want);
        }
    }
    free(got);
}

Test(expf, specials_powers_and_sample) {
    enum { N = 1 << 20 };
    float *x = fbuf(N);
    size_t n = 0;
    static const uint32_t sp[] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0xFFBFFFFFu, 0x7F800000u,
                                  0xFF800000u, 0x00000000u, 0x80000000u, 0x00000001u, 0x807FFFFFu,
                                  0x7F7FFFFFu, 0xFF7FFFFFu};
    for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) x[n++] = f32(sp[i]);
    static const float edges[] = {-150.0f, 128.0f, -149.99998f, 127.99999f, -103.97208f, -87.33655f,
                                  88.72283f, 88.72284f, 0.34657359f, -0.34657359f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        x[n++] = edges[i];
        x[n++] = nextafterf(edges[i], INFINITY);
        x[n++] = nextafterf(edges[i], -INFINITY);
    }
    for (uint32_t e = 0; e < 256; e++) { /* every power of two, both signs */
        x[n++] = f32(e << 23);
        x[n++] = f32((e << 23) | 0x80000000u);
    }
    while (n < N) { /* random bits, and values in the interesting range */
        uint32_t r = rng32();
        x[n++] = (r & 1) ? f32(rng32()) : uniform(-160.0f, 130.0f);
    }
    expf_check_array(x, N);
    expf_check_array(x + 1, 37); /* odd length, unaligned */
    free(x);
}

static uint64_t sweep_expf(void *ctx, uint64_t lo, uint64_t n, uint64_t stride, uint32_t *first_bad) {
    const dsv4_elementary_kernels *k = ctx;
    enum { B = 4096 };
    float x[B], y[B];
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i += B * stride) {
        size_t m = 0;
        for (uint64_t q = i; q < n && m < B; q += stride) x[m++] = f32((uint32_t)(lo + q));
        k->expf(x, y, m);
        for (size_t q = 0; q < m; q++)
            if (bits(y[q]) != bits(dsv4_expf(x[q]))) {
                if (!bad) *first_bad = bits(x[q]);
                bad++;
            }
    }
    return bad;
}

/* Every fp32 input, for the best vector kernel (the others are checked
 * against the same ref on the samples above). */
Test(expf, all_f32_best_isa, .timeout = 1200) {
    dsv4_isa best = dsv4_isa_best();
    if (best == DSV4_ISA_SCALAR) return;
    uint32_t first;
    uint64_t bad = sweep_all_f32(sweep_expf, (void *)dsv4_kernels_for(best)->elementary, &first);
    cr_assert_eq(bad, 0, "%s expf: %llu mismatches, first x = 0x%08x", dsv4_isa_name(best),
                 (unsigned long long)bad, first);
}

/* ---- arguments ------------------------------------------------------------------------ */
typedef struct argset {
    dsv4_mhc_cfg cfg;
    const dsv4_mhc_cfg *cp;
    size_t T, rows;
    int null_mask; /* bit i: pointer argument i is NULL */
} argset;

static const float *P(const argset *a, int i, const float *p) { return (a->null_mask >> i) & 1 ? NULL : p; }
static float *Q(const argset *a, int i, float *p) { return (a->null_mask >> i) & 1 ? NULL : p; }

/* Status of every mHC entry point, ref (opt = 0) or opt, for one argument set. */
static void statuses(const argset *a, int opt, dsv4_status *st) {
    static float in[4096], out1[4096], out2[4096], out3[4096];
    const dsv4_mhc_cfg *c = a->cp;
    size_t T = a->T;
    dsv4_hc_pre_stages ps = {0};
    /* Sinkhorn's n: hc, but never a valid huge matrix the buffers cannot hold;
     * no configuration when hc_pre gets none */
    size_t n = a->cfg.hc > 4 && a->cfg.hc < ((size_t)1 << 32) ? 2 : a->cfg.hc;
    const dsv4_sinkhorn_cfg skc = {n, a->cfg.sinkhorn_iters, a->cfg.hc_eps};
    const dsv4_sinkhorn_cfg *sk = a->cp ? &skc : NULL;
    if (opt) {
        st[0] = dsv4_opt_hc_pre(c, T, P(a, 0, in), P(a, 1, in), P(a, 2, in), P(a, 3, in), Q(a, 4, out1), Q(a, 5, out2), Q(a, 6, out3), &ps);
        st[1] = dsv4_opt_hc_head(c, T, P(a, 0, in), P(a, 1, in), P(a, 2, in), P(a, 3, in), Q(a, 4, out1), NULL);
        st[2] = dsv4_opt_hc_post(c, T, P(a, 0, in), P(a, 1, in), P(a, 2, in), P(a, 3, in), Q(a, 4, out1));
        st[3] = dsv4_opt_hc_rms(c, T, P(a, 0, in), Q(a, 1, out1));
        st[4] = dsv4_opt_hc_mixes(c, T, a->rows, P(a, 0, in), P(a, 1, in), P(a, 2, in), Q(a, 3, out1));
        st[5] = dsv4_opt_hc_weighted_sum(c, T, P(a, 0, in), P(a, 1, in), Q(a, 2, out1));
        st[6] = dsv4_opt_sinkhorn(sk, T, P(a, 0, in), Q(a, 1, out1));
        st[7] = dsv4_opt_sinkhorn_init(sk, T, P(a, 0, in), Q(a, 1, out1));
        st[8] = dsv4_opt_sinkhorn_iterate(sk, T, P(a, 0, in), Q(a, 1, out1));
    } else {
        st[0] = dsv4_ref_hc_pre(c, T, P(a, 0, in), P(a, 1, in), P(a, 2, in), P(a, 3, in), Q(a, 4, out1), Q(a, 5, out2), Q(a, 6, out3), &ps);
        st[1] = dsv4_ref_hc_head(c, T, P(a, 0, in), P(a, 1, in), P(a, 2, in), P(a, 3, in), Q(a, 4, out1), NULL);
        st[2] = dsv4_ref_hc_post(c, T, P(a, 0, in), P(a, 1, in), P(a, 2, in), P(a, 3, in), Q(a, 4, out1));
        st[3] = dsv4_ref_hc_rms(c, T, P(a, 0, in), Q(a, 1, out1));
        st[4] = dsv4_ref_hc_mixes(c, T, a->rows, P(a, 0, in), P(a, 1, in), P(a, 2, in), Q(a, 3, out1));
        st[5] = dsv4_ref_hc_weighted_sum(c, T, P(a, 0, in), P(a, 1, in), Q(a, 2, out1));
        st[6] = dsv4_ref_sinkhorn(sk, T, P(a, 0, in), Q(a, 1, out1));
        st[7] = dsv4_ref_sinkhorn_init(sk, T, P(a, 0, in), Q(a, 1, out1));
        st[8] = dsv4_ref_sinkhorn_iterate(sk, T, P(a, 0, in), Q(a, 1, out1));
    }
}

Test(arguments, same_status_as_ref) {
    const dsv4_mhc_cfg good = {2, 3, 2, 1e-6f, 1e-6f};
    dsv4_mhc_cfg cfgs[] = {
        good,
        {0, 3, 2, 1e-6f, 1e-6f}, {2, 0, 2, 1e-6f, 1e-6f}, {2, 3, 0, 1e-6f, 1e-6f},
        {2, 3, -5, 1e-6f, 1e-6f}, {2, 3, 2, -1e-6f, 1e-6f}, {2, 3, 2, 1e-6f, NAN},
        {2, 3, 2, INFINITY, 1e-6f}, {2, 3, 2, 0.0f, 0.0f},
        {SIZE_MAX / 2, 3, 2, 1e-6f, 1e-6f}, {3, SIZE_MAX / 4, 2, 1e-6f, 1e-6f},
        {1u << 20, 1u << 20, 2, 1e-6f, 1e-6f},
    };
    const size_t Ts[] = {0, 1, 2, SIZE_MAX / 3};
    const size_t rows[] = {0, 1, 8, SIZE_MAX / 2};
    dsv4_isa isas[DSV4_ISA_COUNT];
    int ni = isa_list(isas);
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0] + 1; ci++)
        for (size_t ti = 0; ti < 4; ti++)
            for (size_t ri = 0; ri < 4; ri++)
                for (int nm = 0; nm < 128; nm += (nm < 8 ? 1 : 17)) {
                    argset a = {ci < sizeof cfgs / sizeof cfgs[0] ? cfgs[ci] : good, NULL, Ts[ti], rows[ri], nm};
                    a.cp = ci < sizeof cfgs / sizeof cfgs[0] ? &a.cfg : NULL;
                    /* keep every accepted call inside the static buffers */
                    if (Ts[ti] > 2 && ci == 0 && nm == 0) continue;
                    dsv4_status want[9], got[9];
                    statuses(&a, 0, want);
                    for (int k = 0; k < ni; k++) {
                        dsv4_isa_set(isas[k]);
                        statuses(&a, 1, got);
                        for (int e = 0; e < 9; e++)
                            cr_assert_eq(got[e], want[e], "entry %d cfg %zu T %zu rows %zu nulls 0x%x %s: opt %d ref %d",
                                         e, ci, Ts[ti], rows[ri], nm, dsv4_isa_name(isas[k]), got[e], want[e]);
                    }
                }
}
