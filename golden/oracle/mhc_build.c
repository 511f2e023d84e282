/* mhc_build.c - whole mHC cases: every stage computed exactly from the
 * ROUNDED golden outputs of the stage before it (the tensors a checker feeds
 * that stage), each output rounded once to its declared format, and the
 * tolerances of spec/mhc.md §7 derived from the case's own data.
 *
 * bf16 outputs (hc_pre / hc_head y, hc_post out) carry two extra tensors:
 * `<stage>.<name>_f32`, the exact value rounded to fp32, and
 * `<stage>.<name>_tol`, the per-element absolute tolerance, which the
 * "bf16_boundary" tolerance kind of spec/golden.md names. */
#include "mhc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL_TEXT 512

/* ---- small helpers ------------------------------------------------------------- */
static int oom(char *err, size_t errlen) {
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* malloc'ed uint32_t[n] (never NULL for n = 0 unless out of memory). */
static uint32_t *words(size_t n) { return malloc((n ? n : 1) * sizeof(uint32_t)); }

/* The fp32 value of a bit pattern, as an MPFR number. */
static void set_bits(mpfr_t v, uint32_t bits) { ox_set_f32_bits(v, bits); }

/* Round v to the nearest bf16 (ties to even, numfmt.c), as fp32 bits. */
static uint32_t round_bf16(const mpfr_t v) {
    const on_format *bf = on_get(ON_BF16);
    return on_decode_f32(bf, on_encode(bf, v));
}

/* tau_K = 8 sqrt(K) u with u = 2^-24 (spec/mhc.md §7). */
static void tau_k(mpfr_t t, size_t K) {
    mpfr_set_ui(t, (unsigned long)K, MPFR_RNDN);
    mpfr_sqrt(t, t, MPFR_RNDN);
    mpfr_mul_2si(t, t, 3 - 24, MPFR_RNDN);
}

/* {"kind":"abs_rel","abs":A,"rel":R}, both rounded up to 7 digits. */
static void tol_abs_rel(char *buf, size_t len, const mpfr_t abs, const mpfr_t rel) {
    mpfr_snprintf(buf, len, "{\"kind\":\"abs_rel\",\"abs\":%.6RUe,\"rel\":%.6RUe}", abs, rel);
}

static void tol_abs(char *buf, size_t len, const mpfr_t abs) {
    mpfr_t zero;
    mpfr_init_set_ui(zero, 0, MPFR_RNDN);
    tol_abs_rel(buf, len, abs, zero);
    mpfr_clear(zero);
}

/* out = a + b * c, with a given in decimal. */
static void dec_plus(mpfr_t out, const char *a, const mpfr_t b, const mpfr_t c) {
    mpfr_t t;
    mpfr_init(t);
    mpfr_mul(t, b, c, MPFR_RNDN);
    mpfr_set_str(out, a, 10, MPFR_RNDN);
    mpfr_add(out, out, t, MPFR_RNDN);
    mpfr_clear(t);
}

/* The stage output of a bf16 stage: y = bf16(v), y_f32 = fp32(v),
 * tol = 1e-5 * absum + rel * |v| (0 where that is not a number: NaN and Inf
 * outputs are compared by class, not by distance). */
static void bf16_outputs(const om_vec *v, const om_vec *absum, const mpfr_t rel, uint32_t *y,
                         uint32_t *y_f32, uint32_t *tol) {
    mpfr_t t, u;
    mpfr_inits(t, u, (mpfr_ptr)0);
    for (size_t i = 0; i < v->n; i++) {
        y[i] = round_bf16(v->v[i]);
        y_f32[i] = ox_round_f32(v->v[i]);
        mpfr_set_str(t, "1e-5", 10, MPFR_RNDN);
        mpfr_mul(t, t, absum->v[i], MPFR_RNDN);
        mpfr_abs(u, v->v[i], MPFR_RNDN);
        mpfr_mul(u, u, rel, MPFR_RNDN);
        mpfr_add(t, t, u, MPFR_RNDN);
        tol[i] = mpfr_number_p(t) ? ox_round_f32(t) : 0u;
    }
    mpfr_clears(t, u, (mpfr_ptr)0);
}

static void bf16_tol_text(char *buf, size_t len, const char *stage, const char *name) {
    snprintf(buf, len, "{\"kind\":\"bf16_boundary\",\"tol\":\"%s.%s_tol\",\"ref\":\"%s.%s_f32\"}",
             stage, name, stage, name);
}

/* Keep the largest magnitude seen: max = max(max, |v|) when v is a number. */
static void track_max(mpfr_t max, const mpfr_t v) {
    if (mpfr_number_p(v) && mpfr_cmpabs(v, max) > 0) mpfr_abs(max, v, MPFR_RNDN);
}

void om_config_text(const om_cfg *c, char *buf, size_t len) {
    char he[40], ne[40];
    ox_f32_decimal(c->hc_eps, he, sizeof he);
    ox_f32_decimal(c->norm_eps, ne, sizeof ne);
    snprintf(buf, len,
             "{\"hc\":%zu,\"d\":%zu,\"sinkhorn_iters\":%d,\"hc_eps\":%s,\"norm_eps\":%s}", c->hc,
             c->d, c->iters, he, ne);
}

/* ---- the gate family: H1, H2 shared by hc_pre and hc_head ----------------------- */
/* Scratch and tolerance state while the tokens of a gate case are computed. */
typedef struct gate_run {
    mpfr_t hc_eps, norm_eps, r, amag;
    mpfr_t A;     /* max over finite tokens of max_m r ||x . fn[m]||_2 */
    mpfr_t mmax;  /* max |mixes| over the stored finite mixes */
    om_vec mixes, scale, base, sum;
} gate_run;

static int gate_run_init(gate_run *g, const om_gate_in *in, size_t rows, size_t n_scale) {
    mpfr_inits(g->hc_eps, g->norm_eps, g->r, g->amag, g->A, g->mmax, (mpfr_ptr)0);
    set_bits(g->hc_eps, in->c.hc_eps);
    set_bits(g->norm_eps, in->c.norm_eps);
    mpfr_set_ui(g->A, 0, MPFR_RNDN);
    mpfr_set_ui(g->mmax, 0, MPFR_RNDN);
    g->mixes.n = g->scale.n = g->base.n = g->sum.n = 0;
    g->mixes.v = g->scale.v = g->base.v = g->sum.v = NULL;
    if (om_vec_init(&g->mixes, rows) || om_vec_init(&g->scale, n_scale) ||
        om_vec_init(&g->base, rows) || om_vec_init(&g->sum, in->c.hc))
        return -1;
    om_vec_set_bits(&g->scale, in->scale);
    om_vec_set_bits(&g->base, in->base);
    return 0;
}

static void gate_run_clear(gate_run *g) {
    mpfr_clears(g->hc_eps, g->norm_eps, g->r, g->amag, g->A, g->mmax, (mpfr_ptr)0);
    om_vec_clear(&g->mixes);
    om_vec_clear(&g->scale);
    om_vec_clear(&g->base);
    om_vec_clear(&g->sum);
}

/* Stages rms and mixes of token t: r_out[t], mixes_out[t*rows..]; g->mixes
 * then holds the STORED (rounded) mixes, the input of the next stage. */
static void gate_token_rms_mixes(gate_run *g, const om_gate_in *in, size_t rows, size_t t,
                                 uint32_t *r_out, uint32_t *mixes_out) {
    size_t K = in->c.hc * in->c.d;
    const uint32_t *x = &in->x[t * K];
    om_rms(x, K, g->norm_eps, g->r);
    r_out[t] = ox_round_f32(g->r);
    set_bits(g->r, r_out[t]);
    om_mixes(x, in->fn, rows, K, g->r, g->mixes.v, g->amag);
    om_vec_round(&g->mixes, &mixes_out[t * rows]);
    om_vec_set_bits(&g->mixes, &mixes_out[t * rows]);
    if (mpfr_number_p(g->amag)) {
        if (mpfr_cmp(g->amag, g->A) > 0) mpfr_set(g->A, g->amag, MPFR_RNDN);
        for (size_t m = 0; m < rows; m++) track_max(g->mmax, g->mixes.v[m]);
    }
}

/* The tolerances of rms and mixes, and delta_m (the mixes tolerance at the
 * largest |mixes| of the case) for the stages downstream. */
typedef struct gate_tols {
    char rms[TOL_TEXT], mixes[TOL_TEXT];
    mpfr_t delta_m;
} gate_tols;

static void gate_tols_make(gate_tols *gt, const gate_run *g, size_t K) {
    mpfr_t tau, abs, rel, zero;
    mpfr_inits(tau, abs, rel, zero, gt->delta_m, (mpfr_ptr)0);
    mpfr_set_ui(zero, 0, MPFR_RNDN);
    tau_k(tau, K);
    tol_abs_rel(gt->rms, sizeof gt->rms, zero, tau); /* relative tau_K */
    mpfr_mul(abs, tau, g->A, MPFR_RNDN);             /* tau_K A2 */
    mpfr_set_ui_2exp(rel, 4, -24, MPFR_RNDN);
    mpfr_add(rel, rel, tau, MPFR_RNDN);              /* tau_K + 4u */
    tol_abs_rel(gt->mixes, sizeof gt->mixes, abs, rel);
    mpfr_mul(gt->delta_m, rel, g->mmax, MPFR_RNDN);
    mpfr_add(gt->delta_m, gt->delta_m, abs, MPFR_RNDN);
    mpfr_clears(tau, abs, rel, zero, (mpfr_ptr)0);
}

/* Weighted-sum stage of one token from the stored weights w_bits [hc]:
 * y, y_f32, y_tol [d] at offset t*d. */
static int weighted_sum_token(const om_gate_in *in, size_t t, const uint32_t *w_bits,
                              uint32_t *y, uint32_t *y_f32, uint32_t *y_tol) {
    size_t hc = in->c.hc, d = in->c.d;
    om_vec w, v, absum;
    mpfr_t rel;
    w.v = v.v = absum.v = NULL;
    w.n = v.n = absum.n = 0;
    if (om_vec_init(&w, hc) || om_vec_init(&v, d) || om_vec_init(&absum, d)) {
        om_vec_clear(&w);
        om_vec_clear(&v);
        om_vec_clear(&absum);
        return -1;
    }
    om_vec_set_bits(&w, w_bits);
    om_weighted_sum(&in->x[t * hc * d], w.v, hc, d, v.v, absum.v);
    mpfr_init_set_ui(rel, 4, MPFR_RNDN);
    mpfr_mul_2si(rel, rel, -24, MPFR_RNDN); /* 4u |y_i| */
    bf16_outputs(&v, &absum, rel, &y[t * d], &y_f32[t * d], &y_tol[t * d]);
    mpfr_clear(rel);
    om_vec_clear(&w);
    om_vec_clear(&v);
    om_vec_clear(&absum);
    return 0;
}

/* ---- hc_pre ------------------------------------------------------------------- */
typedef struct pre_out {
    uint32_t *r, *mixes, *pre, *post, *logits, *comb, *y, *y_f32, *y_tol;
    char tol_rms[TOL_TEXT], tol_mixes[TOL_TEXT], tol_split[4 * TOL_TEXT], tol_comb[TOL_TEXT];
} pre_out;

static void pre_out_free(pre_out *o) {
    free(o->r);
    free(o->mixes);
    free(o->pre);
    free(o->post);
    free(o->logits);
    free(o->comb);
    free(o->y);
    free(o->y_f32);
    free(o->y_tol);
}

/* Stages split and sinkhorn of token t, from the stored mixes in g->mixes. */
static void pre_token_split_sinkhorn(gate_run *g, const om_gate_in *in, size_t t, pre_out *o,
                                     om_vec *pre, om_vec *post, om_vec *L) {
    size_t hc = in->c.hc;
    om_split(g->mixes.v, g->scale.v, g->base.v, hc, g->hc_eps, pre->v, post->v, L->v);
    om_vec_round(pre, &o->pre[t * hc]);
    om_vec_round(post, &o->post[t * hc]);
    om_vec_round(L, &o->logits[t * hc * hc]);
    om_vec_set_bits(L, &o->logits[t * hc * hc]); /* Sinkhorn reads the stored logits */
    om_sinkhorn_init(L->v, hc, g->hc_eps, g->sum.v);
    om_sinkhorn_rounds(L->v, hc, in->c.iters - 1, g->hc_eps, g->sum.v);
    om_vec_round(L, &o->comb[t * hc * hc]);
}

/* Tolerances of split and sinkhorn (spec/mhc.md §7). */
static void pre_tols(pre_out *o, const gate_run *g, const gate_tols *gt) {
    mpfr_t s, gate, logit, comb, four;
    mpfr_inits(s, gate, logit, comb, four, (mpfr_ptr)0);
    /* pre, post: 1e-5 + 1/2 max(|scale0|, |scale1|) delta_m */
    mpfr_abs(s, g->scale.v[0], MPFR_RNDN);
    if (mpfr_cmpabs(g->scale.v[1], s) > 0) mpfr_abs(s, g->scale.v[1], MPFR_RNDN);
    mpfr_div_2ui(s, s, 1, MPFR_RNDN);
    dec_plus(gate, "1e-5", s, gt->delta_m);
    /* logits: 1e-6 + |scale2| delta_m */
    mpfr_abs(s, g->scale.v[2], MPFR_RNDN);
    dec_plus(logit, "1e-6", s, gt->delta_m);
    /* comb: 2e-5 + 4 delta_L */
    mpfr_set_ui(four, 4, MPFR_RNDN);
    dec_plus(comb, "2e-5", four, logit);
    char tg[TOL_TEXT], tl[TOL_TEXT];
    tol_abs(tg, sizeof tg, gate);
    /* logits also carry fp32's own two roundings (multiply, add): relative 4u,
     * which matters for logits of magnitude 200 */
    mpfr_set_ui_2exp(four, 4, -24, MPFR_RNDN);
    tol_abs_rel(tl, sizeof tl, logit, four);
    snprintf(o->tol_split, sizeof o->tol_split,
             "{\"split.pre\":%s,\"split.post\":%s,\"split.logits\":%s}",
             tg, tg, tl);
    tol_abs(o->tol_comb, sizeof o->tol_comb, comb);
    mpfr_clears(s, gate, logit, comb, four, (mpfr_ptr)0);
}

static int hc_pre_compute(const om_gate_in *in, pre_out *o) {
    size_t hc = in->c.hc, d = in->c.d, T = in->T, M = (2 + hc) * hc;
    memset(o, 0, sizeof *o);
    o->r = words(T);
    o->mixes = words(T * M);
    o->pre = words(T * hc);
    o->post = words(T * hc);
    o->logits = words(T * hc * hc);
    o->comb = words(T * hc * hc);
    o->y = words(T * d);
    o->y_f32 = words(T * d);
    o->y_tol = words(T * d);
    gate_run g;
    om_vec pre, post, L;
    pre.v = post.v = L.v = NULL;
    pre.n = post.n = L.n = 0;
    int rc = -1;
    if (gate_run_init(&g, in, M, 3) || om_vec_init(&pre, hc) || om_vec_init(&post, hc) ||
        om_vec_init(&L, hc * hc))
        goto done;
    if (!o->r || !o->mixes || !o->pre || !o->post || !o->logits || !o->comb || !o->y ||
        !o->y_f32 || !o->y_tol)
        goto done;
    for (size_t t = 0; t < T; t++) {
        gate_token_rms_mixes(&g, in, M, t, o->r, o->mixes);
        pre_token_split_sinkhorn(&g, in, t, o, &pre, &post, &L);
        if (weighted_sum_token(in, t, &o->pre[t * hc], o->y, o->y_f32, o->y_tol) != 0) goto done;
    }
    gate_tols gt;
    gate_tols_make(&gt, &g, hc * d);
    memcpy(o->tol_rms, gt.rms, sizeof gt.rms);
    memcpy(o->tol_mixes, gt.mixes, sizeof gt.mixes);
    pre_tols(o, &g, &gt);
    mpfr_clear(gt.delta_m);
    rc = 0;
done:
    gate_run_clear(&g);
    om_vec_clear(&pre);
    om_vec_clear(&post);
    om_vec_clear(&L);
    if (rc != 0) pre_out_free(o);
    return rc;
}

int om_hc_pre_post_comb(const om_gate_in *in, uint32_t **post, uint32_t **comb) {
    pre_out o;
    if (hc_pre_compute(in, &o) != 0) return -1;
    *post = o.post;
    *comb = o.comb;
    o.post = o.comb = NULL;
    pre_out_free(&o);
    return 0;
}

int om_build_hc_pre(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                    const om_gate_in *in, char *err, size_t errlen) {
    size_t hc = in->c.hc, d = in->c.d, T = in->T, M = (2 + hc) * hc;
    pre_out o;
    if (hc_pre_compute(in, &o) != 0) return oom(err, errlen);
    char config[256], ty[TOL_TEXT];
    om_config_text(&in->c, config, sizeof config);
    og_begin(f, "hc_pre", case_name, config, seed, desc);
    const size_t sx[3] = {T, hc, d}, sfn[2] = {M, hc * d}, s3[1] = {3}, sm[1] = {M};
    const size_t sT[1] = {T}, sTM[2] = {T, M}, sTh[2] = {T, hc}, sThh[3] = {T, hc, hc};
    const size_t sTd[2] = {T, d};
    og_add(f, "in.x", DSV4_DT_F32, 3, sx, in->x);
    og_add(f, "in.fn", DSV4_DT_F32, 2, sfn, in->fn);
    og_add(f, "in.scale", DSV4_DT_F32, 1, s3, in->scale);
    og_add(f, "in.base", DSV4_DT_F32, 1, sm, in->base);
    og_add(f, "rms.r", DSV4_DT_F32, 1, sT, o.r);
    og_add(f, "mixes.m", DSV4_DT_F32, 2, sTM, o.mixes);
    og_add(f, "split.pre", DSV4_DT_F32, 2, sTh, o.pre);
    og_add(f, "split.post", DSV4_DT_F32, 2, sTh, o.post);
    og_add(f, "split.logits", DSV4_DT_F32, 3, sThh, o.logits);
    og_add(f, "sinkhorn.comb", DSV4_DT_F32, 3, sThh, o.comb);
    og_add(f, "weighted_sum.y", DSV4_DT_F32, 2, sTd, o.y);
    og_add(f, "weighted_sum.y_f32", DSV4_DT_F32, 2, sTd, o.y_f32);
    og_add(f, "weighted_sum.y_tol", DSV4_DT_F32, 2, sTd, o.y_tol);
    static const char *const rms_in[] = {"in.x", NULL}, *const rms_out[] = {"rms.r", NULL};
    static const char *const mix_in[] = {"in.x", "in.fn", "rms.r", NULL};
    static const char *const mix_out[] = {"mixes.m", NULL};
    static const char *const split_in[] = {"mixes.m", "in.scale", "in.base", NULL};
    static const char *const split_out[] = {"split.pre", "split.post", "split.logits", NULL};
    static const char *const sk_in[] = {"split.logits", NULL};
    static const char *const sk_out[] = {"sinkhorn.comb", NULL};
    static const char *const ws_in[] = {"in.x", "split.pre", NULL};
    static const char *const ws_out[] = {"weighted_sum.y", NULL};
    og_stage(f, "rms", rms_in, rms_out, o.tol_rms);
    og_stage(f, "mixes", mix_in, mix_out, o.tol_mixes);
    og_stage(f, "split", split_in, split_out, o.tol_split);
    og_stage(f, "sinkhorn", sk_in, sk_out, o.tol_comb);
    bf16_tol_text(ty, sizeof ty, "weighted_sum", "y");
    og_stage(f, "weighted_sum", ws_in, ws_out, ty);
    pre_out_free(&o);
    return 0;
}

/* ---- hc_head ------------------------------------------------------------------- */
int om_build_hc_head(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                     const om_gate_in *in, char *err, size_t errlen) {
    size_t hc = in->c.hc, d = in->c.d, T = in->T;
    uint32_t *r = words(T), *mixes = words(T * hc), *w = words(T * hc);
    uint32_t *y = words(T * d), *y_f32 = words(T * d), *y_tol = words(T * d);
    gate_run g;
    om_vec wv;
    wv.v = NULL;
    wv.n = 0;
    int rc = -1;
    if (gate_run_init(&g, in, hc, 1) || om_vec_init(&wv, hc) || !r || !mixes || !w || !y ||
        !y_f32 || !y_tol) {
        oom(err, errlen);
        goto done;
    }
    for (size_t t = 0; t < T; t++) {
        gate_token_rms_mixes(&g, in, hc, t, r, mixes);
        om_head_weights(g.mixes.v, g.scale.v[0], g.base.v, hc, g.hc_eps, wv.v);
        om_vec_round(&wv, &w[t * hc]);
        if (weighted_sum_token(in, t, &w[t * hc], y, y_f32, y_tol) != 0) {
            oom(err, errlen);
            goto done;
        }
    }
    gate_tols gt;
    gate_tols_make(&gt, &g, hc * d);
    /* weights: as pre, 1e-5 + 1/2 |scale0| delta_m */
    char tw[TOL_TEXT], ty[TOL_TEXT], config[256];
    mpfr_t s, tol;
    mpfr_inits(s, tol, (mpfr_ptr)0);
    mpfr_abs(s, g.scale.v[0], MPFR_RNDN);
    mpfr_div_2ui(s, s, 1, MPFR_RNDN);
    dec_plus(tol, "1e-5", s, gt.delta_m);
    tol_abs(tw, sizeof tw, tol);
    mpfr_clears(s, tol, gt.delta_m, (mpfr_ptr)0);
    om_config_text(&in->c, config, sizeof config);
    og_begin(f, "hc_head", case_name, config, seed, desc);
    const size_t sx[3] = {T, hc, d}, sfn[2] = {hc, hc * d}, s1[1] = {1}, sh[1] = {hc};
    const size_t sT[1] = {T}, sTh[2] = {T, hc}, sTd[2] = {T, d};
    og_add(f, "in.x", DSV4_DT_F32, 3, sx, in->x);
    og_add(f, "in.fn", DSV4_DT_F32, 2, sfn, in->fn);
    og_add(f, "in.scale", DSV4_DT_F32, 1, s1, in->scale);
    og_add(f, "in.base", DSV4_DT_F32, 1, sh, in->base);
    og_add(f, "rms.r", DSV4_DT_F32, 1, sT, r);
    og_add(f, "mixes.m", DSV4_DT_F32, 2, sTh, mixes);
    og_add(f, "weights.w", DSV4_DT_F32, 2, sTh, w);
    og_add(f, "weighted_sum.y", DSV4_DT_F32, 2, sTd, y);
    og_add(f, "weighted_sum.y_f32", DSV4_DT_F32, 2, sTd, y_f32);
    og_add(f, "weighted_sum.y_tol", DSV4_DT_F32, 2, sTd, y_tol);
    static const char *const rms_in[] = {"in.x", NULL}, *const rms_out[] = {"rms.r", NULL};
    static const char *const mix_in[] = {"in.x", "in.fn", "rms.r", NULL};
    static const char *const mix_out[] = {"mixes.m", NULL};
    static const char *const w_in[] = {"mixes.m", "in.scale", "in.base", NULL};
    static const char *const w_out[] = {"weights.w", NULL};
    static const char *const ws_in[] = {"in.x", "weights.w", NULL};
    static const char *const ws_out[] = {"weighted_sum.y", NULL};
    og_stage(f, "rms", rms_in, rms_out, gt.rms);
    og_stage(f, "mixes", mix_in, mix_out, gt.mixes);
    og_stage(f, "weights", w_in, w_out, tw);
    bf16_tol_text(ty, sizeof ty, "weighted_sum", "y");
    og_stage(f, "weighted_sum", ws_in, ws_out, ty);
    rc = 0;
done:
    gate_run_clear(&g);
    om_vec_clear(&wv);
    free(r);
    free(mixes);
    free(w);
    free(y);
    free(y_f32);
    free(y_tol);
    return rc;
}

/* ---- hc_post ------------------------------------------------------------------- */
int om_build_hc_post(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                     const om_post_in *in, char *err, size_t errlen) {
    size_t hc = in->c.hc, d = in->c.d, T = in->T;
    uint32_t *out = words(T * hc * d), *out_f32 = words(T * hc * d), *tol = words(T * hc * d);
    om_vec post, comb, v, absum;
    post.v = comb.v = v.v = absum.v = NULL;
    post.n = comb.n = v.n = absum.n = 0;
    mpfr_t zero;
    mpfr_init_set_ui(zero, 0, MPFR_RNDN); /* no relative term for hc_post (§7) */
    int rc = -1;
    if (!out || !out_f32 || !tol || om_vec_init(&post, hc) || om_vec_init(&comb, hc * hc) ||
        om_vec_init(&v, hc * d) || om_vec_init(&absum, hc * d)) {
        oom(err, errlen);
        goto done;
    }
    for (size_t t = 0; t < T; t++) {
        om_vec_set_bits(&post, &in->post[t * hc]);
        om_vec_set_bits(&comb, &in->comb[t * hc * hc]);
        om_post(&in->f[t * d], &in->x[t * hc * d], post.v, comb.v, hc, d, v.v, absum.v);
        size_t o = t * hc * d;
        bf16_outputs(&v, &absum, zero, &out[o], &out_f32[o], &tol[o]);
    }
    char config[256], tt[TOL_TEXT];
    om_config_text(&in->c, config, sizeof config);
    og_begin(f, "hc_post", case_name, config, seed, desc);
    const size_t sTd[2] = {T, d}, sx[3] = {T, hc, d}, sTh[2] = {T, hc}, sThh[3] = {T, hc, hc};
    og_add(f, "in.f", DSV4_DT_F32, 2, sTd, in->f);
    og_add(f, "in.x", DSV4_DT_F32, 3, sx, in->x);
    og_add(f, "in.post", DSV4_DT_F32, 2, sTh, in->post);
    og_add(f, "in.comb", DSV4_DT_F32, 3, sThh, in->comb);
    og_add(f, "post.out", DSV4_DT_F32, 3, sx, out);
    og_add(f, "post.out_f32", DSV4_DT_F32, 3, sx, out_f32);
    og_add(f, "post.out_tol", DSV4_DT_F32, 3, sx, tol);
    static const char *const p_in[] = {"in.f", "in.x", "in.post", "in.comb", NULL};
    static const char *const p_out[] = {"post.out", NULL};
    bf16_tol_text(tt, sizeof tt, "post", "out");
    og_stage(f, "post", p_in, p_out, tt);
    rc = 0;
done:
    mpfr_clear(zero);
    om_vec_clear(&post);
    om_vec_clear(&comb);
    om_vec_clear(&v);
    om_vec_clear(&absum);
    free(out);
    free(out_f32);
    free(tol);
    return rc;
}

/* ---- sinkhorn ------------------------------------------------------------------- */
int om_build_sinkhorn(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                      const om_sk_in *in, char *err, size_t errlen) {
    size_t n = in->n, T = in->T, nn = n * n;
    uint32_t *init = words(T * nn), *comb = words(T * nn);
    om_vec c, sum;
    c.v = sum.v = NULL;
    c.n = sum.n = 0;
    mpfr_t eps;
    mpfr_init(eps);
    set_bits(eps, in->eps);
    int rc = -1;
    if (!init || !comb || om_vec_init(&c, nn) || om_vec_init(&sum, n)) {
        oom(err, errlen);
        goto done;
    }
    for (size_t t = 0; t < T; t++) {
        om_vec_set_bits(&c, &in->logits[t * nn]);
        om_sinkhorn_init(c.v, n, eps, sum.v);
        om_vec_round(&c, &init[t * nn]);
        om_vec_set_bits(&c, &init[t * nn]); /* iterate continues from the stored init.c */
        om_sinkhorn_rounds(c.v, n, in->iters - 1, eps, sum.v);
        om_vec_round(&c, &comb[t * nn]);
    }
    char sk_config[160], et[40], tol[TOL_TEXT];
    ox_f32_decimal(in->eps, et, sizeof et);
    snprintf(sk_config, sizeof sk_config, "{\"n\":%zu,\"iters\":%d,\"eps\":%s}", n, in->iters,
             et);
    og_begin(f, "sinkhorn", case_name, sk_config, seed, desc);
    const size_t s[3] = {T, n, n};
    og_add(f, "in.logits", DSV4_DT_F32, 3, s, in->logits);
    og_add(f, "init.c", DSV4_DT_F32, 3, s, init);
    og_add(f, "iterate.comb", DSV4_DT_F32, 3, s, comb);
    mpfr_set_str(eps, "5e-6", 10, MPFR_RNDN); /* Sinkhorn alone, golden logits in */
    tol_abs(tol, sizeof tol, eps);
    static const char *const i_in[] = {"in.logits", NULL}, *const i_out[] = {"init.c", NULL};
    static const char *const t_in[] = {"init.c", NULL}, *const t_out[] = {"iterate.comb", NULL};
    og_stage(f, "init", i_in, i_out, tol);
    og_stage(f, "iterate", t_in, t_out, tol);
    rc = 0;
done:
    mpfr_clear(eps);
    om_vec_clear(&c);
    om_vec_clear(&sum);
    free(init);
    free(comb);
    return rc;
}
